#pragma once
// The one place where check results become health. Checkers only report
// pass/fail plus a reason; this state machine applies rise/fall and flap
// damping. It is pure: the caller passes the clock (unix ms), so tests drive
// time by hand and every prober behaves the same.
//
// Rules:
// - unknown: the first result decides (pass: up, fail: down).
// - then up after `rise` passes in a row, down after `fall` failures in a row.
// - Flap damping, in the manner of BGP route-flap damping (RFC 2439): each
//   up<->down change of the undamped health adds `change_penalty`, which decays
//   exponentially with `half_life_ms`. Once the penalty exceeds
//   `suppress_threshold` the instance is "suppressed": if it is or goes down it
//   stays down even after `rise` passes, until the penalty decays below
//   `reuse_threshold` and the last `rise` results were passes.
// - Going down is never delayed by damping: a sick instance leaves the answers
//   after `fall` failures, whatever its history.
// - What the backend reports about itself (check.weight_from_response,
//   backend_report.h) travels with the results but decides no health: the
//   last valid weight percent and drain wish are kept here (an ignored value
//   leaves the previous one), and observe_report says when they changed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "probes/backend_report.h"
#include "server/arrays/array.h"

namespace rotor::probes {

using arrays::Health;

inline constexpr std::string_view kHeldDownReason = "flapping: held down until stable";

struct HealthPolicy {
  uint32_t rise = 2;  // >= 1
  uint32_t fall = 3;  // >= 1
  // Flap damping; change_penalty 0 (or half_life_ms <= 0) turns it off.
  double change_penalty = 1000;
  int64_t half_life_ms = 60'000;
  double suppress_threshold = 3000;  // suppressed while above this...
  double reuse_threshold = 750;      // ...until it decays below this
  // Bounds how long a flapping instance can be held down:
  // half_life * log2(max_penalty / reuse_threshold), 4 min with the defaults.
  double max_penalty = 12'000;
};

// Per instance. Value-initialised means "never checked". A caller that knows
// the health from before (a restart) may seed `health` and `undamped` with it.
struct HealthState {
  Health health = Health::unknown;    // published: what DNS answers use
  Health undamped = Health::unknown;  // what rise/fall alone say
  uint32_t consecutive_passes = 0;
  uint32_t consecutive_failures = 0;
  double flap_penalty = 0;            // as of penalty_updated_ms
  int64_t penalty_updated_ms = 0;
  bool suppressed = false;
  std::string reason;                 // why `health` is what it is
  // The backend's own report (weight_from_response): percent of the
  // configured weight, and whether it asks to be drained. report_known:
  // some response was judged since this state began.
  uint8_t reported_weight = 100;
  bool reported_draining = false;
  bool report_known = false;
};

struct Transition {
  bool changed = false;         // published health changed
  bool reason_changed = false;  // true whenever changed; also when held down or re-failing while held
  Health from = Health::unknown;
  Health to = Health::unknown;
  std::string reason;           // the state's current reason
  // Damping started (held_down) or ended (!held_down) with this result.
  bool damping_changed = false;
  bool held_down = false;       // held_down(state) after this result
};

// Feeds one check result. `reason` describes a failure ("HTTP 503",
// "timeout after 2000 ms"); it is ignored for passes. A clock that goes
// backwards is treated as standing still.
Transition observe(HealthState& state, const HealthPolicy& policy, bool passed,
                   std::string_view reason, int64_t now_ms);

// Feeds what the backend reported with one response. Values the report
// ignored (nullopt) keep their previous value. True when the reported weight
// or drain wish changed, and for the first report of this state (whoever
// holds the last report, the registry, may have one from an earlier state).
bool observe_report(HealthState& state, const BackendReport& report);

// Held down by flap damping: rise/fall alone say up (the last `rise` checks
// passed) but the published health stays down until the penalty decays.
bool held_down(const HealthState& state);

// The flap penalty decayed to `now_ms`, without changing the state.
double penalty_at(const HealthState& state, const HealthPolicy& policy, int64_t now_ms);

// While suppressed: the earliest time the penalty falls below the reuse
// threshold (the instance still needs `rise` passes in a row after it).
// nullopt when not suppressed.
std::optional<int64_t> release_time_ms(const HealthState& state, const HealthPolicy& policy);

}  // namespace rotor::probes
