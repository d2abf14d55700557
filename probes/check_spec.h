#pragma once
// The health check of an array: what the prober pool runs against each
// instance, and the rise/fall it feeds to the health state machine. Parsed
// from the config file, the API and the registry's arrays.check_json column,
// all through parse_check, so they accept and refuse exactly the same things.
//
// JSON form (every key optional except `port` for tcp; unknown keys are errors):
//   {"type": "http" | "https" | "tcp",          default "http"
//    "port": 1..65535,                           default 80 / 443; required for tcp
//    "path": "/healthz",                         http(s) only; default "/"
//    "host": "api.example.com",                  http(s) only; Host header and SNI;
//                                                default: the instance address
//    "expect_status": 204 | "200-399",           http(s) only; default "200-399"
//    "expect_body": "ok",                        http(s) only; substring of the first 64 KiB
//    "interval": "5s", "timeout": "2s",          durations with their unit
//    "rise": 2, "fall": 3,                       1..100
//    "tls_verify": false,                        https only
//    "weight_from_response": false,              http(s) only: read Rotor-Weight and
//                                                Rotor-State from the response
//                                                (backend_report.h)
//    "reuse_connection": false,                  http(s) only: keep the connection open
//                                                between checks (keep-alive) instead of
//                                                connecting afresh for each one
//    "address": "10.0.0.9",                      an instance's check only: the
//                                                address probed instead of the
//                                                instance's (a health endpoint on
//                                                another interface, a sidecar)
//    "quorum": "majority" | "any" | "all" | N,   cluster only; default "majority"
//    "observers": N}                             cluster only; default: every node
// Rules: interval >= 100ms; 0 < timeout < interval. When the timeout is
// omitted it is 2s, or half the interval when that is shorter, so setting a
// short interval alone is valid. `quorum` and `observers` (1..1000) say how
// the observations of several nodes combine (server/cluster/verdict.h) and
// how many nodes probe each instance; a single node ignores them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "probes/health_state.h"
#include "server/common/ip_address.h"

namespace rotor::probes {

inline constexpr size_t kBodyScanBytes = 64 * 1024;
inline constexpr std::chrono::milliseconds kMinInterval{100};
inline constexpr uint32_t kMaxObservers = 1000;

// How the observations of an instance by several nodes become one verdict.
struct Quorum {
  enum class Rule : uint8_t { majority, any, all, count };
  Rule rule = Rule::majority;
  uint32_t count = 0;  // Rule::count only: up when at least min(count, votes) are up
  bool operator==(const Quorum&) const = default;
};

// "majority", "any", "all" or the count as text ("2").
std::string to_string(const Quorum& quorum);

struct CheckSpec {
  enum class Type : uint8_t { http, https, tcp };

  Type type = Type::http;
  uint16_t port = 0;  // 0: the scheme's default (80, 443); never 0 for tcp
  std::string path = "/";
  std::string host;   // empty: the instance address
  uint16_t expect_status_min = 200;
  uint16_t expect_status_max = 399;
  std::string expect_body;  // empty: not checked
  std::chrono::milliseconds interval{5000};
  std::chrono::milliseconds timeout{2000};
  uint32_t rise = 2;
  uint32_t fall = 3;
  bool tls_verify = false;
  // The backend's Rotor-Weight and Rotor-State response headers scale its
  // weight and drain it (backend_report.h); off: they are not read.
  bool weight_from_response = false;
  // Keep the connection to the instance open between checks, so a check is
  // one request on it; off (the default): every check connects afresh,
  // which is what proves the instance still accepts new connections.
  bool reuse_connection = false;
  Quorum quorum;
  uint32_t observers = 0;  // 0: every live node probes it
  // The address probed; nullopt: the instance's own. Clients are still
  // answered the instance's address: only the probe goes elsewhere.
  std::optional<IpAddress> address;

  // The port to connect to, defaults applied.
  uint16_t effective_port() const;
  bool operator==(const CheckSpec&) const = default;
};

std::string_view to_string(CheckSpec::Type);
std::optional<CheckSpec::Type> check_type_from_string(std::string_view);

// Throws FieldError naming `path + ".key"` (or `path` itself when
// `check` is not an object). `path` may be empty for a top-level document.
CheckSpec parse_check(const nlohmann::json& check, const std::string& path);

// The check of one instance, from the texts the registry keeps
// (ArraySettings::check, InstanceSpec::check; empty: none). The instance's
// keys replace the array's one by one, except that an instance naming another
// `type` replaces the array's check whole (an http path means nothing to a
// tcp check). nullopt when neither has a check. Throws FieldError
// naming `path + ".key"` for a bad text or a bad merged check, and for an
// `address` in the array's check (every instance would probe one server).
std::optional<CheckSpec> effective_check(std::string_view array_check,
                                         std::string_view instance_check,
                                         const std::string& path);

// The canonical JSON form: parse_check(to_json(spec)) == spec for every spec
// parse_check returns. Keys that do not apply to the type are left out.
nlohmann::json to_json(const CheckSpec& spec);

// "500ms", "5s", "1m", "2h": the largest unit that divides it exactly.
std::string format_duration(std::chrono::milliseconds duration);

// One line for logs and the API: "http :8080/healthz every 5s",
// "https api.example.com:443/ every 10s expecting 204", "tcp :5432 every 5s".
std::string describe(const CheckSpec& spec);

// rise/fall from the spec, flap damping at its defaults.
HealthPolicy health_policy(const CheckSpec& spec);

}  // namespace rotor::probes
