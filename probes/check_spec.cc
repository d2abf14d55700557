#include "probes/check_spec.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <set>
#include <utility>

#include "server/common/json_fields.h"

namespace rotor::probes {
namespace {

using json = nlohmann::json;
using namespace json_fields;

constexpr std::array<std::pair<CheckSpec::Type, std::string_view>, 3> kTypes{{
    {CheckSpec::Type::http, "http"},
    {CheckSpec::Type::https, "https"},
    {CheckSpec::Type::tcp, "tcp"},
}};

constexpr size_t kMaxPathLength = 2048;
constexpr size_t kMaxHostLength = 255;
constexpr int64_t kMinStatus = 100;
constexpr int64_t kMaxStatus = 599;
constexpr std::chrono::milliseconds kDefaultTimeout{2000};

uint32_t parse_count(const json& value, const std::string& path) {
  const int64_t count = expect_integer(value, path);
  if (count < 1 || count > 100) throw FieldError(path, "expected 1 to 100, got " + std::to_string(count));
  return static_cast<uint32_t>(count);
}

uint32_t parse_node_count(const json& value, const std::string& path) {
  const int64_t count = expect_integer(value, path);
  if (count < 1 || count > kMaxObservers) {
    throw FieldError(path, "expected 1 to " + std::to_string(kMaxObservers) + " nodes, got " + std::to_string(count));
  }
  return static_cast<uint32_t>(count);
}

std::chrono::milliseconds parse_duration_value(const json& value, const std::string& path) {
  if (!value.is_string()) {
    if (value.is_number()) throw FieldError(path, "expected a duration with a unit, like \"5s\"");
    wrong_type(path, "a duration string like \"5s\"", value);
  }
  return parse_duration(value.get<std::string>(), path);
}

// Path and host go into the request line and a header: no room for CR/LF tricks.
void expect_header_safe(const std::string& text, size_t max_length, const std::string& path) {
  if (text.size() > max_length) {
    throw FieldError(path, "longer than " + std::to_string(max_length) + " characters");
  }
  const bool safe = std::all_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte > 0x20 && byte < 0x7f;
  });
  if (!safe) throw FieldError(path, "must not contain spaces, control or non-ASCII characters");
}

uint16_t expect_status_code(int64_t status, const std::string& path) {
  if (status < kMinStatus || status > kMaxStatus) {
    throw FieldError(path, "expected a status from 100 to 599, got " + std::to_string(status));
  }
  return static_cast<uint16_t>(status);
}

// "200-399": both ends inclusive.
std::pair<uint16_t, uint16_t> parse_status_range(const std::string& text, const std::string& path) {
  const auto bad = [&] {
    return FieldError(path, "expected a status like 200 or a range like \"200-399\", got \"" + text + "\"");
  };
  const size_t dash = text.find('-');
  if (dash == std::string::npos) throw bad();
  const auto parse_end = [&](size_t begin, size_t end) {
    if (begin == end || end - begin > 3) throw bad();
    int64_t value = 0;
    auto [next, error] = std::from_chars(text.data() + begin, text.data() + end, value);
    if (error != std::errc() || next != text.data() + end) throw bad();
    return expect_status_code(value, path);
  };
  const uint16_t low = parse_end(0, dash);
  const uint16_t high = parse_end(dash + 1, text.size());
  if (low > high) throw FieldError(path, "the range \"" + text + "\" is backwards");
  return {low, high};
}

Quorum parse_quorum(const json& value, const std::string& path) {
  Quorum quorum;
  if (value.is_string()) {
    const std::string& rule = value.get_ref<const std::string&>();
    if (rule == "majority") return quorum;
    if (rule == "any") quorum.rule = Quorum::Rule::any;
    else if (rule == "all") quorum.rule = Quorum::Rule::all;
    else throw FieldError(path, "expected \"majority\", \"any\", \"all\" or a number of nodes, got \"" + rule + "\"");
    return quorum;
  }
  if (!value.is_number()) {
    wrong_type(path, "\"majority\", \"any\", \"all\" or a number of nodes", value);
  }
  quorum.rule = Quorum::Rule::count;
  quorum.count = parse_node_count(value, path);
  return quorum;
}

// As an instance's address: IPv4-mapped forms are the IPv4 address, and an
// address no server can have is refused.
IpAddress parse_probed_address(const json& value, const std::string& path) {
  const std::string& text = expect_string(value, path);
  const auto address = IpAddress::parse(text);
  if (!address) throw FieldError(path, "\"" + text + "\" is not an IPv4 or IPv6 address");
  const IpAddress probed = address->unmapped();
  if (const std::string_view why = probed.not_a_server(); !why.empty()) {
    throw FieldError(path, "\"" + text + "\" cannot be a server: " + std::string(why));
  }
  return probed;
}

void parse_expect_status(const json& value, const std::string& path, CheckSpec& spec) {
  if (value.is_number_integer() || value.is_number_unsigned()) {
    spec.expect_status_min = spec.expect_status_max = expect_status_code(expect_integer(value, path), path);
  } else if (value.is_string()) {
    std::tie(spec.expect_status_min, spec.expect_status_max) =
        parse_status_range(value.get<std::string>(), path);
  } else {
    wrong_type(path, "a status like 200 or a range like \"200-399\"", value);
  }
}

}  // namespace

uint16_t CheckSpec::effective_port() const {
  if (port != 0) return port;
  return type == Type::https ? 443 : 80;
}

std::string to_string(const Quorum& quorum) {
  switch (quorum.rule) {
    case Quorum::Rule::majority: return "majority";
    case Quorum::Rule::any: return "any";
    case Quorum::Rule::all: return "all";
    case Quorum::Rule::count: return std::to_string(quorum.count);
  }
  return "?";
}

std::string_view to_string(CheckSpec::Type type) {
  for (const auto& [value, name] : kTypes) {
    if (value == type) return name;
  }
  return "?";
}

std::optional<CheckSpec::Type> check_type_from_string(std::string_view text) {
  for (const auto& [value, name] : kTypes) {
    if (name == text) return value;
  }
  return std::nullopt;
}

CheckSpec parse_check(const json& check, const std::string& path) {
  expect_object(check, path);
  CheckSpec spec;
  std::set<std::string> present;
  for (const auto& [key, value] : check.items()) {
    const std::string key_path = join_path(path, key);
    if (key == "type") {
      const std::string& name = expect_string(value, key_path);
      auto type = check_type_from_string(name);
      if (!type) throw FieldError(key_path, "expected \"http\", \"https\" or \"tcp\", got \"" + name + "\"");
      spec.type = *type;
    } else if (key == "port") {
      const int64_t port = expect_integer(value, key_path);
      if (port < 1 || port > 65535) throw FieldError(key_path, "expected 1 to 65535, got " + std::to_string(port));
      spec.port = static_cast<uint16_t>(port);
    } else if (key == "path") {
      spec.path = expect_string(value, key_path);
      if (spec.path.empty() || spec.path.front() != '/') {
        throw FieldError(key_path, "must start with \"/\", got \"" + spec.path + "\"");
      }
      expect_header_safe(spec.path, kMaxPathLength, key_path);
    } else if (key == "host") {
      spec.host = expect_string(value, key_path);
      expect_header_safe(spec.host, kMaxHostLength, key_path);
    } else if (key == "expect_status") {
      parse_expect_status(value, key_path, spec);
    } else if (key == "expect_body") {
      spec.expect_body = expect_string(value, key_path);
      if (spec.expect_body.size() > kBodyScanBytes) {
        throw FieldError(key_path, "longer than the " + std::to_string(kBodyScanBytes) + " bytes of body that are read");
      }
    } else if (key == "interval") {
      spec.interval = parse_duration_value(value, key_path);
      if (spec.interval < kMinInterval) {
        throw FieldError(key_path, "must be at least " + format_duration(kMinInterval) + ", got " +
                                        format_duration(spec.interval));
      }
    } else if (key == "timeout") {
      spec.timeout = parse_duration_value(value, key_path);
      if (spec.timeout.count() == 0) throw FieldError(key_path, "must be greater than zero");
    } else if (key == "rise") {
      spec.rise = parse_count(value, key_path);
    } else if (key == "fall") {
      spec.fall = parse_count(value, key_path);
    } else if (key == "tls_verify") {
      if (!value.is_boolean()) wrong_type(key_path, "a boolean", value);
      spec.tls_verify = value.get<bool>();
    } else if (key == "weight_from_response") {
      if (!value.is_boolean()) wrong_type(key_path, "a boolean", value);
      spec.weight_from_response = value.get<bool>();
    } else if (key == "reuse_connection") {
      if (!value.is_boolean()) wrong_type(key_path, "a boolean", value);
      spec.reuse_connection = value.get<bool>();
    } else if (key == "quorum") {
      spec.quorum = parse_quorum(value, key_path);
    } else if (key == "observers") {
      spec.observers = parse_node_count(value, key_path);
    } else if (key == "address") {
      spec.address = parse_probed_address(value, key_path);
    } else {
      throw FieldError(key_path, "unknown key");
    }
    present.insert(key);
  }

  // Checks across keys, once every key is known (keys arrive in name order).
  if (!present.contains("timeout")) {
    spec.timeout = std::min(kDefaultTimeout, spec.interval / 2);
  } else if (spec.timeout >= spec.interval) {
    throw FieldError(join_path(path, "timeout"), "must be shorter than the interval (" +
                                                      format_duration(spec.interval) + "), got " +
                                                      format_duration(spec.timeout));
  }
  if (spec.type == CheckSpec::Type::tcp) {
    for (const char* key : {"expect_body", "expect_status", "host", "path", "reuse_connection", "weight_from_response"}) {
      if (present.contains(key)) throw FieldError(join_path(path, key), "only for http and https checks");
    }
    if (!present.contains("port")) throw FieldError(join_path(path, "port"), "required for tcp checks");
  }
  if (spec.type != CheckSpec::Type::https && present.contains("tls_verify")) {
    throw FieldError(join_path(path, "tls_verify"), "only for https checks");
  }
  return spec;
}

namespace {

json parse_check_text(std::string_view text, const std::string& path) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw FieldError(path, "not valid JSON");
  expect_object(parsed, path);
  return parsed;
}

}  // namespace

std::optional<CheckSpec> effective_check(std::string_view array_check,
                                         std::string_view instance_check,
                                         const std::string& path) {
  if (array_check.empty() && instance_check.empty()) return std::nullopt;
  json merged = array_check.empty() ? json::object() : parse_check_text(array_check, path);
  if (merged.contains("address")) {
    throw FieldError(join_path(path, "address"),
                     "only an instance's check may set the address probed (here every instance "
                     "would probe the same server)");
  }
  if (!instance_check.empty()) {
    const json override = parse_check_text(instance_check, path);
    const auto type_of = [](const json& check) {
      return check.contains("type") ? check["type"] : json("http");
    };
    if (override.contains("type") && type_of(override) != type_of(merged)) merged = json::object();
    merged.update(override);
  }
  return parse_check(merged, path);
}

json to_json(const CheckSpec& spec) {
  json out = json::object();
  out["type"] = std::string(to_string(spec.type));
  if (spec.port != 0) out["port"] = spec.port;
  if (spec.type != CheckSpec::Type::tcp) {
    out["path"] = spec.path;
    if (!spec.host.empty()) out["host"] = spec.host;
    if (spec.expect_status_min == spec.expect_status_max) {
      out["expect_status"] = spec.expect_status_min;
    } else {
      out["expect_status"] =
          std::to_string(spec.expect_status_min) + "-" + std::to_string(spec.expect_status_max);
    }
    if (!spec.expect_body.empty()) out["expect_body"] = spec.expect_body;
  }
  out["interval"] = format_duration(spec.interval);
  out["timeout"] = format_duration(spec.timeout);
  out["rise"] = spec.rise;
  out["fall"] = spec.fall;
  if (spec.type == CheckSpec::Type::https) out["tls_verify"] = spec.tls_verify;
  if (spec.weight_from_response) out["weight_from_response"] = true;
  if (spec.reuse_connection) out["reuse_connection"] = true;
  // Cluster keys only when set, so single-node checks read as before.
  if (spec.quorum.rule == Quorum::Rule::count) {
    out["quorum"] = spec.quorum.count;
  } else if (spec.quorum.rule != Quorum::Rule::majority) {
    out["quorum"] = to_string(spec.quorum);
  }
  if (spec.observers != 0) out["observers"] = spec.observers;
  if (spec.address) out["address"] = spec.address->to_string();
  return out;
}

std::string format_duration(std::chrono::milliseconds duration) {
  const int64_t ms = duration.count();
  if (ms == 0) return "0ms";
  constexpr std::array<std::pair<int64_t, const char*>, 3> kUnits{{
      {60 * 60 * 1000, "h"},
      {60 * 1000, "m"},
      {1000, "s"},
  }};
  for (const auto& [unit_ms, suffix] : kUnits) {
    if (ms % unit_ms == 0) return std::to_string(ms / unit_ms) + suffix;
  }
  return std::to_string(ms) + "ms";
}

std::string describe(const CheckSpec& spec) {
  std::string text(to_string(spec.type));
  text += " " + spec.host + ":" + std::to_string(spec.effective_port());
  if (spec.type != CheckSpec::Type::tcp) text += spec.path;
  if (spec.address) text += " at " + spec.address->to_string();
  text += " every " + format_duration(spec.interval);
  if (spec.type == CheckSpec::Type::tcp) return text;
  if (spec.expect_status_min != 200 || spec.expect_status_max != 399) {
    text += " expecting " + std::to_string(spec.expect_status_min);
    if (spec.expect_status_max != spec.expect_status_min) text += "-" + std::to_string(spec.expect_status_max);
  }
  if (!spec.expect_body.empty()) {
    constexpr size_t kShown = 32;
    const bool cut = spec.expect_body.size() > kShown;
    text += " containing \"" + spec.expect_body.substr(0, kShown) + (cut ? "...\"" : "\"");
  }
  if (spec.weight_from_response) text += " reading Rotor-Weight";
  if (spec.reuse_connection) text += " on a kept connection";
  return text;
}

HealthPolicy health_policy(const CheckSpec& spec) {
  HealthPolicy policy;
  policy.rise = spec.rise;
  policy.fall = spec.fall;
  return policy;
}

}  // namespace rotor::probes
