#include "server/config/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "server/common/ascii.h"
#include "server/common/cpu_affinity.h"
#include "server/common/json_fields.h"
#include "server/config/cluster_section.h"
#include "server/config/registry_sections.h"
#include "server/net/worker_pool.h"
#include "zones/zone.h"

namespace rotor::config {

namespace {

using json = nlohmann::json;
using namespace json_fields;

constexpr unsigned kMaxThreads = 256;
constexpr size_t kMaxNsidBytes = 128;  // NSID payloads beyond this bloat every reply
constexpr const char* kLogLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};

void check_threads(int64_t threads, const std::string& path) {
  if (threads < 1 || threads > static_cast<int64_t>(kMaxThreads)) {
    throw ConfigError(path, "expected 1 to " + std::to_string(kMaxThreads) + ", got " +
                                std::to_string(threads));
  }
}

void check_log_level(const std::string& level, const std::string& path) {
  for (const char* known : kLogLevels) {
    if (level == known) return;
  }
  throw ConfigError(path, "expected one of trace, debug, info, warn, error, critical, off; got \"" +
                              level + "\"");
}

void check_nsid(const std::string& nsid, const std::string& path) {
  if (nsid.size() > kMaxNsidBytes) {
    throw ConfigError(path, "at most " + std::to_string(kMaxNsidBytes) + " bytes, got " +
                                std::to_string(nsid.size()));
  }
}

void check_endpoint(const std::string& text, const std::string& path) {
  net::ListenEndpoint endpoint;
  std::string error;
  if (!net::parse_endpoint(text, endpoint, error)) {
    throw ConfigError(path, error);  // the reason already quotes the text
  }
}

void check_origin(const std::string& origin, const std::string& path) {
  if (origin.empty()) throw ConfigError(path, "empty zone name");
  if (!zones::name_from_text(origin)) {
    throw ConfigError(path, "\"" + origin + "\" is not a valid domain name");
  }
}

// "FILE" or "NAME=FILE". A path with '=' in it needs the object form.
ZoneSource parse_zone_spec(const std::string& spec, const std::string& path) {
  if (spec.empty()) throw ConfigError(path, "expected \"FILE\" or \"NAME=FILE\", got \"\"");
  auto equals = spec.find('=');
  if (equals == std::string::npos) return ZoneSource{"", spec, "", path};
  ZoneSource source{spec.substr(0, equals), spec.substr(equals + 1), "", path};
  if (source.origin.empty()) throw ConfigError(path, "empty zone name before '=' in \"" + spec + "\"");
  if (source.file.empty()) throw ConfigError(path, "empty file name after '=' in \"" + spec + "\"");
  check_origin(source.origin, path);
  return source;
}

// "dnssec": {"keys": DIR}, the key directory of a zone rotor signs.
std::string parse_zone_dnssec(const json& value, const std::string& path) {
  std::string keys;
  for (const auto& [key, item] : expect_object(value, path).items()) {
    const std::string key_path = join_path(path, key);
    if (key != "keys") throw ConfigError(key_path, "unknown key");
    keys = expect_string(item, key_path);
    if (keys.empty()) throw ConfigError(key_path, "empty directory name");
  }
  if (keys.empty()) {
    throw ConfigError(join_path(path, "keys"), "missing; the directory of the zone's key files");
  }
  return keys;
}

ZoneSource parse_zone_object(const json& object, const std::string& path) {
  ZoneSource source;
  source.key_path = path;
  bool has_file = false;
  for (const auto& [key, value] : object.items()) {
    const std::string key_path = join_path(path, key);
    if (key == "origin") {
      source.origin = expect_string(value, key_path);
      check_origin(source.origin, key_path);
    } else if (key == "file") {
      source.file = expect_string(value, key_path);
      if (source.file.empty()) throw ConfigError(key_path, "empty file name");
      has_file = true;
    } else if (key == "dnssec") {
      source.dnssec_keys = parse_zone_dnssec(value, key_path);
    } else {
      throw ConfigError(key_path, "unknown key");
    }
  }
  if (!has_file) throw ConfigError(join_path(path, "file"), "missing; every zone needs a file");
  return source;
}

void parse_tcp(const json& object, Config& config) {
  for (const auto& [key, value] : object.items()) {
    const std::string path = join_path("tcp", key);
    if (key == "idle_timeout") {
      if (!value.is_string()) {
        if (value.is_number()) throw ConfigError(path, "expected a duration with a unit, like \"10s\"");
        wrong_type(path, "a duration string like \"10s\"", value);
      }
      config.tcp_idle_timeout = parse_duration(value.get<std::string>(), path);
      if (config.tcp_idle_timeout.count() == 0) throw ConfigError(path, "must be greater than zero");
    } else if (key == "max_connections") {
      int64_t connections = expect_integer(value, path);
      if (connections < 1) {
        throw ConfigError(path, "expected at least 1, got " + std::to_string(connections));
      }
      config.tcp_max_connections = static_cast<size_t>(connections);
    } else {
      throw ConfigError(path, "unknown key");
    }
  }
}

// One list of cpu_affinity: distinct CPUs this process may run on (the set
// it started with: a CPU outside it would make sched_setaffinity fail at
// startup, or worse, pin to nothing after a later cpuset change).
std::vector<int> parse_cpu_list(const json& value, const std::string& key) {
  const std::string path = join_path("cpu_affinity", key);
  expect_array(value, path);
  if (value.empty()) {
    throw ConfigError(path, "at least one CPU is needed; leave the key out to not pin these threads");
  }
  const std::vector<int>& allowed = allowed_cpus_at_startup();
  std::vector<int> cpus;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string item_path = index_path(path, i);
    const int64_t cpu = expect_integer(value[i], item_path);
    if (cpu < 0 || cpu > kMaxCpuNumber) {
      throw ConfigError(item_path, "expected a CPU number from 0 to " + std::to_string(kMaxCpuNumber) +
                                       ", got " + std::to_string(cpu));
    }
    const auto earlier = std::find(cpus.begin(), cpus.end(), static_cast<int>(cpu));
    if (earlier != cpus.end()) {
      throw ConfigError(item_path, "duplicate of " + index_path(key, static_cast<size_t>(earlier - cpus.begin())));
    }
    if (std::find(allowed.begin(), allowed.end(), static_cast<int>(cpu)) == allowed.end()) {
      throw ConfigError(item_path, "CPU " + std::to_string(cpu) + " is not one rotor may run on (allowed: " +
                                       format_cpu_list(allowed) + ")");
    }
    cpus.push_back(static_cast<int>(cpu));
  }
  return cpus;
}

void parse_cpu_affinity(const json& object, Config& config) {
  CpuAffinity affinity;
  for (const auto& [key, value] : object.items()) {
    if (key == "workers") {
      affinity.workers = parse_cpu_list(value, key);
    } else if (key == "control") {
      affinity.control = parse_cpu_list(value, key);
    } else {
      throw ConfigError(join_path("cpu_affinity", key), "unknown key");
    }
  }
  config.cpu_affinity = std::move(affinity);
}

void parse_events(const json& object, Config& config) {
  for (const auto& [key, value] : object.items()) {
    const std::string path = join_path("events", key);
    if (key == "max_count") {
      const int64_t count = expect_integer(value, path);
      if (count < 1000 || count > 100000000) {
        throw ConfigError(path, "expected 1000 to 100000000, got " + std::to_string(count));
      }
      config.events.max_count = static_cast<size_t>(count);
    } else if (key == "max_age") {
      if (!value.is_string()) wrong_type(path, "a duration string like \"720h\"", value);
      config.events.max_age = parse_duration(value.get<std::string>(), path);
      if (config.events.max_age.count() != 0 && config.events.max_age < std::chrono::hours(1)) {
        throw ConfigError(path, "at least 1h, or 0s for no age bound");
      }
    } else {
      throw ConfigError(path, "unknown key");
    }
  }
}

void parse_probes(const json& object, Config& config) {
  for (const auto& [key, value] : object.items()) {
    const std::string path = join_path("probes", key);
    if (key == "threads") {
      const int64_t threads = expect_integer(value, path);
      if (threads < 1 || threads > 64) {
        throw ConfigError(path, "expected 1 to 64, got " + std::to_string(threads));
      }
      config.probe_threads = static_cast<unsigned>(threads);
    } else if (key == "max_in_flight") {
      const int64_t limit = expect_integer(value, path);
      if (limit < 1 || limit > 100000) {
        throw ConfigError(path, "expected 1 to 100000, got " + std::to_string(limit));
      }
      config.probe_max_in_flight = static_cast<size_t>(limit);
    } else if (key == "source_address") {
      const std::string& text = expect_string(value, path);
      const auto address = arrays::IpAddress::parse(text);
      if (!address) throw ConfigError(path, "expected an IPv4 or IPv6 address, got \"" + text + "\"");
      config.probe_source_address = *address;
    } else {
      throw ConfigError(path, "unknown key");
    }
  }
}

int64_t expect_between(const json& value, const std::string& path, int64_t low, int64_t high) {
  const int64_t number = expect_integer(value, path);
  if (number < low || number > high) {
    throw ConfigError(path, "must be between " + std::to_string(low) + " and " +
                                std::to_string(high) + ", got " + std::to_string(number));
  }
  return number;
}

// "192.0.2.0/24", "2001:db8::/32": the address must have no bits set past the
// length, so that what is written is what is matched.
RateLimitExempt parse_exempt_network(const std::string& cidr, const std::string& path) {
  const auto slash = cidr.find('/');
  const auto address =
      slash == std::string::npos ? std::nullopt : arrays::IpAddress::parse(cidr.substr(0, slash));
  const std::string digits = slash == std::string::npos ? "" : cidr.substr(slash + 1);
  const unsigned width = address && address->family == 4 ? 32 : 128;
  if (!address || digits.empty() || digits.size() > 3 ||
      digits.find_first_not_of("0123456789") != std::string::npos ||
      static_cast<unsigned>(std::stoi(digits)) > width) {
    throw ConfigError(path, "\"" + cidr + "\" is not a network like \"192.0.2.0/24\"");
  }
  RateLimitExempt network{*address, static_cast<uint8_t>(std::stoi(digits))};
  for (unsigned bit = network.length; bit < width; ++bit) {
    if ((network.address.bytes[bit / 8] >> (7 - bit % 8)) & 1) {
      throw ConfigError(path, "\"" + cidr + "\" has bits set past the /" + digits + " prefix");
    }
  }
  return network;
}

void parse_rrl(const json& object, Config& config) {
  RateLimiterOptions& rrl = config.rrl;
  for (const auto& [key, value] : object.items()) {
    const std::string path = join_path("rrl", key);
    if (key == "responses_per_second") {
      rrl.responses_per_second = static_cast<uint32_t>(
          expect_between(value, path, 0, RateLimiter::kMaxResponsesPerSecond));
    } else if (key == "slip") {
      rrl.slip = static_cast<uint32_t>(expect_between(value, path, 0, 10));
    } else if (key == "ipv4_prefix") {
      rrl.ipv4_prefix = static_cast<uint8_t>(expect_between(value, path, 8, 32));
    } else if (key == "ipv6_prefix") {
      rrl.ipv6_prefix = static_cast<uint8_t>(expect_between(value, path, 16, 128));
    } else if (key == "table_size") {
      constexpr int64_t kLow = 1024, kHigh = 16777216;
      const int64_t size = expect_integer(value, path);
      if (size < kLow || size > kHigh || (size & (size - 1)) != 0) {
        throw ConfigError(path, "must be a power of two between " + std::to_string(kLow) + " and " +
                                    std::to_string(kHigh) + ", got " + std::to_string(size));
      }
      rrl.table_size = static_cast<size_t>(size);
    } else if (key == "exempt") {
      expect_array(value, path);
      rrl.exempt.clear();
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string item = index_path(path, i);
        rrl.exempt.push_back(parse_exempt_network(expect_string(value[i], item), item));
      }
    } else {
      throw ConfigError(path, "unknown key");
    }
  }
}

// `dnssec.*_mib`: whole MiB, up to 1 TiB.
size_t parse_mib(const json& value, const std::string& path, int64_t low) {
  constexpr int64_t kMaxMib = int64_t{1} << 20;
  return static_cast<size_t>(expect_between(value, path, low, kMaxMib)) << 20;
}

void parse_dnssec(const json& object, Config& config) {
  for (const auto& [key, value] : object.items()) {
    const std::string path = join_path("dnssec", key);
    if (key == "signature_cache_mib") {
      config.dnssec.signature_cache_bytes = parse_mib(value, path, 1);
    } else if (key == "denial_cache_mib") {
      config.dnssec.denial_cache_bytes = parse_mib(value, path, 1);
    } else if (key == "encoded_answers_mib") {
      config.dnssec.encoded_answers_bytes = parse_mib(value, path, 0);
    } else {
      throw ConfigError(path, "unknown key");
    }
  }
}

bool api_off(const std::string& listen) { return listen.empty() || listen == "off"; }

void check_api_listen(const std::string& listen, const std::string& path) {
  if (!api_off(listen)) check_endpoint(listen, path);
}

// Names appear in logs and events: short, and nothing that needs quoting.
void check_token_name(const std::string& name, const std::string& path) {
  constexpr size_t kMaxNameBytes = 64;
  const bool plain = name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789._-") == std::string::npos;
  if (name.empty() || name.size() > kMaxNameBytes || !plain) {
    throw ConfigError(path, "expected 1 to 64 letters, digits, '.', '_' or '-', got \"" + name + "\"");
  }
}

// The value is never echoed: a secret pasted here by mistake stays out of logs.
std::string parse_token_hash(const std::string& text, const std::string& path) {
  const bool hex = text.size() == 64 &&
                   text.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  if (!hex) {
    throw ConfigError(path, "expected the token's SHA-256 as 64 hex digits (rotor hash-token), got " +
                                std::to_string(text.size()) + " characters");
  }
  const std::string lower = ascii_lowercase(text);
  if (lower == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") {
    throw ConfigError(path, "is the SHA-256 of an empty token");
  }
  return lower;
}

ApiToken parse_api_token(const json& object, const std::string& path) {
  ApiToken token;
  bool has_name = false, has_scope = false, has_hash = false;
  for (const auto& [key, value] : expect_object(object, path).items()) {
    const std::string key_path = join_path(path, key);
    if (key == "name") {
      token.name = expect_string(value, key_path);
      check_token_name(token.name, key_path);
      has_name = true;
    } else if (key == "scope") {
      const std::string& scope = expect_string(value, key_path);
      if (scope != "read" && scope != "write") {
        throw ConfigError(key_path, "expected \"read\" or \"write\", got \"" + scope + "\"");
      }
      token.scope = scope == "read" ? TokenScope::read : TokenScope::write;
      has_scope = true;
    } else if (key == "sha256") {
      token.sha256 = parse_token_hash(expect_string(value, key_path), key_path);
      has_hash = true;
    } else {
      throw ConfigError(key_path, "unknown key");
    }
  }
  if (!has_name) throw ConfigError(join_path(path, "name"), "missing");
  if (!has_scope) throw ConfigError(join_path(path, "scope"), "missing; \"read\" or \"write\"");
  if (!has_hash) throw ConfigError(join_path(path, "sha256"), "missing; the token's SHA-256 in hex");
  return token;
}

std::vector<ApiToken> parse_api_tokens(const json& value, const std::string& path) {
  expect_array(value, path);
  std::vector<ApiToken> tokens;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string item = index_path(path, i);
    ApiToken token = parse_api_token(value[i], item);
    for (size_t j = 0; j < tokens.size(); ++j) {
      if (tokens[j].name == token.name) {
        throw ConfigError(join_path(item, "name"),
                          "\"" + token.name + "\" is already the name of " + index_path(path, j));
      }
      if (tokens[j].sha256 == token.sha256) {
        throw ConfigError(join_path(item, "sha256"), "the same token as " + index_path(path, j));
      }
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

ApiTls parse_api_tls(const json& object, const std::string& path) {
  ApiTls tls;
  for (const auto& [key, value] : expect_object(object, path).items()) {
    const std::string key_path = join_path(path, key);
    if (key == "cert" || key == "key") {
      std::string& file = key == "cert" ? tls.cert : tls.key;
      file = expect_string(value, key_path);
      if (file.empty()) throw ConfigError(key_path, "empty file name");
    } else {
      throw ConfigError(key_path, "unknown key");
    }
  }
  if (tls.cert.empty()) throw ConfigError(join_path(path, "cert"), "missing; TLS needs a cert and a key");
  if (tls.key.empty()) throw ConfigError(join_path(path, "key"), "missing; TLS needs a cert and a key");
  return tls;
}

void parse_api(const json& object, Config& config) {
  for (const auto& [key, value] : object.items()) {
    const std::string path = join_path("api", key);
    if (key == "listen") {
      check_api_listen(expect_string(value, path), path);
      config.api_listen = value.get<std::string>();
    } else if (key == "token") {
      config.api_token = expect_string(value, path);
    } else if (key == "tokens") {
      config.api_tokens = parse_api_tokens(value, path);
    } else if (key == "tls") {
      config.api_tls = parse_api_tls(value, path);
    } else {
      throw ConfigError(path, "unknown key");
    }
  }
}

bool is_loopback(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    return (ntohl(v4.sin_addr.s_addr) >> 24) == 127;
  }
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    return IN6_IS_ADDR_LOOPBACK(&v6.sin6_addr);
  }
  return false;
}

// Runs `parse`; with `errors`, a ConfigError is added to them instead of
// thrown, so that the next value is still checked.
template <typename Parse>
void attempt(std::vector<ConfigError>* errors, Parse&& parse) {
  if (errors == nullptr) {
    parse();
    return;
  }
  try {
    parse();
  } catch (const ConfigError& error) {
    errors->push_back(error);
  }
}

// With `errors`: every key, and every element of zones and of the registry
// sections, on its own (see load_config_file_collecting).
void parse_key(const std::string& key, const json& value, Config& config,
               std::vector<ConfigError>* errors) {
  {
    if (key == "listen") {
      expect_array(value, key);
      if (value.empty()) throw ConfigError(key, "at least one address is needed");
      config.listen.clear();
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string path = index_path(key, i);
        check_endpoint(expect_string(value[i], path), path);
        config.listen.push_back(value[i].get<std::string>());
      }
    } else if (key == "zones") {
      expect_array(value, key);
      config.zones.clear();
      for (size_t i = 0; i < value.size(); ++i) attempt(errors, [&] {
        const std::string path = index_path(key, i);
        if (value[i].is_string()) {
          config.zones.push_back(parse_zone_spec(value[i].get<std::string>(), path));
        } else if (value[i].is_object() && value[i].contains("name")) {
          config.declared_zones.push_back(parse_declared_zone(value[i], path));
        } else if (value[i].is_object()) {
          config.zones.push_back(parse_zone_object(value[i], path));
        } else {
          wrong_type(path,
                     "a string \"NAME=FILE\", an object {\"origin\", \"file\"} or an object "
                     "{\"name\", \"name_servers\"}",
                     value[i]);
        }
      });
    } else if (key == "threads") {
      int64_t threads = expect_integer(value, key);
      check_threads(threads, key);
      config.threads = static_cast<unsigned>(threads);
    } else if (key == "log_level") {
      check_log_level(expect_string(value, key), key);
      config.log_level = value.get<std::string>();
    } else if (key == "log_format") {
      config.log_format = parse_log_format(expect_string(value, key), key);
    } else if (key == "nsid") {
      check_nsid(expect_string(value, key), key);
      config.nsid = value.get<std::string>();
    } else if (key == "tcp") {
      parse_tcp(expect_object(value, key), config);
    } else if (key == "cpu_affinity") {
      parse_cpu_affinity(expect_object(value, key), config);
    } else if (key == "arrays" || key == "regions" || key == "networks") {
      parse_registry_section(key, value, config, errors);
    } else if (key == "db") {
      config.db = expect_string(value, key);
      if (config.db.empty()) throw ConfigError(key, "empty file name");
    } else if (key == "geoip") {
      config.geoip = expect_string(value, key);
    } else if (key == "api") {
      parse_api(expect_object(value, key), config);
    } else if (key == "probes") {
      parse_probes(expect_object(value, key), config);
    } else if (key == "events") {
      parse_events(expect_object(value, key), config);
    } else if (key == "rrl") {
      parse_rrl(expect_object(value, key), config);
    } else if (key == "dnssec") {
      parse_dnssec(expect_object(value, key), config);
    } else if (key == "cluster") {
      config.cluster = parse_cluster(value);
    } else if (key == "publish_interval") {
      if (!value.is_string()) wrong_type(key, "a duration string like \"50ms\"", value);
      config.publish_interval = parse_duration(value.get<std::string>(), key);
    } else {
      throw ConfigError(key, "unknown key");
    }
  }
}

void parse_top_level(const json& document, Config& config, std::vector<ConfigError>* errors) {
  // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
  for (const auto& item : document.items()) {
    const std::string& key = item.key();
    const json& value = item.value();
    attempt(errors, [&] { parse_key(key, value, config, errors); });
  }
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the
// rest ("parse error at line 3, column 5: ...") is what a person needs.
std::string without_exception_id(const std::string& message) {
  auto end = message.find("] ");
  return end == std::string::npos ? message : message.substr(end + 2);
}

}  // namespace

bool api_enabled(const Config& config) { return !api_off(config.api_listen); }

bool api_on_loopback(const Config& config) {
  net::ListenEndpoint endpoint;
  std::string error;
  if (!net::parse_endpoint(config.api_listen, endpoint, error)) throw ConfigError("api.listen", error);
  return is_loopback(endpoint.address);
}

bool api_needs_token(const Config& config) {
  return !config.api_token.empty() || !config.api_tokens.empty();
}

void resolve_api(Config& config, const char* env_token) {
  if (env_token != nullptr && *env_token != '\0') config.api_token = env_token;
  if (!config.api_token.empty()) {
    for (size_t i = 0; i < config.api_tokens.size(); ++i) {
      if (config.api_tokens[i].name == kDefaultTokenName) {
        throw ConfigError(index_path("api.tokens", i) + ".name",
                          "\"default\" is the name of api.token (or ROTOR_API_TOKEN); pick another");
      }
    }
  }
  if (!api_enabled(config) || api_needs_token(config)) return;
  if (!api_on_loopback(config)) {
    throw ConfigError("api.listen", "\"" + config.api_listen +
                                        "\" is not a loopback address and needs api.token, "
                                        "api.tokens or ROTOR_API_TOKEN");
  }
}

LogFormat parse_log_format(const std::string& text, const std::string& path) {
  if (text == "text") return LogFormat::text;
  if (text == "json") return LogFormat::json;
  throw ConfigError(path, "expected \"text\" or \"json\", got \"" + text + "\"");
}

namespace {

json parse_document(const std::string& text, const std::string& source) {
  json document;
  try {
    document = json::parse(text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::exception& error) {
    // parse_error, and out_of_range for a number too large for a double (1e500).
    throw ConfigError(source, without_exception_id(error.what()));
  }
  if (!document.is_object()) {
    throw ConfigError(source, "expected an object at the top level, got " + describe(document));
  }
  return document;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path, std::string("cannot read: ") + std::strerror(errno));
  return text.str();
}

// Names the file and makes its relative file names relative to its folder.
void resolve_files(Config& config, const std::string& path) {
  config.file = path;
  const std::filesystem::path directory = std::filesystem::path(path).parent_path();
  auto resolve = [&](std::string& name) {
    const std::filesystem::path file(name);
    if (!name.empty() && file.is_relative() && !directory.empty()) name = (directory / file).string();
  };
  for (ZoneSource& zone : config.zones) {
    resolve(zone.file);
    resolve(zone.dnssec_keys);
  }
  resolve(config.db);
  resolve(config.geoip);
  if (config.cluster) {
    resolve(config.cluster->tls_ca);
    resolve(config.cluster->tls_cert);
    resolve(config.cluster->tls_key);
  }
  resolve(config.api_tls.cert);
  resolve(config.api_tls.key);
}

}  // namespace

Config parse_config(const std::string& text, const std::string& source) {
  Config config;
  parse_top_level(parse_document(text, source), config, nullptr);
  return config;
}

Config load_config_file(const std::string& path) {
  Config config = parse_config(read_file(path), path);
  resolve_files(config, path);
  return config;
}

std::vector<ConfigError> load_config_file_collecting(const std::string& path, Config& config) {
  std::vector<ConfigError> errors;
  try {
    parse_top_level(parse_document(read_file(path), path), config, &errors);
  } catch (const ConfigError& error) {
    errors.push_back(error);  // unreadable or not JSON: nothing else can be checked
  }
  resolve_files(config, path);
  return errors;
}

void apply_overrides(Config& config, const Overrides& overrides) {
  if (!overrides.listen.empty()) {
    for (const std::string& text : overrides.listen) check_endpoint(text, "--listen");
    config.listen = overrides.listen;
  }
  if (!overrides.zones.empty()) {
    config.zones.clear();
    for (const std::string& spec : overrides.zones) {
      config.zones.push_back(parse_zone_spec(spec, "--zone"));
    }
  }
  if (overrides.threads) {
    check_threads(*overrides.threads, "--threads");
    config.threads = *overrides.threads;
  }
  if (overrides.log_level) {
    check_log_level(*overrides.log_level, "--log-level");
    config.log_level = *overrides.log_level;
  }
  if (overrides.log_format) config.log_format = parse_log_format(*overrides.log_format, "--log-format");
  if (overrides.db) {
    if (overrides.db->empty()) throw ConfigError("--db", "empty file name");
    config.db = *overrides.db;
  }
  if (overrides.geoip) config.geoip = *overrides.geoip;
  if (overrides.api_listen) {
    check_api_listen(*overrides.api_listen, "--api");
    config.api_listen = *overrides.api_listen;
  }
  if (overrides.nsid) {
    check_nsid(*overrides.nsid, "--nsid");
    config.nsid = *overrides.nsid;
  }
  // --etcd makes the node a cluster node even without a cluster section.
  if (!overrides.etcd.empty()) {
    if (!config.cluster) config.cluster.emplace();
    config.cluster->endpoints = parse_etcd_flag(overrides.etcd);
  }
  if (overrides.node) {
    if (!config.cluster) throw ConfigError("--node", "needs a cluster section or --etcd");
    check_node_name(*overrides.node, "--node");
    config.cluster->node = *overrides.node;
  }
}

void resolve_cluster(Config& config, const std::string& host_name, const char* env_password) {
  if (!config.cluster) return;
  ClusterConfig& cluster = *config.cluster;
  if (cluster.node.empty()) {
    cluster.node = host_name;
    check_node_name(cluster.node, "cluster.node (the host name)");
  }
  if (env_password != nullptr) cluster.password = env_password;
  if (!cluster.username.empty() && cluster.password.empty()) {
    throw ConfigError("cluster.etcd.username", "needs a password: set ROTOR_ETCD_PASSWORD");
  }
}

}  // namespace rotor::config
