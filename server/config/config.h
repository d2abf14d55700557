#pragma once
// rotor's configuration: one JSON file (comments allowed) and command-line
// flags that override it. Parsed and validated here and nowhere else; unknown
// keys are errors, and every error names the key path (`zones[1].file`).

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/arrays/array.h"
#include "server/common/field_error.h"
#include "server/common/json_fields.h"
#include "server/geo/geo.h"
#include "server/query/rate_limiter.h"

namespace rotor::config {

// A bad config value: its key path ("listen[2]", "tcp.idle_timeout"; the
// file name for parse errors) and the reason. The shared field error, so that
// the sections the config shares with the API and the checks report alike.
using ConfigError = FieldError;

struct ZoneSource {
  std::string origin;  // presentation form; empty: taken from the file's SOA
  std::string file;
  // "dnssec": {"keys": DIR}: rotor signs the zone with the keys in DIR
  // (resolved against the config file's directory); empty: unsigned.
  std::string dnssec_keys;
  std::string key_path;  // "zones[1]" (or "--zone"), for messages
};

// A zone rotor makes itself (SOA and NS) to hold arrays, declared with just
// its name and name servers.
struct NameServer {
  std::string name;
  std::vector<std::string> addresses;  // needed when the name lies inside the zone
};
struct DeclaredZone {
  std::string name;
  std::vector<NameServer> name_servers;
};

struct ArrayInstance {
  arrays::InstanceSpec spec;
  std::optional<arrays::Health> health;  // set at startup when given (tests, demos)
};
struct ArrayConfig {
  std::string name;  // presentation form, absolute
  arrays::ArraySettings settings;
  std::vector<ArrayInstance> instances;
};

// A node of a rotor cluster on etcd (README "Running several name servers").
struct ClusterConfig {
  std::string node;    // unique per node; empty in the file: the host name (resolve_cluster)
  std::string region;  // where this node probes from; empty: not said
  std::vector<std::string> endpoints{"http://127.0.0.1:2379"};
  std::string prefix = "/rotor/";
  std::string username;  // empty: no authentication
  std::string password;  // only from ROTOR_ETCD_PASSWORD
  std::string tls_ca;    // PEM files, resolved against the config file's directory
  std::string tls_cert;
  std::string tls_key;
  std::chrono::milliseconds lease_ttl{10000};
  std::chrono::milliseconds isolation_fallback{30000};
  double abstain_share = 0.5;
  // How long a down transition of this node's probes is held before it is
  // published (cluster::MembershipOptions::down_hold); 0: not held.
  std::chrono::milliseconds down_hold{1000};
};

// An API token as the config stores it: a name (in logs and events), what it
// may do, and the SHA-256 of the secret, never the secret itself.
enum class TokenScope { read, write };  // read: GET routes; write: everything
struct ApiToken {
  std::string name;
  TokenScope scope = TokenScope::write;
  std::string sha256;  // 64 lower-case hex digits
};

// The API's TLS certificate chain and key, PEM files (resolved against the
// config file's directory); both empty: plain HTTP.
struct ApiTls {
  std::string cert;
  std::string key;
  bool enabled() const noexcept { return !cert.empty(); }
};

enum class LogFormat { text, json };

// How much of the event log (GET /v1/events) is kept: the newest max_count
// events no older than max_age; pruned every 1024 events written.
struct EventsConfig {
  size_t max_count = 100000;
  std::chrono::milliseconds max_age{0};  // 0: no age bound
};

// `dnssec`: the memory rotor may spend on signing and signed answers, in
// bytes (the file says MiB). The defaults are the ones server/dnssec and
// zones/ use when nobody says otherwise (online_signing.h, zone.h); a test
// checks they agree.
struct DnssecBudgets {
  size_t signature_cache_bytes = size_t{256} << 20;  // zones' and arrays' RRSIGs
  size_t denial_cache_bytes = size_t{32} << 20;      // NSECs signed per query name
  size_t encoded_answers_bytes = size_t{128} << 20;  // per zone; 0: no encoding
};

// `cpu_affinity`: which CPUs rotor's threads run on, so that an operator can
// keep the control plane off the cores that answer DNS (NSD's
// server-N-cpu-affinity and xfrd-cpu-affinity, PowerDNS's cpu-map). Both
// lists hold distinct CPUs the process may run on; empty: those threads are
// not pinned. Takes effect at restart.
struct CpuAffinity {
  // DNS serving thread i (worker i's TCP loop, and its UDP socket on every
  // listen address) runs on workers[i % size], one CPU each.
  std::vector<int> workers;
  // Every other thread (API, probes, registry writes, snapshot building,
  // cluster, signers, libraries' threads): set on the main thread before it
  // creates any, so that every thread inherits it.
  std::vector<int> control;
  bool operator==(const CpuAffinity&) const = default;
};

struct Config {
  std::string file;  // the file it was read from (load_config_file); empty: none
  std::vector<std::string> listen{"127.0.0.1:5353", "[::1]:5353"};
  std::vector<ZoneSource> zones;
  unsigned threads = 0;  // 0: one per core (one per cpu_affinity.workers CPU when set)
  CpuAffinity cpu_affinity;
  std::string log_level = "info";
  LogFormat log_format = LogFormat::text;
  std::string nsid;      // empty: NSID not answered
  std::chrono::milliseconds tcp_idle_timeout{10000};
  size_t tcp_max_connections = 1000;

  std::string db;               // the registry's SQLite file; empty: ./rotor.db
  std::chrono::milliseconds publish_interval{20};
  unsigned probe_threads = 1;          // prober loop threads
  size_t probe_max_in_flight = 256;    // health checks running at once, over all threads
  arrays::IpAddress probe_source_address;  // checks connect from it; family 0: any
  std::string geoip;            // MaxMind database; empty: none
  std::vector<DeclaredZone> declared_zones;
  std::vector<geo::RegionSpec> regions;
  std::vector<geo::NetworkSpec> networks;
  std::vector<ArrayConfig> arrays;

  // The HTTP API (api/README.md): ADDR:PORT, or "off" (or "") for none.
  std::string api_listen = "127.0.0.1:8053";
  // api.token or ROTOR_API_TOKEN: a write-scoped token named "default".
  std::string api_token;
  std::vector<ApiToken> api_tokens;  // api.tokens
  ApiTls api_tls;

  EventsConfig events;  // `events`: the audit log's retention

  // Response rate limiting of UDP replies; responses_per_second 0: off.
  RateLimiterOptions rrl;

  DnssecBudgets dnssec;  // `dnssec`

  // Set: this node is one of a cluster sharing its data through etcd.
  std::optional<ClusterConfig> cluster;
};

// True unless the API is turned off ("off" or "").
bool api_enabled(const Config& config);
// True when api.listen is a loopback address (127.0.0.0/8, ::1).
bool api_on_loopback(const Config& config);
// True when some token is configured (api.token, ROTOR_API_TOKEN, api.tokens).
bool api_needs_token(const Config& config);
// Applies the ROTOR_API_TOKEN environment value (`env_token`, null when
// unset), which wins over api.token so that the secret can stay out of the
// file; refuses a non-loopback api.listen without any token, and an
// api.tokens entry named "default" beside api.token (that is its name).
void resolve_api(Config& config, const char* env_token);
// The name the plain api.token / ROTOR_API_TOKEN goes by in logs and events.
inline constexpr const char* kDefaultTokenName = "default";

// "text" or "json"; ConfigError naming `path` otherwise.
LogFormat parse_log_format(const std::string& text, const std::string& path);

// Completes the cluster section when there is one: the node name defaults to
// `host_name`, the password comes from ROTOR_ETCD_PASSWORD (`env_password`,
// null when unset), and a username without a password is refused.
void resolve_cluster(Config& config, const std::string& host_name, const char* env_password);

// Parses durations with their unit: "500ms", "10s", "1m", "1h".
using json_fields::parse_duration;

// Parses and validates a config document. `source` names it in errors.
Config parse_config(const std::string& text, const std::string& source);
// Relative zone paths are resolved against the config file's directory.
Config load_config_file(const std::string& path);
// As load_config_file, but every error at once (rotor check): each top-level
// key, and each element of zones, arrays, regions and networks, is parsed on
// its own, so one bad value does not hide the next. `config` gets what
// parsed. Paths are key paths ("arrays[2].ttl"), or the file's for a file
// that cannot be read or is not a JSON object.
std::vector<ConfigError> load_config_file_collecting(const std::string& path, Config& config);

// Command-line flags. A set field replaces the file's value (whole lists
// included: `--listen` and `--zone` replace, they do not append). Errors name
// the flag ("--threads").
struct Overrides {
  std::vector<std::string> listen;
  std::vector<std::string> zones;  // "FILE" or "NAME=FILE"
  std::optional<unsigned> threads;
  std::optional<std::string> log_level;
  std::optional<std::string> log_format;  // --log-format
  std::optional<std::string> nsid;
  std::optional<std::string> db;
  std::optional<std::string> geoip;
  std::optional<std::string> api_listen;  // --api
  std::vector<std::string> etcd;          // --etcd URL[,URL...]: replaces cluster.etcd.endpoints
  std::optional<std::string> node;        // --node
};
void apply_overrides(Config& config, const Overrides& overrides);

}  // namespace rotor::config
