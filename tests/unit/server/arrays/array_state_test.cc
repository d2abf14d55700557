#include "server/arrays/array_state.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/unit/server/arrays/array_fixtures.h"

TEST_SUITE_BEGIN("unit/server/arrays/array_state");

namespace rotor::arrays {
namespace {

using test::build;
using test::instance;
using test::texts;

// Lead orders follow the configured weights under the weighted policy
// (round robin builds them from the backends' reported percents alone).
ArraySettings weighted_policy() {
  ArraySettings settings;
  settings.policy = Policy::weighted;
  return settings;
}

struct HealthCase {
  const char* what;
  std::vector<Instance> instances;
  WhenAllDown when_all_down;
  std::vector<std::string> v4;  // candidates, in registry order
  bool exists;
  bool failed_open;
  bool degraded;
};

TEST_CASE("arrays/build filters candidates by admin state and health") {
  using enum Health;
  using enum AdminState;
  const std::vector<HealthCase> cases = {
      {"up and unknown both answer",
       {instance("192.0.2.1", 100, up), instance("192.0.2.2", 100, unknown)},
       WhenAllDown::all,
       {"192.0.2.1", "192.0.2.2"},
       true,
       false,
       false},
      {"down is left out and degrades",
       {instance("192.0.2.1", 100, up), instance("192.0.2.2", 100, down)},
       WhenAllDown::all,
       {"192.0.2.1"},
       true,
       false,
       true},
      {"draining and disabled never answer, even when up",
       {instance("192.0.2.1", 100, up, draining), instance("192.0.2.2", 100, up, disabled),
        instance("192.0.2.3", 100, unknown)},
       WhenAllDown::all,
       {"192.0.2.3"},
       true,
       false,
       false},
      {"only draining and disabled: the family does not exist",
       {instance("192.0.2.1", 100, up, draining), instance("192.0.2.2", 100, up, disabled)},
       WhenAllDown::all,
       {},
       false,
       false,
       false},
      {"a down draining instance does not degrade",
       {instance("192.0.2.1", 100, up), instance("192.0.2.2", 100, down, draining)},
       WhenAllDown::all,
       {"192.0.2.1"},
       true,
       false,
       false},
      {"all down, when_all_down all: fail open to every enabled instance",
       {instance("192.0.2.1", 100, down), instance("192.0.2.2", 100, down),
        instance("192.0.2.3", 100, up, disabled)},
       WhenAllDown::all,
       {"192.0.2.1", "192.0.2.2"},
       true,
       true,
       true},
      {"all down, when_all_down none: no candidates",
       {instance("192.0.2.1", 100, down), instance("192.0.2.2", 100, down)},
       WhenAllDown::none,
       {},
       true,
       false,
       true},
      {"no instances at all", {}, WhenAllDown::all, {}, false, false, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    ArraySettings settings;
    settings.ttl = 30;
    settings.degraded_ttl = 5;
    settings.when_all_down = c.when_all_down;
    const auto state = build(c.instances, settings);
    CHECK(texts(state->v4, 4) == c.v4);
    CHECK(state->v4.exists == c.exists);
    CHECK(state->v4.failed_open == c.failed_open);
    CHECK(state->degraded == c.degraded);
    CHECK(state->answer_ttl == (c.degraded ? 5u : 30u));
    CHECK(state->v4.weighted_leads.empty() == c.v4.empty());
    CHECK_FALSE(state->v6.exists);
    CHECK(state->instances.size() == c.instances.size());
  }
}

TEST_CASE("arrays/build keeps families apart - a down IPv6 instance degrades the whole array") {
  const auto state = build({instance("192.0.2.1"), instance("2001:db8::1", 100, Health::down),
                            instance("2001:db8::2"), instance("192.0.2.2")});
  CHECK(texts(state->v4, 4) == std::vector<std::string>{"192.0.2.1", "192.0.2.2"});
  CHECK(texts(state->v6, 6) == std::vector<std::string>{"2001:db8::2"});
  CHECK(state->v4.exists);
  CHECK(state->v6.exists);
  CHECK(state->degraded);
  CHECK(state->answer_ttl == ArraySettings{}.degraded_ttl);
  CHECK(state->name_text == "web.lb.example.com.");
  CHECK(state->slot == 7);
}

TEST_CASE("arrays/sticky seeds depend on the address alone") {
  auto a = instance("192.0.2.1", 100);
  auto b = instance("192.0.2.1", 500);  // another id and weight, same address
  const auto first = build({a, instance("192.0.2.2")});
  const auto second = build({instance("192.0.2.9"), b});
  CHECK(first->v4.instances[0].sticky_seed == second->v4.instances[1].sticky_seed);
  CHECK(first->v4.instances[0].sticky_seed != first->v4.instances[1].sticky_seed);
  const auto v6 = build({instance("::c000:201")});  // the same 4 bytes at the end, another family
  CHECK(v6->v6.instances[0].sticky_seed != first->v4.instances[0].sticky_seed);
}

std::map<uint16_t, size_t> lead_counts(const std::vector<uint16_t>& leads) {
  std::map<uint16_t, size_t> counts;
  for (auto lead : leads) ++counts[lead];
  return counts;
}

TEST_CASE("arrays/weighted leads: one smooth period in proportion to the weights") {
  struct Case {
    std::vector<uint16_t> weights;
    std::vector<uint16_t> expected;  // the whole period
  };
  const std::vector<Case> cases = {
      {{100}, {0}},
      {{100, 100, 100}, {0, 1, 2}},
      {{100, 200, 700}, {2, 1, 2, 2, 0, 2, 2, 1, 2, 2}},
      {{5, 1, 1}, {0, 0, 1, 0, 2, 0, 0}},  // nginx's example: a a b a c a a
      {{0, 3}, {1, 0, 1, 1}},              // weight 0 counts as 1
  };
  for (const auto& c : cases) {
    std::vector<Instance> instances;
    for (size_t i = 0; i < c.weights.size(); ++i) {
      instances.push_back(instance("192.0.2." + std::to_string(i + 1), c.weights[i]));
    }
    CHECK(build(instances, weighted_policy())->v4.weighted_leads == c.expected);
  }
}

TEST_CASE("arrays/backend reports scale weights and drain at build time") {
  struct Case {
    const char* what;
    uint16_t configured;
    uint8_t reported_weight;
    bool reported_draining;
    uint16_t effective;  // reported_effective_weight
  };
  const std::vector<Case> cases = {
      {"no report is the configured weight", 100, 100, false, 100},
      {"a quarter", 100, 25, false, 25},
      {"rounded to nearest", 10, 25, false, 3},
      {"at least 1 while above 0", 1, 1, false, 1},
      {"a large weight", 1000, 50, false, 500},
      {"0 asks for no new clients", 100, 0, false, 0},
      {"draining wins over a weight", 100, 80, true, 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Instance reported = instance("192.0.2.1", c.configured);
    reported.reported_weight = c.reported_weight;
    reported.reported_draining = c.reported_draining;
    CHECK(reported_effective_weight(reported) == c.effective);

    // In the candidates: the effective weight, or left out like a drained instance.
    // Weighted: round robin scales a report from 100, not from the configured weight.
    const auto state = build({reported, instance("192.0.2.2", 100)}, weighted_policy());
    if (c.effective == 0) {
      CHECK(texts(state->v4, 4) == std::vector<std::string>{"192.0.2.2"});
      CHECK(state->v4.enabled_count == 1);
    } else {
      REQUIRE(state->v4.instances.size() == 2);
      CHECK(state->v4.instances[0].weight == c.effective);
    }
  }
}

TEST_CASE("arrays/a reported quarter leads a quarter as often") {
  Instance loaded = instance("192.0.2.1", 100);
  loaded.reported_weight = 25;
  const auto state = build({loaded, instance("192.0.2.2", 100)});
  const auto& leads = state->v4.weighted_leads;
  const auto first = std::count(leads.begin(), leads.end(), uint16_t{0});
  // 25 : 100 reduced to 1 : 4 over one period of 5.
  CHECK(leads.size() == 5);
  CHECK(first == 1);
}

TEST_CASE("arrays/weighted leads are scaled to at most 1024 steps within the stated bound") {
  struct Case {
    std::vector<uint16_t> weights;
  };
  const std::vector<Case> cases = {
      {{1000, 999, 1}},
      {{997, 991, 983, 977, 971}},
      {std::vector<uint16_t>(300, 7)},  // gcd-reduced to 300 steps, no scaling
  };
  for (const auto& c : cases) {
    std::vector<Instance> instances;
    double total = 0;
    for (size_t i = 0; i < c.weights.size(); ++i) {
      instances.push_back(instance(
          "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), c.weights[i]));
      total += c.weights[i];
    }
    const auto leads = build(instances, weighted_policy())->v4.weighted_leads;
    REQUIRE(leads.size() <= 1024);
    const auto counts = lead_counts(leads);
    const double n = static_cast<double>(c.weights.size());
    for (size_t i = 0; i < c.weights.size(); ++i) {
      const double want = c.weights[i] / total;
      const double got = static_cast<double>(counts.count(static_cast<uint16_t>(i))
                                                 ? counts.at(static_cast<uint16_t>(i))
                                                 : 0) /
                         static_cast<double>(leads.size());
      CAPTURE(i);
      CHECK(counts.count(static_cast<uint16_t>(i)) == 1);  // everyone leads sometimes
      // The bound documented in array_state.cc: (1 + share * n) / S.
      CHECK(std::abs(got - want) <= (1 + want * n) / static_cast<double>(leads.size()));
    }
  }
}

TEST_CASE("arrays/build groups candidates by region with their own lead orders") {
  // Geo: the policy that reads the regions' lead orders and follows configured weights.
  ArraySettings geo_policy;
  geo_policy.policy = Policy::geo;
  auto regions = geo::RegionTable::build({{"eu", 50, 8, {}}, {"us", 40, -74, {}}});
  const auto state = build({instance("192.0.2.1", 100, Health::up, AdminState::enabled, "us"),
                            instance("192.0.2.2", 300, Health::up, AdminState::enabled, "eu"),
                            instance("192.0.2.3", 100, Health::up, AdminState::enabled, ""),
                            instance("192.0.2.4", 100, Health::up, AdminState::enabled, "eu"),
                            instance("192.0.2.5", 100, Health::down, AdminState::enabled, "us")},
                           geo_policy, regions.get());
  const auto& v4 = state->v4;
  REQUIRE(v4.instances.size() == 4);
  CHECK(v4.instances[0].region == regions->id("us"));
  CHECK(v4.instances[2].region == kNoRegion);
  CHECK(v4.by_region == std::vector<uint16_t>{1, 3, 0, 2});  // eu, us, then no region
  REQUIRE(v4.regions.size() == 3);
  CHECK(v4.regions[0].region == regions->id("eu"));
  CHECK(v4.regions[0].begin == 0);
  CHECK(v4.regions[0].end == 2);
  CHECK(v4.regions[0].weighted_leads == std::vector<uint16_t>{0, 0, 1, 0});  // 300 : 100
  CHECK(v4.regions[1].region == regions->id("us"));
  CHECK(v4.regions[1].weighted_leads == std::vector<uint16_t>{2});
  CHECK(v4.regions[2].region == kNoRegion);
  CHECK(v4.regions[2].weighted_leads == std::vector<uint16_t>{3});
}

TEST_CASE("arrays/build refuses more instances than the selector can hold") {
  std::vector<Instance> instances(kMaxInstancesPerArray + 1, instance("192.0.2.1"));
  CHECK_THROWS_WITH_AS(build(instances), "too many instances (at most 8192 per array)",
                       std::length_error);
}

}  // namespace
}  // namespace rotor::arrays

TEST_SUITE_END();
