#include "server/app/instance_reaper.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "server/registry/sqlite_store.h"
#include "server/snapshot/publisher.h"
#include "tests/unit/server/registry/registry_test_support.h"

namespace rotor::app {
namespace {

using namespace std::chrono_literals;
using arrays::AdminState;
using arrays::Health;

constexpr int64_t kNow = 1764547200000;  // 2025-12-01T00:00:00Z
constexpr const char* kCheck = R"({"type":"http","port":8080})";

struct Row {
  const char* name;
  std::chrono::milliseconds remove_after;
  const char* array_check;
  const char* instance_check;
  AdminState state;
  Health health;
  int64_t changed_ago_ms;  // health_changed_ms = kNow - this; -1: 0 (no transition yet)
  int64_t started_ago_ms;  // ReaperMemory::started_ms = kNow - this
  const char* reason;      // "": not expired
};

registry::RegisteredArray array_of(const Row& row) {
  registry::RegisteredArray array;
  array.name = "web.lb.example.com.";
  array.settings.remove_after = row.remove_after;
  array.settings.check = row.array_check;
  arrays::Instance instance;
  instance.id = 7;
  instance.spec = registry::test::instance("192.0.2.7");
  instance.spec.state = row.state;
  instance.spec.check = row.instance_check;
  instance.health = row.health;
  instance.health_changed_ms = row.changed_ago_ms < 0 ? 0 : kNow - row.changed_ago_ms;
  array.instances.push_back(instance);
  return array;
}

TEST_SUITE("unit/server/app/instance_reaper") {
  TEST_CASE("expired_instances decides by the rules and says why") {
    const int64_t long_ago = 7 * 24 * 3600 * 1000;  // a week
    const Row rows[] = {
        {"down longer than remove_after", 2s, kCheck, "", AdminState::enabled, Health::down, 3000, long_ago,
         "remove_after 2s: down for 3.0s since 2025-11-30T23:59:57.000Z"},
        {"down exactly remove_after", 2s, kCheck, "", AdminState::enabled, Health::down, 2000, long_ago,
         "remove_after 2s: down for 2.0s since 2025-11-30T23:59:58.000Z"},
        {"unknown counts as not up", 72h, kCheck, "", AdminState::enabled, Health::unknown, 73 * 3600 * 1000, long_ago,
         "remove_after 72h: unknown for 73h00m00s since 2025-11-27T23:00:00.000Z"},
        {"draining is still a candidate", 1min, kCheck, "", AdminState::draining, Health::down, 125000, long_ago,
         "remove_after 1m: down for 2m05s since 2025-11-30T23:57:55.000Z"},
        {"the instance's own check counts", 2s, "", kCheck, AdminState::enabled, Health::down, 3000, long_ago,
         "remove_after 2s: down for 3.0s since 2025-11-30T23:59:57.000Z"},
        {"down shorter than remove_after", 2s, kCheck, "", AdminState::enabled, Health::down, 1999, long_ago, ""},
        {"up stays", 2s, kCheck, "", AdminState::enabled, Health::up, 3000, long_ago, ""},
        {"remove_after off", 0ms, kCheck, "", AdminState::enabled, Health::down, long_ago, long_ago, ""},
        {"not probed: no check", 2s, "", "", AdminState::enabled, Health::down, 3000, long_ago, ""},
        {"not probed: a check that cannot run", 2s, R"({"port":0})", "", AdminState::enabled, Health::down, 3000, long_ago,
         ""},
        {"disabled stays", 2s, kCheck, "", AdminState::disabled, Health::down, 3000, long_ago, ""},
        {"the clock restarts at startup", 2s, kCheck, "", AdminState::enabled, Health::down, long_ago, 1000, ""},
        {"down since before startup counts from startup", 2s, kCheck, "", AdminState::enabled, Health::down, long_ago,
         2500, "remove_after 2s: down for 2.5s since 2025-11-30T23:59:57.500Z"},
        {"no transition yet counts from the first sweep", 2s, kCheck, "", AdminState::enabled, Health::unknown, -1,
         long_ago, ""},
    };
    for (const Row& row : rows) {
      const std::string name = row.name;
      CAPTURE(name);
      ReaperMemory memory{.started_ms = kNow - row.started_ago_ms};
      const std::vector<ExpiredInstance> expired = expired_instances({array_of(row)}, kNow, memory);
      if (*row.reason == '\0') {
        CHECK(expired.empty());
        continue;
      }
      REQUIRE(expired.size() == 1);
      CHECK(expired[0].array == "web.lb.example.com.");
      CHECK(expired[0].id == 7);
      CHECK(expired[0].reason == row.reason);
    }
  }

  TEST_CASE("an instance without a transition counts from the sweep that first saw it") {
    Row row{"unknown", 2s, kCheck, "", AdminState::enabled, Health::unknown, -1, 3600 * 1000, ""};
    ReaperMemory memory{.started_ms = kNow - 3600 * 1000};
    const std::vector<registry::RegisteredArray> arrays{array_of(row)};
    CHECK(expired_instances(arrays, kNow, memory).empty());
    CHECK(memory.first_seen_ms.at(7) == kNow);
    CHECK(expired_instances(arrays, kNow + 1999, memory).empty());
    const std::vector<ExpiredInstance> expired = expired_instances(arrays, kNow + 2000, memory);
    REQUIRE(expired.size() == 1);
    CHECK(expired[0].not_up_since_ms == kNow);
    CHECK(expired[0].reason == "remove_after 2s: unknown for 2.0s since 2025-12-01T00:00:00.000Z");

    // Up in between: forgotten, so the next period starts anew.
    row.health = Health::up;
    CHECK(expired_instances({array_of(row)}, kNow + 3000, memory).empty());
    CHECK(memory.first_seen_ms.empty());
  }

  TEST_CASE("a sweep removes through the registry - only what this node removes") {
    registry::test::ScratchDir dir;
    SnapshotPublisher publisher(std::make_shared<const Snapshot>());
    registry::SnapshotComposer composer(publisher, {});
    auto registry = registry::Registry::open(std::make_unique<registry::SqliteStore>(dir.file("rotor.db")), composer);
    registry->set_synthetic_zones({{"lb.example.com.", {{"ns1.lb.example.com.", {"192.0.2.53"}}}}});
    arrays::ArraySettings settings;
    settings.check = kCheck;
    settings.remove_after = 1ms;  // below the config's 1s floor: the registry takes what it is given
    registry->upsert_array("web.lb.example.com.", settings);
    const arrays::Instance gone = registry->add_instance("web.lb.example.com.", registry::test::instance("192.0.2.1"));
    const arrays::Instance kept = registry->add_instance("web.lb.example.com.", registry::test::instance("192.0.2.2"));
    registry->set_health(gone.id, Health::down, "connection refused");
    registry->set_health(kept.id, Health::down, "connection refused");

    InstanceReaper reaper(*registry, {.removes = [&](int64_t id) { return id == gone.id; }});
    std::this_thread::sleep_for(5ms);  // past remove_after (no assertion on time)
    CHECK(reaper.sweep() == 1);
    const auto array = registry->find("web.lb.example.com.");
    REQUIRE(array);
    REQUIRE(array->instances.size() == 1);
    CHECK(array->instances[0].id == kept.id);
    CHECK(reaper.sweep() == 0);
  }
}

}  // namespace
}  // namespace rotor::app
