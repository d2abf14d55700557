#pragma once
// Instance arrays: a DNS name whose A/AAAA answers are chosen per query from a
// set of instances. This file holds the data model shared by the config, the
// store, the API and the answerer. An ArrayState is immutable: a change to an
// array (its settings, an instance, a health flip) builds a new ArrayState for
// that array alone, precomputing everything the query path needs.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/ip_address.h"

namespace rotor::arrays {

enum class Policy : uint8_t { round_robin, weighted, geo, sticky };
enum class WhenAllDown : uint8_t { all, none };
enum class AdminState : uint8_t { enabled, draining, disabled };
enum class Health : uint8_t { unknown, up, down };

std::string_view to_string(Policy);
std::string_view to_string(WhenAllDown);
std::string_view to_string(AdminState);
std::string_view to_string(Health);
std::optional<Policy> policy_from_string(std::string_view);
std::optional<WhenAllDown> when_all_down_from_string(std::string_view);
std::optional<AdminState> admin_state_from_string(std::string_view);
std::optional<Health> health_from_string(std::string_view);

// Instances per array. The query path's working memory is sized by it once
// per worker (selector.h, SelectionScratch: 26 bytes per instance, 208 KiB at
// 8192) and candidate indices are uint16_t, so it stays below 65536.
inline constexpr size_t kMaxInstancesPerArray = 8192;

// The shared vocabulary (server/common/ip_address.h) under the names the
// array model has always used.
using ::rotor::IpAddress;
using ::rotor::kNoRegion;

// What the operator sets on an instance (config file and API).
struct InstanceSpec {
  IpAddress address;
  uint16_t weight = 100;  // 1..1000
  std::string region;     // label; empty: none
  std::optional<double> lat;
  std::optional<double> lon;
  AdminState state = AdminState::enabled;
  // Health-check keys overriding the array's check for this instance, as a
  // JSON object text ("{\"port\":8081}"); empty: the array's check as is.
  // Validated by probes::effective_check; the answerer never reads it.
  std::string check;
};

// An instance as the registry knows it: spec plus identity and health.
struct Instance {
  int64_t id = 0;
  InstanceSpec spec;
  Health health = Health::unknown;
  int64_t health_changed_ms = 0;  // unix milliseconds of the last health change
  std::string health_reason;
  // When this instance came back up (down -> up) while rotor ran: the start
  // of its slow-start ramp; 0: none. Never stored: a restart ends every ramp.
  int64_t slow_start_from_ms = 0;
  // What the backend reports about itself through its check
  // (check.weight_from_response): the percent of spec.weight it wants (0: no
  // new clients) and whether it asks to be drained. Observed, never stored:
  // the registry lays the latest over its model; 100 and false otherwise.
  uint8_t reported_weight = 100;
  bool reported_draining = false;
};

// What the operator sets on an array.
struct ArraySettings {
  uint32_t ttl = 30;
  uint32_t degraded_ttl = 10;
  Policy policy = Policy::round_robin;
  uint16_t max_answers = 0;  // 0: every selected instance
  WhenAllDown when_all_down = WhenAllDown::all;
  // The panic threshold: when fewer than this share (0..1) of a family's
  // enabled instances are healthy (but some are), every enabled one is
  // answered, as if all were healthy. 0: off.
  double min_healthy = 0;
  // Another array answered instead when this one has no healthy instance
  // of the asked family (fallback.h): presentation form, lower case, with
  // the trailing dot; empty: none.
  std::string fallback;
  // Slow start: an instance that comes back up enters with a small effective
  // weight that grows linearly to its full weight over this many ms. 0: off.
  int64_t slow_start_ms = 0;
  // Automatic removal: an instance the array's check has found not up (down
  // or unknown) for this long, continuously, is removed (app::InstanceReaper,
  // registry/instance_expiry.h). 0: off. The answerer never reads it.
  std::chrono::milliseconds remove_after{0};
  // The health check as a JSON object text (probes/check_spec.h has the
  // keys); empty: instances are not probed. Kept as the operator wrote it,
  // so that an instance's override is merged over what was given, not over
  // filled-in defaults. The answerer never reads it.
  std::string check;
};

}  // namespace rotor::arrays
