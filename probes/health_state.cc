#include "probes/health_state.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace rotor::probes {
namespace {

bool damping_enabled(const HealthPolicy& policy) {
  return policy.change_penalty > 0 && policy.half_life_ms > 0;
}

void count_result(HealthState& state, bool passed) {
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  if (passed) {
    if (state.consecutive_passes < kMax) ++state.consecutive_passes;
    state.consecutive_failures = 0;
  } else {
    if (state.consecutive_failures < kMax) ++state.consecutive_failures;
    state.consecutive_passes = 0;
  }
}

// rise/fall alone, without damping.
Health next_undamped(const HealthState& state, const HealthPolicy& policy, bool passed) {
  const uint32_t rise = std::max<uint32_t>(policy.rise, 1);
  const uint32_t fall = std::max<uint32_t>(policy.fall, 1);
  switch (state.undamped) {
    case Health::unknown: return passed ? Health::up : Health::down;
    case Health::down: return state.consecutive_passes >= rise ? Health::up : Health::down;
    case Health::up: return state.consecutive_failures >= fall ? Health::down : Health::up;
  }
  return state.undamped;
}

std::string passes_text(uint32_t passes) {
  return std::to_string(passes) + (passes == 1 ? " pass" : " passes");
}

std::string failure_text(std::string_view reason) {
  return reason.empty() ? std::string("check failed") : std::string(reason);
}

}  // namespace

double penalty_at(const HealthState& state, const HealthPolicy& policy, int64_t now_ms) {
  if (!damping_enabled(policy) || state.flap_penalty <= 0) return 0;
  const int64_t elapsed = std::max<int64_t>(now_ms - state.penalty_updated_ms, 0);
  const double decayed =
      state.flap_penalty * std::exp2(-static_cast<double>(elapsed) / static_cast<double>(policy.half_life_ms));
  return decayed < 1e-3 ? 0 : decayed;
}

std::optional<int64_t> release_time_ms(const HealthState& state, const HealthPolicy& policy) {
  if (!state.suppressed) return std::nullopt;
  if (!damping_enabled(policy) || state.flap_penalty < policy.reuse_threshold) return state.penalty_updated_ms;
  // Below the reuse threshold means strictly below: one millisecond past the crossing.
  const double half_lives = std::log2(state.flap_penalty / std::max(policy.reuse_threshold, 1e-3));
  return state.penalty_updated_ms +
         static_cast<int64_t>(std::floor(half_lives * static_cast<double>(policy.half_life_ms))) + 1;
}

bool held_down(const HealthState& state) {
  return state.health == Health::down && state.undamped == Health::up;
}

Transition observe(HealthState& state, const HealthPolicy& policy, bool passed,
                   std::string_view reason, int64_t now_ms) {
  Transition transition;
  transition.from = state.health;
  const bool held_before = held_down(state);

  state.flap_penalty = penalty_at(state, policy, now_ms);
  state.penalty_updated_ms = std::max(state.penalty_updated_ms, now_ms);
  if (state.suppressed && state.flap_penalty < policy.reuse_threshold) state.suppressed = false;

  count_result(state, passed);
  const Health undamped_before = state.undamped;
  state.undamped = next_undamped(state, policy, passed);
  const bool flapped = undamped_before != Health::unknown && undamped_before != state.undamped;
  if (flapped && damping_enabled(policy)) {
    state.flap_penalty = std::min(state.flap_penalty + policy.change_penalty, policy.max_penalty);
    if (state.flap_penalty > policy.suppress_threshold) state.suppressed = true;
  }

  // Set only when the reason changes: a steady instance keeps its reason
  // without a copy of it per check.
  std::optional<std::string> new_reason;
  if (state.undamped == Health::down) {
    // Fail fast: damping never keeps a failing instance in the answers.
    if (state.health != Health::down || flapped) new_reason = failure_text(reason);
    state.health = Health::down;
  } else if (state.health == Health::unknown) {
    state.health = Health::up;
    new_reason = "first check passed";
  } else if (state.health == Health::down) {
    if (state.suppressed) {
      new_reason = kHeldDownReason;
    } else if (state.consecutive_passes >= std::max<uint32_t>(policy.rise, 1)) {
      const bool was_held = state.reason == kHeldDownReason;
      state.health = Health::up;
      new_reason = "rise: " + passes_text(state.consecutive_passes) + (was_held ? " after flap damping" : "");
    }
  }

  transition.to = state.health;
  transition.changed = transition.from != transition.to;
  transition.reason_changed = transition.changed || (new_reason && *new_reason != state.reason);
  if (new_reason) state.reason = std::move(*new_reason);
  transition.reason = state.reason;
  transition.held_down = held_down(state);
  transition.damping_changed = transition.held_down != held_before;
  return transition;
}

bool observe_report(HealthState& state, const BackendReport& report) {
  const uint8_t weight = report.weight_percent.value_or(state.reported_weight);
  const bool draining = report.draining.value_or(state.reported_draining);
  const bool changed = !state.report_known || weight != state.reported_weight || draining != state.reported_draining;
  state.reported_weight = weight;
  state.reported_draining = draining;
  state.report_known = true;
  return changed;
}

}  // namespace rotor::probes
