#include "probes/health_state.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

TEST_SUITE_BEGIN("unit/probes/health_state");

namespace rotor::probes {
namespace {

HealthPolicy undamped_policy(uint32_t rise, uint32_t fall) {
  HealthPolicy policy;
  policy.rise = rise;
  policy.fall = fall;
  policy.change_penalty = 0;
  return policy;
}

char letter(Health health) {
  switch (health) {
    case Health::unknown: return '?';
    case Health::up: return 'U';
    case Health::down: return 'D';
  }
  return '!';
}

// Feeds "P"/"F" results one second apart; returns the health after each as "U"/"D"/"?".
std::string run(HealthState& state, const HealthPolicy& policy, const std::string& results,
                int64_t start_ms = 0, int64_t step_ms = 1000) {
  std::string healths;
  int64_t now = start_ms;
  for (char result : results) {
    observe(state, policy, result == 'P', "HTTP 503", now);
    healths += letter(state.health);
    now += step_ms;
  }
  return healths;
}

struct Sequence {
  const char* name;
  uint32_t rise;
  uint32_t fall;
  std::string results;
  std::string healths;
};

TEST_CASE("probes/health follows rise and fall") {
  const std::vector<Sequence> cases = {
      {"unknown then first pass is up", 2, 3, "P", "U"},
      {"unknown then first fail is down", 2, 3, "F", "D"},
      {"down after fall failures", 2, 3, "PFFF", "UUUD"},
      {"a pass resets the failure count", 2, 3, "PFFPFFF", "UUUUUUD"},
      {"up after rise passes", 2, 3, "FPP", "DDU"},
      {"a fail resets the pass count", 2, 3, "FPFPP", "DDDDU"},
      {"stays up while passing", 2, 3, "PPPPP", "UUUUU"},
      {"stays down while failing", 2, 3, "FFFFF", "DDDDD"},
      {"rise 1 fall 1 follows every result", 1, 1, "PFPFFPP", "UDUDDUU"},
      {"rise 3 fall 1", 3, 1, "FPPPFPP", "DDDUDDD"},
      {"rise 1 fall 5", 1, 5, "PFFFFPFFFFF", "UUUUUUUUUUD"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    HealthState state;
    CHECK(run(state, undamped_policy(c.rise, c.fall), c.results) == c.healths);
  }
}

TEST_CASE("probes/default policy with spaced results is not damped") {
  HealthState state;
  const HealthPolicy policy;  // rise 2 fall 3, damping on
  // Ten minutes between results: each penalty has decayed before the next change.
  CHECK(run(state, policy, "PFFFPPFFFPPFFFPP", 0, 600'000) == "UUUDDUUUDDUUUDDU");
  CHECK_FALSE(state.suppressed);
}

TEST_CASE("probes/transition reasons") {
  const HealthPolicy policy = undamped_policy(2, 3);
  HealthState state;

  Transition first = observe(state, policy, true, "", 0);
  CHECK(first.changed);
  CHECK(first.reason_changed);
  CHECK(first.from == Health::unknown);
  CHECK(first.to == Health::up);
  CHECK(first.reason == "first check passed");

  Transition steady = observe(state, policy, false, "timeout after 2000 ms", 1);
  CHECK_FALSE(steady.changed);
  CHECK_FALSE(steady.reason_changed);
  CHECK(steady.reason == "first check passed");
  observe(state, policy, false, "HTTP 500", 2);
  Transition down = observe(state, policy, false, "HTTP 503", 3);
  CHECK(down.changed);
  CHECK(down.from == Health::up);
  CHECK(down.to == Health::down);
  CHECK(down.reason == "HTTP 503");  // the failure that tipped it

  // Further failures keep the reason that took it down.
  Transition still_down = observe(state, policy, false, "connection refused", 4);
  CHECK_FALSE(still_down.reason_changed);
  CHECK(state.reason == "HTTP 503");

  CHECK_FALSE(observe(state, policy, true, "", 5).changed);
  Transition up = observe(state, policy, true, "", 6);
  CHECK(up.changed);
  CHECK(up.to == Health::up);
  CHECK(up.reason == "rise: 2 passes");
}

TEST_CASE("probes/transition reasons for rise 1 and an empty failure reason") {
  const HealthPolicy policy = undamped_policy(1, 1);
  HealthState state;
  CHECK(observe(state, policy, false, "", 0).reason == "check failed");
  CHECK(observe(state, policy, true, "", 1).reason == "rise: 1 pass");
}

// Rise 1 fall 1, one result a second: every result is a change.
HealthPolicy quick_flap_policy() {
  HealthPolicy policy;
  policy.rise = 1;
  policy.fall = 1;
  return policy;
}

TEST_CASE("probes/flapping gets held down") {
  const HealthPolicy policy = quick_flap_policy();
  HealthState state;
  // P: first result (no penalty); then F, P, F add ~1000 each: ~2977, not above 3000.
  CHECK(run(state, policy, "PFPF") == "UDUD");
  CHECK_FALSE(state.suppressed);
  // The fourth change passes the suppress threshold: the instance stays down.
  Transition held = observe(state, policy, true, "", 4000);
  CHECK_FALSE(held.changed);
  CHECK(held.reason_changed);
  CHECK(held.to == Health::down);
  CHECK(held.reason == kHeldDownReason);
  CHECK(state.suppressed);
  CHECK(state.undamped == Health::up);

  // More passes do not bring it up, and do not rewrite the reason.
  for (int64_t t = 5000; t < 60'000; t += 1000) {
    Transition step = observe(state, policy, true, "", t);
    CHECK_FALSE(step.changed);
    CHECK_FALSE(step.reason_changed);
    CHECK(state.health == Health::down);
  }
}

TEST_CASE("probes/flap damping releases after the penalty decays") {
  const HealthPolicy policy = quick_flap_policy();
  HealthState state;
  run(state, policy, "PFPFP");
  REQUIRE(state.suppressed);
  REQUIRE(state.health == Health::down);

  const auto release = release_time_ms(state, policy);
  REQUIRE(release.has_value());
  // ~3954 down to 750 with a 60 s half-life: about 144 s after the last change.
  const double expected = 4000 + 60'000 * std::log2(state.flap_penalty / 750);
  CHECK(static_cast<double>(*release) == doctest::Approx(expected).epsilon(0.001));

  Transition before = observe(state, policy, true, "", *release - 1000);
  CHECK_FALSE(before.changed);
  CHECK(state.suppressed);

  Transition released = observe(state, policy, true, "", *release);
  CHECK(released.changed);
  CHECK(released.from == Health::down);
  CHECK(released.to == Health::up);
  CHECK_FALSE(state.suppressed);
  CHECK(released.reason.starts_with("rise: "));
  CHECK(released.reason.ends_with(" passes after flap damping"));
}

TEST_CASE("probes/release needs rise passes in a row after the penalty decays") {
  HealthPolicy policy;  // rise 2 fall 3
  HealthState state;
  state.health = Health::down;
  state.undamped = Health::up;
  state.consecutive_passes = 10;
  state.flap_penalty = 5000;
  state.suppressed = true;
  state.reason = std::string(kHeldDownReason);

  const int64_t later = *release_time_ms(state, policy) + 1000;
  // A failure (fewer than fall) after the decay: not released on it.
  CHECK_FALSE(observe(state, policy, false, "HTTP 502", later).changed);
  CHECK(state.health == Health::down);
  CHECK_FALSE(state.suppressed);
  CHECK_FALSE(observe(state, policy, true, "", later + 5000).changed);
  Transition up = observe(state, policy, true, "", later + 10'000);
  CHECK(up.changed);
  CHECK(up.reason == "rise: 2 passes after flap damping");
}

TEST_CASE("probes/going down is never delayed by damping") {
  HealthPolicy policy;  // rise 2 fall 3
  HealthState state;
  state.health = Health::up;
  state.undamped = Health::up;
  state.flap_penalty = policy.max_penalty;
  state.suppressed = true;
  CHECK(run(state, policy, "FFF") == "UUD");
  CHECK(state.reason == "HTTP 503");
}

TEST_CASE("probes/failing again while held shows the failure") {
  const HealthPolicy policy = quick_flap_policy();
  HealthState state;
  run(state, policy, "PFPFP");
  REQUIRE(state.reason == kHeldDownReason);
  Transition failing = observe(state, policy, false, "HTTP 500", 5000);
  CHECK_FALSE(failing.changed);
  CHECK(failing.reason_changed);
  CHECK(failing.reason == "HTTP 500");
  Transition held = observe(state, policy, true, "", 6000);
  CHECK(held.reason == kHeldDownReason);
}

TEST_CASE("probes/damping starts and ends as transitions of held_down") {
  const HealthPolicy policy = quick_flap_policy();
  HealthState state;
  // Each result: P/F, then whether damping changed with it and whether the
  // instance is held down after it (health down, rise/fall alone say up).
  struct Step {
    char result;
    bool damping_changed;
    bool held;
  };
  const Step steps[] = {
      {'P', false, false}, {'F', false, false}, {'P', false, false}, {'F', false, false},
      {'P', true, true},    // the fourth change suppresses: damping starts
      {'P', false, true},   // still held: no change
      {'F', true, false},   // failing again: down for a failure, not held by damping
      {'P', true, true},    // passing again: held again
  };
  int64_t now = 0;
  for (const Step& step : steps) {
    CAPTURE(now);
    const Transition transition = observe(state, policy, step.result == 'P', "HTTP 503", now);
    CHECK(transition.damping_changed == step.damping_changed);
    CHECK(transition.held_down == step.held);
    CHECK(held_down(state) == step.held);
    CHECK(state.health == (now == 0 || now == 2000 ? Health::up : Health::down));
    now += 1000;
  }
  // Released once the penalty decays: damping ends with the rise to up.
  const int64_t release = *release_time_ms(state, policy);
  const Transition released = observe(state, policy, true, "", release);
  CHECK(released.changed);
  CHECK(released.damping_changed);
  CHECK_FALSE(released.held_down);
  CHECK_FALSE(held_down(state));
}

TEST_CASE("probes/realistic flapping at rise 2 fall 3 every 5s is held") {
  const HealthPolicy policy;
  HealthState state;
  int64_t now = 0;
  bool held = false;
  for (int cycle = 0; cycle < 5 && !held; ++cycle) {
    for (char result : std::string("FFFPP")) {
      observe(state, policy, result == 'P', "HTTP 503", now);
      now += 5000;
    }
    held = state.health == Health::down && state.reason == kHeldDownReason;
  }
  CHECK(held);
  // Steady passes bring it back within the maximum hold.
  int64_t up_at = -1;
  for (int64_t t = now; t < now + 10 * 60'000; t += 5000) {
    if (observe(state, policy, true, "", t).changed) {
      up_at = t;
      break;
    }
  }
  REQUIRE(up_at > 0);
  CHECK(up_at - now < 4 * 60'000 + 5000);
  CHECK(state.health == Health::up);
}

TEST_CASE("probes/flap penalty decays caps and ignores a clock going backwards") {
  HealthPolicy policy;
  HealthState state;
  state.flap_penalty = 2000;
  state.penalty_updated_ms = 100'000;
  CHECK(penalty_at(state, policy, 160'000) == doctest::Approx(1000));
  CHECK(penalty_at(state, policy, 220'000) == doctest::Approx(500));
  CHECK(penalty_at(state, policy, 50'000) == doctest::Approx(2000));
  CHECK_FALSE(release_time_ms(state, policy).has_value());

  // Rise 1 fall 1 flapping every millisecond: the penalty stops at the cap.
  HealthPolicy quick = quick_flap_policy();
  HealthState flapping;
  run(flapping, quick, std::string(100, 'P') + std::string("FPFPFPFPFPFPFPFPFPFPFPFP"), 0, 1);
  CHECK(flapping.flap_penalty <= quick.max_penalty);
  CHECK(flapping.flap_penalty > quick.max_penalty - 100);

  // A late result stamped earlier than the last one does not rewind the clock.
  HealthState backwards;
  observe(backwards, quick, true, "", 10'000);
  observe(backwards, quick, false, "x", 20'000);
  observe(backwards, quick, true, "", 5'000);
  CHECK(backwards.penalty_updated_ms == 20'000);
  CHECK(backwards.flap_penalty == doctest::Approx(2000));
}

TEST_CASE("probes/damping off never holds") {
  HealthState state;
  HealthPolicy policy = quick_flap_policy();
  policy.change_penalty = 0;
  CHECK(run(state, policy, "PFPFPFPFPFPF", 0, 1) == "UDUDUDUDUDUD");
  CHECK_FALSE(state.suppressed);
}

TEST_CASE("probes/backend report changes only when its value does") {
  struct Step {
    const char* name;
    BackendReport report;
    bool changed;
    uint8_t weight;
    bool draining;
  };
  const auto report = [](std::optional<uint8_t> weight, std::optional<bool> draining) {
    return BackendReport{weight, draining, ""};
  };
  const std::vector<Step> steps = {
      {"the first report counts even at full weight", report(100, false), true, 100, false},
      {"the same again is no change", report(100, false), false, 100, false},
      {"lower weight", report(25, false), true, 25, false},
      {"25 repeated publishes nothing", report(25, false), false, 25, false},
      {"an ignored weight keeps 25", report(std::nullopt, false), false, 25, false},
      {"draining", report(25, true), true, 25, true},
      {"an ignored state keeps draining", report(25, std::nullopt), false, 25, true},
      {"up again with full weight", report(100, false), true, 100, false},
  };
  HealthState state;
  for (const Step& step : steps) {
    CAPTURE(step.name);
    CHECK(observe_report(state, step.report) == step.changed);
    CHECK(state.reported_weight == step.weight);
    CHECK(state.reported_draining == step.draining);
  }
  // The report decides no health.
  CHECK(state.health == Health::unknown);
}

}  // namespace
}  // namespace rotor::probes

TEST_SUITE_END();
