#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/common/utc_time.h"
#include "server/registry/registry.h"
#include "server/registry/sqlite_store.h"
#include "server/snapshot/publisher.h"
#include "tests/unit/server/registry/registry_test_support.h"
#include "zones/zone_set.h"

namespace rotor::registry {
namespace {

using namespace std::chrono_literals;
using arrays::Health;
using nlohmann::json;
using test::instance;
using Outcome = Registry::ExpiredRemoval;

constexpr const char* kExpiryArray = "web.lb.example.com.";

// A registry over a scratch database serving lb.example.com, with an array
// whose remove_after (1ms, below the config's floor: the registry takes what
// it is given) has passed for any instance down before the call.
struct Rig {
  Rig() : publisher(std::make_shared<const Snapshot>()), composer(publisher, {.publish_interval = 0ms}) {
    registry = Registry::open(std::make_unique<SqliteStore>(dir.file("rotor.db")), composer);
    registry->set_synthetic_zones({{"lb.example.com.", {{"ns1.lb.example.com.", {"192.0.2.53"}}}}});
    settings.check = R"({"type":"http","port":8080})";
    settings.remove_after = 1ms;
    registry->upsert_array(kExpiryArray, settings);
  }
  arrays::Instance down(const char* address) {
    const arrays::Instance added = registry->add_instance(kExpiryArray, instance(address));
    registry->set_health(added.id, Health::down, "connection refused");
    return stored(added.id);
  }
  arrays::Instance stored(int64_t id) const {
    const std::optional<RegisteredArray> array = registry->find(kExpiryArray);
    for (const arrays::Instance& each : array->instances) {
      if (each.id == id) return each;
    }
    FAIL("no instance " << id);
    return {};
  }
  uint32_t serial() const {
    return publisher.current()->zones.find_authoritative(*zones::name_from_text(kExpiryArray))->serial();
  }

  test::ScratchDir dir;
  SnapshotPublisher publisher;
  SnapshotComposer composer;
  std::unique_ptr<Registry> registry;
  arrays::ArraySettings settings;
};

TEST_SUITE("unit/server/registry/registry_expiry") {
  TEST_CASE("an expired instance is removed with an event that keeps its last record") {
    Rig rig;
    const arrays::Instance gone = rig.down("192.0.2.1");
    const uint32_t serial = rig.serial();
    std::this_thread::sleep_for(5ms);
    CHECK(rig.registry->remove_expired_instance(kExpiryArray, gone.id, gone.health_changed_ms) == Outcome::removed);
    CHECK(rig.registry->find(kExpiryArray)->instances.empty());
    CHECK(rig.serial() > serial);

    const std::vector<Event> events = rig.registry->events({.kind = "admin"});
    REQUIRE(!events.empty());
    const Event& removed = events.back();
    CHECK(removed.source == "remove_after");
    CHECK(removed.token.empty());
    CHECK(removed.instance_id == gone.id);
    CHECK(removed.address == "192.0.2.1");
    CHECK(removed.reason.starts_with("instance removed: remove_after 1ms: down for "));
    CHECK(removed.reason.ends_with(" since " + utc_text(gone.health_changed_ms)));
    CHECK(removed.new_value.empty());
    CHECK(json::parse(removed.old_value) == json{{"address", "192.0.2.1"},
                                                 {"weight", 100},
                                                 {"state", "enabled"},
                                                 {"health", "down"},
                                                 {"health_reason", "connection refused"},
                                                 {"health_changed", utc_text(gone.health_changed_ms)}});
  }

  TEST_CASE("what is no longer expired at commit time stays") {
    Rig rig;
    const arrays::Instance back_up = rig.down("192.0.2.1");
    rig.registry->set_health(back_up.id, Health::up, "200 OK");
    const arrays::Instance down_anew = rig.down("192.0.2.2");
    arrays::InstanceSpec disabled_spec = instance("192.0.2.3");
    disabled_spec.state = arrays::AdminState::disabled;
    const arrays::Instance disabled = rig.down("192.0.2.3");
    rig.registry->update_instance(kExpiryArray, disabled.id, disabled_spec);
    std::this_thread::sleep_for(5ms);

    CHECK(rig.registry->remove_expired_instance(kExpiryArray, back_up.id, back_up.health_changed_ms) ==
          Outcome::not_expired);
    // A transition after the measured start is a new period.
    CHECK(rig.registry->remove_expired_instance(kExpiryArray, down_anew.id, down_anew.health_changed_ms - 1) ==
          Outcome::not_expired);
    CHECK(rig.registry->remove_expired_instance(kExpiryArray, disabled.id, disabled.health_changed_ms) ==
          Outcome::not_expired);
    // Not yet remove_after long.
    rig.settings.remove_after = 1h;
    rig.registry->upsert_array(kExpiryArray, rig.settings);
    CHECK(rig.registry->remove_expired_instance(kExpiryArray, down_anew.id, down_anew.health_changed_ms) ==
          Outcome::not_expired);
    // remove_after off.
    rig.settings.remove_after = 0ms;
    rig.registry->upsert_array(kExpiryArray, rig.settings);
    CHECK(rig.registry->remove_expired_instance(kExpiryArray, down_anew.id, down_anew.health_changed_ms) ==
          Outcome::not_expired);
    CHECK(rig.registry->find(kExpiryArray)->instances.size() == 3);
    CHECK(rig.registry->events({.kind = "admin"}).back().reason.starts_with("array updated"));
    CHECK_THROWS_AS(rig.registry->remove_expired_instance(kExpiryArray, 12345, 0), NotFoundError);
    CHECK_THROWS_AS(rig.registry->remove_expired_instance("nope.lb.example.com.", back_up.id, 0), NotFoundError);
  }

  TEST_CASE("an instance the config lists stays") {
    Rig rig;
    arrays::ArraySettings settings = rig.settings;
    rig.registry->apply_config_arrays(
        {{"cfg.lb.example.com.", settings, {instance("192.0.2.9")}, "rotor.json: arrays[0]"}});
    const arrays::Instance listed = rig.registry->find("cfg.lb.example.com.")->instances.at(0);
    rig.registry->set_health(listed.id, Health::down, "timeout");
    std::this_thread::sleep_for(5ms);
    CHECK(rig.registry->remove_expired_instance("cfg.lb.example.com.", listed.id, unix_now_ms() - 1000) ==
          Outcome::listed_in_config);
    CHECK(rig.registry->find("cfg.lb.example.com.")->instances.size() == 1);
  }
}

}  // namespace
}  // namespace rotor::registry
