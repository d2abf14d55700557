#include "server/arrays/selector.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "server/geo/geoip.h"
#include "tests/unit/server/arrays/array_fixtures.h"
#include "tests/unit/support/allocation_counter.h"

TEST_SUITE_BEGIN("unit/server/arrays/selector");

namespace rotor::arrays {
namespace {

using test::build;
using test::client;
using test::instance;

// Runs one selection and returns the answer's addresses in order.
struct Picked {
  Selection selection;
  std::vector<std::string> addresses;
};

Picked pick(const ArrayState& state, uint8_t family, uint32_t& rotation,
            const geo::GeoContext& geo = {}, const geo::ClientAddress& who = {}) {
  static const auto scratch = std::make_unique<SelectionScratch>();
  Picked picked;
  picked.selection = select_instances(state, family, geo, who, rotation, *scratch);
  for (size_t i = 0; i < picked.selection.count; ++i) {
    picked.addresses.push_back(test::text(*scratch->chosen[i], family));
  }
  return picked;
}

ArraySettings with_policy(Policy policy) {
  ArraySettings settings;
  settings.policy = policy;
  settings.ttl = 30;
  settings.degraded_ttl = 5;
  return settings;
}

TEST_CASE("arrays/select answers nodata for a missing family or when all are down") {
  struct Case {
    const char* what;
    std::vector<Instance> instances;
    WhenAllDown when_all_down;
    uint8_t family;
    Selection::Kind kind;
    uint32_t ttl;
    std::vector<std::string> addresses;
  };
  using enum Selection::Kind;
  const std::vector<Case> cases = {
      {"no AAAA instance", {instance("192.0.2.1")}, WhenAllDown::all, 6, nodata, 30, {}},
      {"no AAAA instance while degraded",
       {instance("192.0.2.1"), instance("192.0.2.2", 100, Health::down)},
       WhenAllDown::all,
       6,
       nodata,
       5,
       {}},
      {"only draining",
       {instance("192.0.2.1", 100, Health::up, AdminState::draining)},
       WhenAllDown::all,
       4,
       nodata,
       30,
       {}},
      {"all down, fail closed",
       {instance("192.0.2.1", 100, Health::down)},
       WhenAllDown::none,
       4,
       nodata,
       5,
       {}},
      {"all down, fail open",
       {instance("192.0.2.1", 100, Health::down), instance("192.0.2.2", 100, Health::down)},
       WhenAllDown::all,
       4,
       answer,
       5,
       {"192.0.2.1", "192.0.2.2"}},
      {"healthy", {instance("2001:db8::1")}, WhenAllDown::none, 6, answer, 30, {"2001:db8::1"}},
      {"not a family", {instance("192.0.2.1")}, WhenAllDown::all, 5, nodata, 0, {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto settings = with_policy(Policy::round_robin);
    settings.when_all_down = c.when_all_down;
    const auto state = build(c.instances, settings);
    uint32_t rotation = 0;
    const auto picked = pick(*state, c.family, rotation);
    CHECK(picked.selection.kind == c.kind);
    CHECK(picked.selection.ttl == c.ttl);
    CHECK(picked.selection.ecs_scope == 0);
    CHECK(picked.addresses == c.addresses);
  }
}

TEST_CASE("arrays/min_healthy answers every enabled instance below the threshold - panic mode") {
  using enum Health;
  struct Case {
    const char* what;
    double min_healthy;
    std::vector<Health> health;  // of 192.0.2.1, .2, ...
    WhenAllDown when_all_down;
    std::vector<std::string> answered;  // in candidate order
    bool panic;
    bool failed_open;
  };
  const std::vector<std::string> all4{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"};
  const std::vector<Case> cases = {
      {"1 of 4 up with 0.5: panic", 0.5, {up, down, down, down}, WhenAllDown::all, all4, true, false},
      {"2 of 4 up with 0.5: at the threshold, no panic", 0.5, {up, up, down, down}, WhenAllDown::all,
       {"192.0.2.1", "192.0.2.2"}, false, false},
      {"1 of 4 up with 0 (off)", 0, {up, down, down, down}, WhenAllDown::all, {"192.0.2.1"}, false,
       false},
      {"unknown counts as healthy", 0.5, {unknown, up, down, down}, WhenAllDown::all,
       {"192.0.2.1", "192.0.2.2"}, false, false},
      {"3 of 4 up with 1: panic", 1, {up, up, up, down}, WhenAllDown::all, all4, true, false},
      {"0.3 of 10 is 3: 3 up is enough", 0.3,
       {up, up, up, down, down, down, down, down, down, down}, WhenAllDown::all,
       {"192.0.2.1", "192.0.2.2", "192.0.2.3"}, false, false},
      {"none up: when_all_down all fails open, not panic", 0.5, {down, down, down, down},
       WhenAllDown::all, all4, false, true},
      {"none up: when_all_down none keeps its NODATA", 0.5, {down, down, down, down},
       WhenAllDown::none, {}, false, false},
      {"1 of 4 up with 0.5 and when_all_down none: still panic", 0.5, {down, down, up, down},
       WhenAllDown::none, all4, true, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    std::vector<Instance> instances;
    for (size_t i = 0; i < c.health.size(); ++i) {
      instances.push_back(instance("192.0.2." + std::to_string(i + 1), 100, c.health[i]));
    }
    // A disabled instance is never counted nor answered, panic or not.
    instances.push_back(instance("192.0.2.99", 100, up, AdminState::disabled));
    auto settings = with_policy(Policy::round_robin);
    settings.min_healthy = c.min_healthy;
    settings.when_all_down = c.when_all_down;
    const auto state = build(instances, settings);
    CHECK(test::texts(state->v4, 4) == c.answered);
    CHECK(state->v4.panic == c.panic);
    CHECK(state->panic == c.panic);
    CHECK(state->v4.failed_open == c.failed_open);
    CHECK(state->v4.enabled_count == c.health.size());
    uint32_t rotation = 0;
    const auto picked = pick(*state, 4, rotation);
    std::vector<std::string> sorted = picked.addresses;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == c.answered);
    // Panic or not, some enabled instance is down: the short TTL.
    if (!c.answered.empty()) CHECK(picked.selection.ttl == 5);
  }
}

TEST_CASE("arrays/min_healthy counts each family on its own") {
  auto settings = with_policy(Policy::round_robin);
  settings.min_healthy = 0.5;
  const auto state = build({instance("192.0.2.1", 100, Health::up), instance("192.0.2.2", 100, Health::down),
                            instance("192.0.2.3", 100, Health::down), instance("2001:db8::1"),
                            instance("2001:db8::2", 100, Health::down)},
                           settings);
  CHECK(state->v4.panic);
  CHECK(state->v4.healthy_count == 1);
  CHECK_FALSE(state->v6.panic);  // 1 of 2 is the threshold itself
  CHECK(test::texts(state->v6, 6) == std::vector<std::string>{"2001:db8::1"});
  CHECK(state->panic);
}

TEST_CASE("arrays/slow start ramps an instance that came back up linearly to its weight") {
  struct Case {
    const char* what;
    Policy policy;
    int64_t slow_start_ms;
    Health health;       // of the instance that came back at t = 10000
    int64_t now_ms;
    uint16_t effective;  // its weight in the candidates
    bool ramping;
    int leads_of_1000;   // how many of 1000 queries it leads
  };
  using enum Health;
  const std::vector<Case> cases = {
      {"weighted, at the start: weight 1", Policy::weighted, 2000, up, 10000, 1, true, 3},
      {"weighted, a quarter in", Policy::weighted, 2000, up, 10500, 75, true, 200},
      {"weighted, halfway", Policy::weighted, 2000, up, 11000, 150, true, 333},
      {"weighted, over: its full weight", Policy::weighted, 2000, up, 12000, 300, false, 500},
      {"weighted, long after", Policy::weighted, 2000, up, 99000, 300, false, 500},
      {"weighted, clock before the start: weight 1", Policy::weighted, 2000, up, 9000, 1, true, 3},
      {"weighted, slow start off", Policy::weighted, 0, up, 10000, 300, false, 500},
      {"weighted, unknown is not ramping", Policy::weighted, 2000, unknown, 10500, 300, false, 500},
      {"round robin, as weight 100, a quarter in", Policy::round_robin, 2000, up, 10500, 25, true,
       200},
      {"round robin, over: an equal share", Policy::round_robin, 2000, up, 12000, 100, false, 500},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto settings = with_policy(c.policy);
    settings.slow_start_ms = c.slow_start_ms;
    // a has weight 300 and no ramp; b (weight 300) came back at 10000.
    auto b = instance("192.0.2.2", 300, c.health);
    b.slow_start_from_ms = 10000;
    const std::vector<Instance> instances = {instance("192.0.2.1", 300), b};
    const auto state = ArrayState::build(*zones::name_from_text("web.lb.example.com."), 7, settings,
                                         instances, *geo::RegionTable::build({}), c.now_ms);
    REQUIRE(state->v4.instances.size() == 2);
    CHECK(state->v4.instances[1].weight == c.effective);
    CHECK(state->v4.ramping == c.ramping);
    uint32_t rotation = 0;
    int leads = 0;
    for (int i = 0; i < 1000; ++i) leads += pick(*state, 4, rotation).addresses[0] == "192.0.2.2";
    // The ideal share of b's leads is effective / (full + effective), to one step of the order.
    CHECK(std::abs(leads - c.leads_of_1000) <= 3);
  }
}

TEST_CASE("arrays/round robin rotates every candidate through the lead equally") {
  const auto state = build({instance("192.0.2.1"), instance("192.0.2.2", 900),
                            instance("192.0.2.3", 100, Health::unknown)},
                           with_policy(Policy::round_robin));
  uint32_t rotation = 0;
  std::map<std::string, int> leads;
  for (int i = 0; i < 3000; ++i) {
    const auto picked = pick(*state, 4, rotation);
    REQUIRE(picked.addresses.size() == 3);
    ++leads[picked.addresses[0]];
    if (i < 3) {
      const std::vector<std::vector<std::string>> expected = {
          {"192.0.2.1", "192.0.2.2", "192.0.2.3"},
          {"192.0.2.2", "192.0.2.3", "192.0.2.1"},
          {"192.0.2.3", "192.0.2.1", "192.0.2.2"}};
      CHECK(picked.addresses == expected[static_cast<size_t>(i)]);
    }
    CHECK(picked.selection.ecs_scope == 0);
    CHECK(picked.selection.ttl == 30);
  }
  CHECK(rotation == 3000);
  CHECK(leads ==
        std::map<std::string, int>{{"192.0.2.1", 1000}, {"192.0.2.2", 1000}, {"192.0.2.3", 1000}});
}

TEST_CASE("arrays/backend reports lower a share under every policy") {
  struct Case {
    Policy policy;
    std::map<std::string, int> leads;  // over 3000 selections
  };
  // .1 configured 100 reports 25%, .2 configured 300 reports nothing, .3 drains itself.
  const std::vector<Case> cases = {
      // Round robin ignores configured weights but not reports: 25 : 100.
      {Policy::round_robin, {{"192.0.2.1", 600}, {"192.0.2.2", 2400}}},
      // Weighted: 25 : 300.
      {Policy::weighted, {{"192.0.2.1", 231}, {"192.0.2.2", 2769}}},
  };
  for (const Case& c : cases) {
    CAPTURE(to_string(c.policy));
    Instance loaded = instance("192.0.2.1");
    loaded.reported_weight = 25;
    Instance draining = instance("192.0.2.3");
    draining.reported_draining = true;
    const auto state = build({loaded, instance("192.0.2.2", 300), draining}, with_policy(c.policy));
    uint32_t rotation = 0;
    std::map<std::string, int> leads;
    for (int i = 0; i < 3000; ++i) {
      const auto picked = pick(*state, 4, rotation);
      REQUIRE(picked.addresses.size() == 2);
      ++leads[picked.addresses[0]];
    }
    CHECK(leads == c.leads);
  }
}

TEST_CASE("arrays/weighted leads follow the weights within 1%") {
  struct Case {
    std::vector<uint16_t> weights;
  };
  const std::vector<Case> cases = {
      {{100, 200, 700}}, {{1, 1}}, {{1000, 999, 1}}, {{10, 20, 30, 40, 50, 60, 70}}};
  for (const auto& c : cases) {
    std::vector<Instance> instances;
    double total = 0;
    for (size_t i = 0; i < c.weights.size(); ++i) {
      instances.push_back(instance("192.0.2." + std::to_string(i + 1), c.weights[i]));
      total += c.weights[i];
    }
    const auto state = build(instances, with_policy(Policy::weighted));
    uint32_t rotation = 12345;  // any start
    std::map<std::string, int> leads;
    constexpr int kRuns = 10000;
    for (int i = 0; i < kRuns; ++i) {
      const auto picked = pick(*state, 4, rotation);
      REQUIRE(picked.addresses.size() == c.weights.size());
      CHECK(std::set<std::string>(picked.addresses.begin(), picked.addresses.end()).size() ==
            c.weights.size());
      ++leads[picked.addresses[0]];
    }
    for (size_t i = 0; i < c.weights.size(); ++i) {
      const auto address = "192.0.2." + std::to_string(i + 1);
      CAPTURE(address);
      CHECK(std::abs(leads[address] / double(kRuns) - c.weights[i] / total) <= 0.01);
    }
  }
}

TEST_CASE("arrays/max_answers caps the answer") {
  const std::vector<std::pair<uint16_t, size_t>> cases = {{0, 5}, {1, 1}, {3, 3}, {5, 5}, {9, 5}};
  for (const auto policy : {Policy::round_robin, Policy::weighted, Policy::geo, Policy::sticky}) {
    for (const auto& [max_answers, expected] : cases) {
      CAPTURE(to_string(policy));
      CAPTURE(max_answers);
      auto settings = with_policy(policy);
      settings.max_answers = max_answers;
      const auto state = build({instance("192.0.2.1"), instance("192.0.2.2"), instance("192.0.2.3"),
                                instance("192.0.2.4"), instance("192.0.2.5")},
                               settings);
      uint32_t rotation = 0;
      CHECK(pick(*state, 4, rotation, {}, client("198.51.100.7", 32, false)).addresses.size() ==
            expected);
    }
  }
}

TEST_CASE("arrays/a smaller room answers the first records of the full order") {
  // 40 instances in 4 regions with varied weights, so every policy has tiers,
  // ties and leads to get wrong if a bounded order were not the full one's prefix.
  const auto regions = geo::RegionTable::build({{"eu", 50.1, 8.7, {"us"}}, {"us", 40.7, -74.0, {}},
                                                {"ap", 35.7, 139.7, {}}, {"lab", {}, {}, {}}});
  const auto networks = geo::NetworkTable::build({{"198.51.100.0/24", "eu"}}, *regions);
  const geo::GeoContext geo{regions, networks, nullptr};
  const char* region_names[] = {"eu", "us", "ap", "lab"};
  std::vector<Instance> instances;
  for (int i = 1; i <= 40; ++i) {
    instances.push_back(instance("192.0.2." + std::to_string(i), static_cast<uint16_t>(1 + (i * 37) % 200),
                                 Health::up, AdminState::enabled, region_names[i % 4]));
  }
  const auto scratch = std::make_unique<SelectionScratch>();
  auto addresses = [&](const ArrayState& state, const geo::ClientAddress& who, uint32_t rotation,
                       size_t room) {
    const Selection selection = select_instances(state, 4, geo, who, rotation, *scratch, room);
    std::vector<std::string> out;
    for (size_t i = 0; i < selection.count; ++i) out.push_back(test::text(*scratch->chosen[i], 4));
    return out;
  };
  for (const auto policy : {Policy::round_robin, Policy::weighted, Policy::geo, Policy::sticky}) {
    for (const uint16_t max_answers : {uint16_t{0}, uint16_t{7}}) {
      auto settings = with_policy(policy);
      settings.max_answers = max_answers;
      const auto state = build(instances, settings, regions.get());
      for (const auto& who : {client("198.51.100.9", 32, false), client("203.0.113.0", 24)}) {
        for (uint32_t rotation = 0; rotation < 50; rotation += 7) {
          const auto full = addresses(*state, who, rotation, kMaxInstancesPerArray);
          CHECK(full.size() == (max_answers == 0 ? 40u : max_answers));
          for (const size_t room : {size_t{0}, size_t{1}, size_t{3}, size_t{39}, size_t{40}}) {
            CAPTURE(to_string(policy));
            CAPTURE(max_answers);
            CAPTURE(rotation);
            CAPTURE(room);
            const auto bounded = addresses(*state, who, rotation, room);
            const size_t expected = std::min(full.size(), std::max<size_t>(room, 1));
            REQUIRE(bounded.size() == expected);
            CHECK(bounded == std::vector<std::string>(full.begin(), full.begin() + expected));
          }
        }
      }
    }
  }
}

TEST_CASE("arrays/reads_client_address names the policies whose answer depends on the client") {
  // The responder gives the other policies no client: their answers must be
  // the same for every client, and those of the two that read it must not.
  const auto regions = geo::RegionTable::build({{"eu", 50.1, 8.7, {}}, {"us", 40.7, -74.0, {}}});
  const auto networks = geo::NetworkTable::build({{"198.51.100.0/24", "eu"}}, *regions);
  const geo::GeoContext geo{regions, networks, nullptr};
  std::vector<Instance> instances;
  for (int i = 1; i <= 12; ++i) {
    instances.push_back(instance("192.0.2." + std::to_string(i), static_cast<uint16_t>(10 * i),
                                 Health::up, AdminState::enabled, i % 2 == 0 ? "eu" : "us"));
  }
  struct Case {
    Policy policy;
    bool reads;
  };
  const auto scratch = std::make_unique<SelectionScratch>();
  for (const Case c : {Case{Policy::round_robin, false}, Case{Policy::weighted, false},
                       Case{Policy::geo, true}, Case{Policy::sticky, true}}) {
    CAPTURE(to_string(c.policy));
    CHECK(reads_client_address(c.policy) == c.reads);
    const auto state = build(instances, with_policy(c.policy), regions.get());
    auto answer = [&](const geo::ClientAddress& who, uint32_t rotation) {
      const Selection selection = select_instances(*state, 4, geo, who, rotation, *scratch);
      std::vector<std::string> out{std::to_string(selection.ecs_scope)};
      for (size_t i = 0; i < selection.count; ++i) out.push_back(test::text(*scratch->chosen[i], 4));
      return out;
    };
    bool differs = false;
    for (uint32_t rotation = 0; rotation < 12; ++rotation) {
      const auto without_client = answer({}, rotation);
      for (const auto& who : {client("198.51.100.9", 32, false), client("198.51.100.0", 24),
                              client("203.0.113.7", 32, false), client("2001:db8::1", 56)}) {
        const auto with_client = answer(who, rotation);
        if (!c.reads) CHECK(with_client == without_client);
        differs = differs || with_client != without_client;
      }
    }
    CHECK(differs == c.reads);
  }
}

// eu prefers us; ap and sa are only positioned; "lab" has no position.
struct GeoWorld {
  std::shared_ptr<const geo::RegionTable> regions = geo::RegionTable::build({
      {"eu", 50.1, 8.7, {"us"}},
      {"us", 40.7, -74.0, {}},
      {"ap", 35.7, 139.7, {}},
      {"sa", -23.5, -46.6, {}},
      {"lab", std::nullopt, std::nullopt, {}},
  });
  std::shared_ptr<const geo::NetworkTable> networks =
      geo::NetworkTable::build({{"198.51.100.0/24", "eu"},
                                {"203.0.113.0/24", "ap"},
                                {"10.0.0.0/8", "us"},
                                {"10.1.0.0/28", "ap"},
                                {"2001:db8:100::/40", "us"},
                                {"2001:db8:200::/48", "eu"}},
                               *regions);
  geo::GeoContext context{regions, networks, nullptr};

  std::shared_ptr<const ArrayState> state =
      build({instance("192.0.2.1", 100, Health::up, AdminState::enabled, "eu"),
             instance("192.0.2.2", 300, Health::up, AdminState::enabled, "eu"),
             instance("192.0.2.3", 100, Health::up, AdminState::enabled, "us"),
             instance("192.0.2.4", 100, Health::up, AdminState::enabled, "ap"),
             instance("192.0.2.5", 100, Health::up, AdminState::enabled, ""),
             instance("192.0.2.6", 100, Health::up, AdminState::enabled, "lab"),
             instance("2001:db8::1", 100, Health::up, AdminState::enabled, "eu"),
             instance("2001:db8::2", 100, Health::up, AdminState::enabled, "us")},
            with_policy(Policy::geo), regions.get());
};

TEST_CASE("arrays/geo orders regions by tier from the client's network") {
  GeoWorld world;
  struct Case {
    const char* what;
    geo::ClientAddress who;
    uint8_t family;
    std::vector<std::set<std::string>> tiers;  // each tier in any order
    uint8_t scope;
  };
  const std::set<std::string> eu = {"192.0.2.1", "192.0.2.2"};
  const std::set<std::string> unranked = {"192.0.2.5", "192.0.2.6"};
  const std::vector<Case> cases = {
      {"ECS v4 in eu: eu, then its preference us, then ap by distance, then the unranked",
       client("198.51.100.0", 24),
       4,
       {eu, {"192.0.2.3"}, {"192.0.2.4"}, unranked},
       24},
      {"v4 source address in eu",
       client("198.51.100.77", 32, false),
       4,
       {eu, {"192.0.2.3"}, {"192.0.2.4"}, unranked},
       24},
      {"ECS /24 does not match a /28: the /8 decides for this /24 only",
       client("10.1.0.0", 24),
       4,
       {{"192.0.2.3"}, eu, {"192.0.2.4"}, unranked},
       24},
      {"/32 source inside the /28",
       client("10.1.0.3", 32, false),
       4,
       {{"192.0.2.4"}, eu, {"192.0.2.3"}, unranked},
       28},  // Tokyo is nearer Frankfurt than New York
      {"ECS v6 in us, AAAA",
       client("2001:db8:1ab::", 48),
       6,
       {{"2001:db8::2"}, {"2001:db8::1"}},
       40},
      {"ECS v6 in eu, A",
       client("2001:db8:200::", 56),
       4,
       {eu, {"192.0.2.3"}, {"192.0.2.4"}, unranked},
       48},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    for (uint32_t turn = 0; turn < 8; ++turn) {
      uint32_t rotation = turn;
      const auto picked = pick(*world.state, c.family, rotation, world.context, c.who);
      CHECK(picked.selection.ecs_scope == c.scope);
      CHECK(picked.selection.ttl == 30);
      size_t at = 0;
      for (const auto& tier : c.tiers) {
        REQUIRE(at + tier.size() <= picked.addresses.size());
        CHECK(std::set<std::string>(
                  picked.addresses.begin() + static_cast<long>(at),
                  picked.addresses.begin() + static_cast<long>(at + tier.size())) == tier);
        at += tier.size();
      }
      CHECK(at == picked.addresses.size());
    }
  }
}

TEST_CASE("arrays/geo leads within the client's region follow the weights") {
  GeoWorld world;
  uint32_t rotation = 0;
  std::map<std::string, int> leads;
  std::map<std::string, int> unranked_first;
  for (int i = 0; i < 4000; ++i) {
    const auto picked = pick(*world.state, 4, rotation, world.context, client("198.51.100.0", 24));
    ++leads[picked.addresses[0]];
    ++unranked_first[picked.addresses[4]];
  }
  CHECK(leads == std::map<std::string, int>{{"192.0.2.1", 1000}, {"192.0.2.2", 3000}});
  // Later tiers rotate.
  CHECK(unranked_first == std::map<std::string, int>{{"192.0.2.5", 2000}, {"192.0.2.6", 2000}});
}

TEST_CASE("arrays/geo with an unlocated client uses the weights over every candidate") {
  GeoWorld world;
  uint32_t rotation = 0;
  std::map<std::string, int> leads;
  constexpr int kRuns = 7000;
  for (int i = 0; i < kRuns; ++i) {
    const auto picked = pick(*world.state, 4, rotation, world.context, client("100.64.0.0", 24));
    CHECK(picked.selection.ecs_scope == 24);  // the miss holds for this /24 only
    ++leads[picked.addresses[0]];
  }
  // Weights 100 300 100 100 100 100 over 800.
  CHECK(std::abs(leads["192.0.2.2"] - kRuns * 3 / 8) <= 1);
  CHECK(std::abs(leads["192.0.2.1"] - kRuns / 8) <= 1);

  // No geo data at all: the answer does not depend on the client.
  rotation = 0;
  const auto picked = pick(*world.state, 4, rotation, geo::GeoContext{}, client("100.64.0.0", 24));
  CHECK(picked.selection.ecs_scope == 0);
  CHECK(picked.addresses.size() == 6);
}

TEST_CASE("arrays/geo falls back to the MaxMind database and the nearest region") {
  GeoWorld world;
  auto networks = geo::NetworkTable::build({{"10.0.0.0/8", "us"}}, *world.regions);
  auto geoip = std::make_shared<const geo::GeoIpDatabase>(std::string(ROTOR_TEST_DATA) +
                                                          "/geo/test-city.mmdb");
  const geo::GeoContext context{world.regions, networks, geoip};
  struct Case {
    const char* what;
    geo::ClientAddress who;
    std::string lead;
    uint8_t scope;
  };
  const std::vector<Case> cases = {
      {"Tokyo /25, source address", client("203.0.113.7", 32, false), "192.0.2.4", 25},
      {"Tokyo, ECS /24 is shorter than the database's /25", client("203.0.113.0", 24), "192.0.2.4",
       24},
      {"New York /48, v6 client asking A", client("2001:db8:100::1", 128, false), "192.0.2.3", 48},
      {"networks table first", client("10.9.9.9", 32, false), "192.0.2.3", 8},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    uint32_t rotation = 0;
    const auto picked = pick(*world.state, 4, rotation, context, c.who);
    CHECK(picked.addresses.at(0) == c.lead);
    CHECK(picked.selection.ecs_scope == c.scope);
  }
  uint32_t rotation = 0;
  const auto frankfurt =
      pick(*world.state, 4, rotation, context, client("198.51.100.1", 32, false));
  CHECK(std::set<std::string>{"192.0.2.1", "192.0.2.2"}.count(frankfurt.addresses.at(0)) == 1);
  CHECK(frankfurt.selection.ecs_scope == 24);
  // In the database without coordinates: unlocated, and only for this client.
  const auto nowhere = pick(*world.state, 4, rotation, context, client("192.0.2.9", 32, false));
  CHECK(nowhere.selection.ecs_scope == 32);
  CHECK(nowhere.addresses.size() == 6);
}

// The address of one of many client networks.
std::string subnet(int i) {
  return "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0";
}

TEST_CASE("arrays/sticky keeps a client's lead - losing an instance moves only its clients") {
  std::vector<Instance> instances;
  for (int i = 1; i <= 10; ++i) instances.push_back(instance("192.0.2." + std::to_string(i)));
  const auto state = build(instances, with_policy(Policy::sticky));

  constexpr int kClients = 3000;
  std::vector<std::vector<std::string>> before(kClients);
  std::map<std::string, int> leads;
  uint32_t rotation = 0;
  for (int i = 0; i < kClients; ++i) {
    const auto picked = pick(*state, 4, rotation, {}, client(subnet(i), 24));
    before[i] = picked.addresses;
    ++leads[picked.addresses[0]];
    CHECK(picked.selection.ecs_scope == 24);
    // Again, and from a host inside the /24 without ECS: the same order.
    CHECK(pick(*state, 4, rotation, {}, client(subnet(i), 24)).addresses == picked.addresses);
    auto host = client(subnet(i), 32, false);
    host.bytes[3] = 200;
    CHECK(pick(*state, 4, rotation, {}, host).addresses == picked.addresses);
  }
  CHECK(leads.size() == 10);
  for (const auto& [address, count] : leads) CHECK(std::abs(count - kClients / 10) < 90);

  instances[2].health = Health::down;  // 192.0.2.3
  const auto after_state = build(instances, with_policy(Policy::sticky));
  int moved = 0;
  for (int i = 0; i < kClients; ++i) {
    const auto after = pick(*after_state, 4, rotation, {}, client(subnet(i), 24)).addresses;
    if (before[i][0] == "192.0.2.3") {
      CHECK(after[0] == before[i][1]);  // to its own runner-up
      ++moved;
    } else {
      CHECK(after[0] == before[i][0]);
    }
  }
  CHECK(moved == leads["192.0.2.3"]);
}

TEST_CASE("arrays/sticky leads follow the weights") {
  const auto state =
      build({instance("192.0.2.1", 100), instance("192.0.2.2", 300)}, with_policy(Policy::sticky));
  constexpr int kClients = 8000;
  int heavy = 0;
  uint32_t rotation = 0;
  for (int i = 0; i < kClients; ++i) {
    heavy += pick(*state, 4, rotation, {}, client(subnet(i), 24)).addresses[0] == "192.0.2.2";
  }
  CHECK(std::abs(heavy / double(kClients) - 0.75) < 0.03);
}

TEST_CASE("arrays/sticky ECS scope is the prefix that keyed the choice") {
  struct Case {
    geo::ClientAddress who;
    uint8_t scope;
  };
  const std::vector<Case> cases = {
      {client("198.51.100.7", 32, false), 24},
      {client("198.51.96.0", 20), 20},
      {client("198.51.100.0", 24), 24},
      {client("2001:db8:1:2::7", 128, false), 56},
      {client("2001:db8:1::", 48), 48},
      {client("2001:db8:1:200::", 64), 56},
      {geo::ClientAddress{}, 0},  // unknown client: weighted
  };
  const auto state = build({instance("192.0.2.1"), instance("192.0.2.2"), instance("192.0.2.3")},
                           with_policy(Policy::sticky));
  for (const auto& c : cases) {
    CAPTURE(int(c.scope));
    uint32_t rotation = 0;
    const auto picked = pick(*state, 4, rotation, {}, c.who);
    CHECK(picked.selection.ecs_scope == c.scope);
    CHECK(picked.addresses.size() == 3);
  }
  // Addresses in the same /56 share an order; bits past the prefix do not matter.
  uint32_t rotation = 0;
  auto a = client("2001:db8:1:2::7", 128, false);
  for (int i = 0; i < 50; ++i) {
    auto b = client("2001:db8:1:" + std::to_string(i) + "::" + std::to_string(i + 1), 128, false);
    CHECK(pick(*state, 4, rotation, {}, a).addresses == pick(*state, 4, rotation, {}, b).addresses);
  }
}

TEST_CASE("arrays/select_instances does not allocate") {
  GeoWorld world;
  auto geoip = std::make_shared<const geo::GeoIpDatabase>(std::string(ROTOR_TEST_DATA) +
                                                          "/geo/test-city.mmdb");
  const geo::GeoContext with_geoip{world.regions, world.networks, geoip};
  const std::vector<geo::ClientAddress> clients = {
      client("198.51.100.0", 24), client("203.0.113.9", 32, false),
      client("2001:db8:100::1", 128, false), client("100.64.1.0", 24), geo::ClientAddress{}};
  const auto scratch = std::make_unique<SelectionScratch>();
  for (const auto policy : {Policy::round_robin, Policy::weighted, Policy::geo, Policy::sticky}) {
    CAPTURE(to_string(policy));
    auto settings = with_policy(policy);
    settings.max_answers = 2;
    settings.min_healthy = 0.9;  // panic mode, should an instance be down, costs nothing per query
    settings.slow_start_ms = 60000;  // and so does a slow-start ramp
    std::vector<Instance> instances;
    for (const auto& i : world.state->instances) instances.push_back(i);
    for (auto& i : instances) i.slow_start_from_ms = 1000;
    const auto state = ArrayState::build(*zones::name_from_text("web.lb.example.com."), 7, settings,
                                         instances, *world.regions, 31000);
    CHECK((state->v4.ramping || state->v4.instances.empty()));
    uint32_t rotation = 0;
    size_t answered = 0;
    rotor::test::AllocationCounter counter;
    for (int round = 0; round < 20; ++round) {
      for (const auto& who : clients) {
        for (const uint8_t family : {uint8_t{4}, uint8_t{6}}) {
          answered += select_instances(*state, family, with_geoip, who, rotation, *scratch).count;
        }
      }
    }
    CHECK(counter.allocations() == 0);
    CHECK(answered > 0);
  }
}

}  // namespace
}  // namespace rotor::arrays

TEST_SUITE_END();
