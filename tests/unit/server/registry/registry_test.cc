#include "server/registry/registry.h"
#include "server/registry/audit.h"
#include "server/registry/sqlite_store.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/unit/server/registry/registry_test_support.h"
#include "zones/zone_file.h"
#include "zones/zone_set.h"

namespace rotor::registry {
namespace {

using namespace std::chrono_literals;
using arrays::Health;
using test::instance;
using test::ScratchDir;

constexpr const char* kRegistryArray = "web.lb.example.com.";

std::string wire(const char* text) { return *zones::name_from_text(text); }

const SyntheticZoneSpec kLbZone{"lb.example.com.", {{"ns1.lb.example.com.", {"192.0.2.53"}}}};

// A publisher, composer and registry over a scratch database, serving lb.example.com.
struct RegistryRig {
  explicit RegistryRig(const std::string& db, std::chrono::milliseconds interval = 0ms)
      : publisher(std::make_shared<const Snapshot>()),
        composer(publisher, {.publish_interval = interval}),
        registry(Registry::open(std::make_unique<registry::SqliteStore>(db), composer)) {
    registry->set_synthetic_zones({kLbZone});
  }

  const arrays::ArrayState* served(const char* name) const {
    return snapshot->arrays->find(wire(name));
  }
  void refresh() { snapshot = publisher.current(); }
  uint32_t zone_serial() const {
    return publisher.current()->zones.find_authoritative(wire(kRegistryArray))->serial();
  }

  SnapshotPublisher publisher;
  SnapshotComposer composer;
  std::unique_ptr<Registry> registry;
  std::shared_ptr<const Snapshot> snapshot;
};

TEST_SUITE("unit/server/registry/registry") {
  TEST_CASE("normalize gives what the round trip through the wire form gives") {
    const std::string label63(63, 'x');
    const std::string long_ok = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'y');  // wire 255
    const std::string too_long = long_ok + "z";
    const std::vector<std::string> names = {
        "web.example.com", "web.example.com.", "WEB.Example.COM", "a", "A.", "x-1_2.b~c!{}'+*",
        label63 + ".example", std::string(64, 'x') + ".example", long_ok, long_ok + ".", too_long,
        "web\\.dot.example", "web\\065.example", "a b.example", "a..b", ".a", "..", ".", "",
        "caf\xc3\xa9.example", "tab\t.example", "del\x7f.example"};
    for (const std::string& name : names) {
      CAPTURE(name);
      const auto wire = zones::lower_name_from_text(name);
      if (!wire || wire->size() <= 1) {
        CHECK_THROWS_AS(Registry::normalize(name), ValidationError);
        continue;
      }
      const Registry::Name normalized = Registry::normalize(name);
      CHECK(normalized.wire == *wire);
      CHECK(normalized.text == zones::name_to_text(*wire));
    }
  }

  TEST_CASE("each mutation is stored - rebuilt and published") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    const uint64_t start = rig.publisher.current()->generation;

    const auto web = rig.registry->upsert_array("WEB.lb.Example.com", {});
    CHECK(web.name == kRegistryArray);
    rig.refresh();
    CHECK(rig.snapshot->generation > start);
    REQUIRE(rig.served(kRegistryArray) != nullptr);
    CHECK(rig.served(kRegistryArray)->instances.empty());

    const auto a = rig.registry->add_instance(kRegistryArray, instance("192.0.2.1", 10, "eu"));
    const auto b = rig.registry->add_instance(kRegistryArray, instance("2001:db8::1"));
    rig.refresh();
    REQUIRE(rig.served(kRegistryArray)->instances.size() == 2);
    CHECK(rig.served(kRegistryArray)->instances[0].id == a.id);
    CHECK(rig.served(kRegistryArray)->v4.instances.size() == 1);
    CHECK(rig.served(kRegistryArray)->v6.instances.size() == 1);
    // An undeclared region label still gets an id.
    CHECK(rig.snapshot->geo.regions->id("eu") != arrays::kNoRegion);
    CHECK(rig.served(kRegistryArray)->v4.instances[0].region == rig.snapshot->geo.regions->id("eu"));

    rig.registry->update_instance(kRegistryArray, b.id, instance("2001:db8::1", 700));
    rig.refresh();
    CHECK(rig.served(kRegistryArray)->instances[1].spec.weight == 700);

    CHECK(rig.registry->set_health(a.id, Health::down, "timeout"));
    CHECK_FALSE(rig.registry->set_health(a.id, Health::down, "timeout"));
    CHECK_FALSE(rig.registry->set_health(424242, Health::down, "gone"));
    rig.refresh();
    CHECK(rig.served(kRegistryArray)->instances[0].health == Health::down);

    rig.registry->remove_instance(kRegistryArray, b.id);
    rig.refresh();
    CHECK(rig.served(kRegistryArray)->instances.size() == 1);
    CHECK_FALSE(rig.registry->set_health(b.id, Health::up, "late probe"));

    rig.registry->delete_array(kRegistryArray);
    rig.refresh();
    CHECK(rig.served(kRegistryArray) == nullptr);
    CHECK_FALSE(rig.registry->find(kRegistryArray).has_value());
  }

  TEST_CASE("find_instance_in copies one instance with its array's name and settings") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    arrays::ArraySettings settings;
    settings.ttl = 42;
    rig.registry->upsert_array("WEB.lb.Example.com", settings);
    const auto a = rig.registry->add_instance(kRegistryArray, instance("192.0.2.1", 10, "eu"));
    const auto b = rig.registry->add_instance(kRegistryArray, instance("192.0.2.2", 20));
    rig.registry->set_reported_many({{b.id, 25, true}});

    const auto found = rig.registry->find_instance_in("Web.LB.example.com", b.id);
    REQUIRE(found.has_value());
    CHECK(found->array == kRegistryArray);
    CHECK(found->settings.ttl == 42);
    REQUIRE(found->instance.has_value());
    CHECK(found->instance->id == b.id);
    CHECK(found->instance->spec.address.to_string() == "192.0.2.2");
    CHECK(found->instance->spec.weight == 20);
    // As find() shows it: with the backend's report.
    CHECK(found->instance->reported_weight == 25);
    CHECK(found->instance->reported_draining);
    CHECK(rig.registry->find_instance_in(kRegistryArray, a.id)->instance->spec.region == "eu");

    const auto missing = rig.registry->find_instance_in(kRegistryArray, b.id + 100);
    REQUIRE(missing.has_value());  // the array is there, the instance is not
    CHECK(missing->array == kRegistryArray);
    CHECK_FALSE(missing->instance.has_value());
    CHECK_FALSE(rig.registry->find_instance_in("nope.lb.example.com.", a.id).has_value());
  }

  TEST_CASE("admin events name the API token that made the change and no other event does") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    rig.registry->upsert_array(kRegistryArray, {}, "ci");
    const auto a = rig.registry->add_instance(kRegistryArray, instance("192.0.2.1"), "ci");
    auto draining = instance("192.0.2.1");
    draining.state = arrays::AdminState::draining;  // a new admin state is an event
    rig.registry->update_instance(kRegistryArray, a.id, draining, "ops");
    rig.registry->add_instance(kRegistryArray, instance("192.0.2.3"));  // the config, or an API without tokens
    rig.registry->set_health(a.id, Health::down, "timeout");
    rig.registry->remove_instance(kRegistryArray, a.id, "ci");
    rig.registry->delete_array(kRegistryArray, "ops");
    std::string seen;
    for (const Event& event : rig.registry->events(0, 100)) {
      seen += (seen.empty() ? "" : " ") + event.kind + ":" + (event.token.empty() ? "-" : event.token);
    }
    CHECK(seen == "admin:ci admin:ci admin:ops admin:- health:- admin:ci admin:ops");
  }

  TEST_CASE("every change writes its event with old and new fields and who asked for it") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    const std::vector<std::string> story = test::tell_audit_story(*rig.registry);
    CHECK(story == test::kAuditStory);
    for (size_t i = 0; i < std::min(story.size(), test::kAuditStory.size()); ++i) {
      CHECK(story[i] == test::kAuditStory[i]);  // shows the first line that differs
    }
    // The log's filters: by kind, array and instance.
    CHECK(rig.registry->events(EventFilter{.kind = "health"}).size() == 1);
    CHECK(rig.registry->events(EventFilter{.array = "cfg.lb.example.com."}).size() == 2);
    const auto changed = rig.registry->events(EventFilter{.kind = "admin"}).at(3);
    CHECK(rig.registry->events(EventFilter{.instance_id = changed.instance_id}).size() == 4);
  }

  TEST_CASE("a reload's event names its origin and outcome") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    rig.registry->record_event(audit::reload_failed({"a.zone:7: bad"}, 5), {.source = "api", .token = "ops"});
    const auto events = rig.registry->events(EventFilter{.kind = "reload"});
    REQUIRE(events.size() == 1);
    CHECK(events[0].new_value == "failed");
    CHECK(events[0].reason == "a.zone:7: bad");
    CHECK(events[0].source == "api");
    CHECK(events[0].token == "ops");
    // The origin was for that event only.
    rig.registry->upsert_array(kRegistryArray, {});
    CHECK(rig.registry->events(1, 10).at(0).source == "api");
    CHECK(rig.registry->events(1, 10).at(0).token.empty());
  }

  TEST_CASE("panic mode starts and ends with an event - served from the snapshot") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    arrays::ArraySettings settings;
    settings.min_healthy = 0.5;
    rig.registry->upsert_array(kRegistryArray, settings);
    std::vector<int64_t> ids;
    for (const char* address : {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}) {
      ids.push_back(rig.registry->add_instance(kRegistryArray, instance(address)).id);
    }
    rig.registry->set_health_many({{ids[0], Health::up, "ok"}, {ids[1], Health::down, "refused"},
                                   {ids[2], Health::down, "refused"}});
    rig.refresh();
    CHECK_FALSE(rig.served(kRegistryArray)->panic);  // 2 of 4: the threshold itself
    CHECK(rig.registry->set_health(ids[3], Health::down, "refused"));
    rig.refresh();
    CHECK(rig.served(kRegistryArray)->panic);
    CHECK(rig.served(kRegistryArray)->v4.instances.size() == 4);
    CHECK(rig.registry->set_health(ids[1], Health::up, "ok"));
    rig.refresh();
    CHECK_FALSE(rig.served(kRegistryArray)->panic);
    CHECK(rig.served(kRegistryArray)->v4.instances.size() == 2);

    std::vector<std::string> seen;
    for (const Event& event : rig.registry->events({.kind = "panic"})) {
      seen.push_back(event.array_name + " " + event.old_value + "->" + event.new_value + ": " +
                     event.reason);
    }
    CHECK(seen == std::vector<std::string>{
                      "web.lb.example.com. off->on: 1 of 4 enabled IPv4 instances healthy, below "
                      "min_healthy 0.5: answering every enabled one",
                      "web.lb.example.com. on->off: 2 of 4 enabled IPv4 instances healthy: panic "
                      "mode over (min_healthy 0.5)"});

    // A settings change that ends it says so too; a restart neither starts nor ends it.
    CHECK(rig.registry->set_health(ids[1], Health::down, "refused"));
    settings.min_healthy = 0;
    rig.registry->upsert_array(kRegistryArray, settings);
    CHECK(rig.registry->events({.kind = "panic"}).size() == 4);
    settings.min_healthy = 0.5;
    rig.registry->upsert_array(kRegistryArray, settings);
    CHECK(rig.registry->events({.kind = "panic"}).size() == 5);
    rig.registry.reset();
    rig.registry = Registry::open(std::make_unique<registry::SqliteStore>(dir.file("rotor.db")),
                                  rig.composer);
    rig.refresh();
    CHECK(rig.served(kRegistryArray)->panic);
    CHECK(rig.registry->events({.kind = "panic"}).size() == 5);
  }

  TEST_CASE("slow start ramps an instance back up over the injected clock - a restart does not") {
    ScratchDir dir;
    std::atomic<int64_t> clock{1'000'000};
    SnapshotPublisher publisher(std::make_shared<const Snapshot>());
    SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    const auto open = [&] {
      return Registry::open(std::make_unique<registry::SqliteStore>(dir.file("rotor.db")), composer,
                            {.clock = [&] { return clock.load(); }, .ramp_interval = 1h});
    };
    auto registry = open();
    registry->set_synthetic_zones({kLbZone});
    arrays::ArraySettings settings;
    settings.policy = arrays::Policy::weighted;
    settings.slow_start_ms = 10'000;
    registry->upsert_array(kRegistryArray, settings);
    const auto a = registry->add_instance(kRegistryArray, instance("192.0.2.1", 200));
    const auto b = registry->add_instance(kRegistryArray, instance("192.0.2.2", 200));
    registry->set_health_many({{a.id, Health::up, "ok"}, {b.id, Health::up, "ok"}});
    const auto weight_of_b = [&] {
      return publisher.current()->arrays->find(wire(kRegistryArray))->v4.instances.back().weight;
    };
    CHECK(weight_of_b() == 200);  // unknown -> up is no comeback

    CHECK(registry->set_health(b.id, Health::down, "refused"));
    clock += 5'000;
    CHECK(registry->set_health(b.id, Health::up, "ok"));
    CHECK(weight_of_b() == 1);
    CHECK(publisher.current()->arrays->find(wire(kRegistryArray))->v4.ramping);
    const struct {
      int64_t advance_ms;
      size_t republished;
      uint16_t weight;
    } steps[] = {{0, 0, 1}, {2'500, 1, 50}, {5'000, 1, 150}, {2'500, 1, 200}, {2'500, 0, 200}};
    for (const auto& step : steps) {
      clock += step.advance_ms;
      CAPTURE(clock.load());
      CHECK(registry->advance_ramps() == step.republished);
      CHECK(weight_of_b() == step.weight);
    }
    CHECK_FALSE(publisher.current()->arrays->find(wire(kRegistryArray))->v4.ramping);

    // Down and up again, then a restart mid-ramp: the new process starts no ramp.
    CHECK(registry->set_health(b.id, Health::down, "refused"));
    CHECK(registry->set_health(b.id, Health::up, "ok"));
    CHECK(weight_of_b() == 1);
    registry.reset();
    registry = open();
    CHECK(weight_of_b() == 200);

    // Down when a process starts (the store's record, maybe stale): its first
    // up is rotor's start finding it, not a comeback.
    CHECK(registry->set_health(b.id, Health::down, "refused"));
    registry.reset();
    clock += 1'000;
    registry = open();
    CHECK(registry->set_health(b.id, Health::up, "ok"));
    CHECK(weight_of_b() == 200);
    // A reload re-reading it (the config applied again) starts no ramp either.
    CHECK(registry->set_health(b.id, Health::down, "refused"));
    clock += 1'000;
    CHECK(registry->set_health(b.id, Health::up, "ok"));
    CHECK(weight_of_b() == 1);
    clock += 5'000;
    registry->replace_instances(kRegistryArray, {instance("192.0.2.1", 200), instance("192.0.2.2", 200)});
    registry->advance_ramps();
    CHECK(weight_of_b() == 100);  // the same ramp, halfway: not restarted by the rewrite
  }

  TEST_CASE("the ramp thread republishes only when a weight moves - and stops with the ramp") {
    ScratchDir dir;
    std::atomic<int64_t> clock{1'000'000};
    SnapshotPublisher publisher(std::make_shared<const Snapshot>());
    SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    auto registry = Registry::open(std::make_unique<registry::SqliteStore>(dir.file("rotor.db")), composer,
                                   {.clock = [&] { return clock.load(); }, .ramp_interval = 5ms});
    registry->set_synthetic_zones({kLbZone});
    arrays::ArraySettings settings;
    settings.policy = arrays::Policy::round_robin;
    settings.slow_start_ms = 10'000;
    registry->upsert_array(kRegistryArray, settings);
    const auto a = registry->add_instance(kRegistryArray, instance("192.0.2.1"));
    const auto b = registry->add_instance(kRegistryArray, instance("192.0.2.2"));
    registry->set_health_many({{a.id, Health::up, "ok"}, {b.id, Health::down, "refused"}});
    clock += 1'000;
    registry->set_health(b.id, Health::up, "ok");
    const auto served = [&] { return publisher.current()->arrays->find(wire(kRegistryArray))->v4; };
    const auto eventually = [](const std::function<bool()>& condition) {
      for (int i = 0; i < 500 && !condition(); ++i) std::this_thread::sleep_for(10ms);
      return condition();
    };
    CHECK(served().ramping);
    CHECK(served().instances[1].weight == 1);  // round robin ramps to 100

    // The clock stands still: the thread wakes every 5 ms but has nothing to publish.
    const uint64_t still = publisher.current()->generation;
    std::this_thread::sleep_for(100ms);
    CHECK(publisher.current()->generation == still);

    clock += 2'500;
    CHECK(eventually([&] { return served().instances[1].weight == 25; }));
    clock += 10'000;
    CHECK(eventually([&] { return !served().ramping; }));
    CHECK(served().instances[1].weight == 100);
    // Over: nothing more is published however the clock moves.
    const uint64_t over = publisher.current()->generation;
    clock += 1'000;
    std::this_thread::sleep_for(100ms);
    CHECK(publisher.current()->generation == over);
  }

  TEST_CASE("bad input is refused with the field's name and changes nothing") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    rig.registry->upsert_array(kRegistryArray, {});
    const auto generation = rig.publisher.current()->generation;

    arrays::ArraySettings too_many_answers;
    too_many_answers.max_answers = 9000;
    auto no_lon = instance("192.0.2.1");
    no_lon.lat = 10;
    auto bad_lat = instance("192.0.2.1");
    bad_lat.lat = 91;
    bad_lat.lon = 0;
    arrays::InstanceSpec no_address;

    struct Case {
      const char* name;
      std::function<void()> call;
      const char* error;
    };
    const Case cases[] = {
        {"name outside the served zones",
         [&] { rig.registry->upsert_array("www.example.org.", {}); },
         "name: www.example.org. is not in a zone rotor serves"},
        {"malformed name", [&] { rig.registry->upsert_array("a..b.", {}); },
         "name: 'a..b.' is not a valid domain name"},
        {"max_answers", [&] { rig.registry->upsert_array(kRegistryArray, too_many_answers); },
         "max_answers: must be at most 8192"},
        {"weight 0", [&] { rig.registry->add_instance(kRegistryArray, instance("192.0.2.1", 0)); },
         "weight: must be between 1 and 1000, got 0"},
        {"weight 1001", [&] { rig.registry->add_instance(kRegistryArray, instance("192.0.2.1", 1001)); },
         "weight: must be between 1 and 1000, got 1001"},
        {"no address", [&] { rig.registry->add_instance(kRegistryArray, no_address); },
         "address: not an IPv4 or IPv6 address"},
        {"lat without lon", [&] { rig.registry->add_instance(kRegistryArray, no_lon); },
         "lat, lon: give both or neither"},
        {"lat out of range", [&] { rig.registry->add_instance(kRegistryArray, bad_lat); },
         "lat: must be between -90 and 90"},
        {"unspecified", [&] { rig.registry->add_instance(kRegistryArray, instance("0.0.0.0")); },
         "address: 0.0.0.0 cannot be a server: unspecified (0.0.0.0/8 means this host, never a "
         "destination)"},
        {"multicast", [&] { rig.registry->add_instance(kRegistryArray, instance("ff02::1")); },
         "address: ff02::1 cannot be a server: multicast (ff00::/8)"},
        {"IPv4-mapped",
         [&] { rig.registry->add_instance(kRegistryArray, instance("::ffff:192.0.2.1")); },
         "address: ::ffff:192.0.2.1 is IPv4-mapped; give it as 192.0.2.1"},
        {"replace with a bad one",
         [&] {
           rig.registry->replace_instances(kRegistryArray, {instance("192.0.2.1"), instance("192.0.2.2", 0)});
         },
         "instances[1].weight: must be between 1 and 1000, got 0"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CHECK_THROWS_WITH_AS(c.call(), c.error, ValidationError);
    }
    CHECK_THROWS_WITH_AS(rig.registry->add_instance("nope.lb.example.com.", instance("192.0.2.1")),
                         "no array nope.lb.example.com.", NotFoundError);
    CHECK_THROWS_AS(rig.registry->remove_instance(kRegistryArray, 12345), NotFoundError);
    rig.registry->add_instance(kRegistryArray, instance("192.0.2.1"));
    CHECK_THROWS_AS(rig.registry->add_instance(kRegistryArray, instance("192.0.2.1")), ConflictError);
    CHECK(rig.registry->find(kRegistryArray)->instances.size() == 1);
    CHECK(rig.publisher.current()->generation == generation + 1);  // only the one good add
  }

  TEST_CASE("a fallback is in a served zone - not the array itself - and its chain has no cycle and at most 3 hops") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    const auto falls_to = [](const char* name) {
      arrays::ArraySettings settings;
      settings.fallback = name;
      return settings;
    };
    // b -> c -> d -> e: three fallbacks, so a -> b would make four.
    rig.registry->upsert_array("e.lb.example.com.", {});
    rig.registry->upsert_array("d.lb.example.com.", falls_to("e.lb.example.com."));
    rig.registry->upsert_array("c.lb.example.com.", falls_to("d.lb.example.com."));
    rig.registry->upsert_array("b.lb.example.com.", falls_to("c.lb.example.com."));
    // A fallback that does not exist yet is allowed: it is answered once it does.
    rig.registry->upsert_array("x.lb.example.com.", falls_to("later.lb.example.com."));
    struct Case {
      const char* name;
      const char* array;
      const char* fallback;
      const char* error;
    };
    const Case cases[] = {
        {"itself", "a.lb.example.com.", "a.lb.example.com.", "fallback: an array cannot be its own fallback"},
        {"outside the zones", "a.lb.example.com.", "backup.example.org.",
         "fallback: backup.example.org. is not in a zone rotor serves"},
        {"a cycle", "d.lb.example.com.", "b.lb.example.com.",
         "fallback: a cycle (d.lb.example.com. -> b.lb.example.com. -> c.lb.example.com. -> d.lb.example.com.)"},
        {"four hops", "a.lb.example.com.", "b.lb.example.com.",
         "fallback: more than 3 fallbacks in a chain (a.lb.example.com. -> b.lb.example.com. -> "
         "c.lb.example.com. -> d.lb.example.com. -> e.lb.example.com.)"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CHECK_THROWS_WITH_AS(rig.registry->upsert_array(c.array, falls_to(c.fallback)), c.error, ValidationError);
    }
    CHECK_FALSE(rig.registry->find("a.lb.example.com."));
    CHECK(rig.registry->find("d.lb.example.com.")->settings.fallback == "e.lb.example.com.");
    // Three hops are fine.
    rig.registry->upsert_array("a.lb.example.com.", falls_to("c.lb.example.com."));
    CHECK(rig.registry->find("a.lb.example.com.")->settings.fallback == "c.lb.example.com.");
  }

  TEST_CASE("an array where zone data answers for its name is refused - an apex array is not") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    zones::ZoneSet files;
    files.add(zones::load_zone_file(std::string(ROTOR_TEST_DATA) +
                                        "/arrays/conflicts.example.test.zone",
                                    "conflicts.example.test."));
    rig.composer.set_base(files, {});
    struct Case {
      const char* name;
      const char* error;
    };
    const Case cases[] = {
        {"alias.conflicts.example.test.",
         "name: alias.conflicts.example.test. has a CNAME in zone conflicts.example.test."},
        {"Static4.conflicts.example.test",
         "name: static4.conflicts.example.test. has static A records in zone "
         "conflicts.example.test."},
        {"ns1.lb.example.com.",  // the declared zone's name server has glue
         "name: ns1.lb.example.com. has static A records in zone lb.example.com."},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CHECK_THROWS_WITH_AS(rig.registry->upsert_array(c.name, {}), c.error, ConflictError);
      CHECK_FALSE(rig.registry->find(c.name).has_value());
    }
    CHECK_THROWS_WITH_AS(
        rig.registry->apply_config_arrays({{"alias.conflicts.example.test.", {}, {}}}),
        "array alias.conflicts.example.test.: alias.conflicts.example.test. has a CNAME in zone "
        "conflicts.example.test.",
        ConflictError);
    CHECK(rig.registry->arrays().empty());
    CHECK(rig.registry->upsert_array("conflicts.example.test.", {}).name == "conflicts.example.test.");
    CHECK(rig.registry->upsert_array("mailbox.conflicts.example.test.", {}).id > 0);
  }

  TEST_CASE("an array in a signed zone is refused with a 400 on its name") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    zones::ZoneSet files;
    files.add(zones::load_zone_file(std::string(ROTOR_TEST_DATA) + "/query/signed-nsec.zone",
                                    "nsec.signed.test."));
    rig.composer.set_base(files, {});
    const std::string why =
        "web.nsec.signed.test. is in zone nsec.signed.test., which is signed by its zone file "
        "(DNSSEC signatures, no dnssec.keys): rotor signs array answers only in zones it signs "
        "itself, so arrays cannot be in a pre-signed zone";
    CHECK_THROWS_WITH_AS(rig.registry->upsert_array("web.nsec.signed.test.", {}), ("name: " + why).c_str(),
                         ValidationError);
    CHECK_THROWS_WITH_AS(rig.registry->apply_config_arrays({{"web.nsec.signed.test.", {}, {}}}),
                         ("array web.nsec.signed.test.: " + why).c_str(), ValidationError);
    CHECK(rig.registry->arrays().empty());
  }

  TEST_CASE("a failed write leaves the served snapshot and the model exactly as they were") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    RegistryRig rig(path);
    rig.registry->upsert_array(kRegistryArray, {});
    const auto a = rig.registry->add_instance(kRegistryArray, instance("192.0.2.1"));
    const auto before = rig.publisher.current();
    const auto serial = rig.zone_serial();

    SUBCASE("adding an instance") {
      test::make_writes_fail(path, "INSERT ON instances");
      CHECK_THROWS_WITH_AS(rig.registry->add_instance(kRegistryArray, instance("192.0.2.2")),
                           doctest::Contains("simulated write failure"), StoreError);
    }
    SUBCASE("a health change") {
      test::make_writes_fail(path, "UPDATE ON instances");
      CHECK_THROWS_AS(rig.registry->set_health(a.id, Health::down, "timeout"), StoreError);
    }
    SUBCASE("the serial bump after a good instance write") {
      test::make_writes_fail(path, "UPDATE ON zone_serials");
      CHECK_THROWS_AS(rig.registry->remove_instance(kRegistryArray, a.id), StoreError);
    }
    SUBCASE("deleting the array") {
      test::make_writes_fail(path, "DELETE ON arrays");
      CHECK_THROWS_AS(rig.registry->delete_array(kRegistryArray), StoreError);
    }
    CHECK(rig.publisher.current() == before);  // not even republished
    CHECK(rig.zone_serial() == serial);
    const auto model = rig.registry->find(kRegistryArray);
    REQUIRE(model.has_value());
    REQUIRE(model->instances.size() == 1);
    CHECK(model->instances[0].health == Health::unknown);

    // The database agrees with the model: a restart serves the same.
    test::let_writes_succeed(path);
    rig.registry.reset();
    rig.registry = Registry::open(std::make_unique<registry::SqliteStore>(path), rig.composer);
    CHECK(rig.registry->find(kRegistryArray)->instances.size() == 1);
  }

  TEST_CASE("a restart serves the stored arrays with their last known health at once") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    int64_t down_id = 0;
    {
      RegistryRig rig(path);
      rig.registry->upsert_array(kRegistryArray, {});
      rig.registry->add_instance(kRegistryArray, instance("192.0.2.1"));
      down_id = rig.registry->add_instance(kRegistryArray, instance("192.0.2.2")).id;
      rig.registry->set_health(down_id, Health::down, "timeout");
    }
    SnapshotPublisher publisher(std::make_shared<const Snapshot>());
    SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    const auto registry = Registry::open(std::make_unique<registry::SqliteStore>(path), composer);
    const auto* web = publisher.current()->arrays->find(wire(kRegistryArray));
    REQUIRE(web != nullptr);
    REQUIRE(web->instances.size() == 2);
    CHECK(web->instances[1].id == down_id);
    CHECK(web->instances[1].health == Health::down);
    CHECK(web->instances[1].health_reason == "timeout");
    CHECK(web->degraded);
  }

  TEST_CASE("the foreign-file startup error names the file") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    {
      SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      db.exec("CREATE TABLE notes(body TEXT)");
    }
    SnapshotPublisher publisher(std::make_shared<const Snapshot>());
    SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    CHECK_THROWS_WITH_AS(
        Registry::open(std::make_unique<registry::SqliteStore>(path), composer),
        (path + ": not a rotor database (it has tables but no rotor schema)").c_str(), StoreError);
  }

  TEST_CASE("the synthetic zone's serial follows array writes - not health") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    const uint32_t first = rig.zone_serial();
    rig.registry->upsert_array(kRegistryArray, {});
    const uint32_t after_create = rig.zone_serial();
    CHECK(after_create > first);
    const auto a = rig.registry->add_instance(kRegistryArray, instance("192.0.2.1"));
    const uint32_t after_add = rig.zone_serial();
    CHECK(after_add > after_create);
    rig.registry->set_health(a.id, Health::up, "ok");
    CHECK(rig.zone_serial() == after_add);

    // The serial survives a restart.
    rig.registry.reset();
    rig.registry = Registry::open(std::make_unique<registry::SqliteStore>(dir.file("rotor.db")), rig.composer);
    rig.registry->set_synthetic_zones({kLbZone});
    CHECK(rig.zone_serial() == after_add);
  }

  TEST_CASE("reload_from_store serves what another writer changed - and nothing else") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    RegistryRig rig(path);
    rig.registry->upsert_array(kRegistryArray, {});
    rig.registry->add_instance(kRegistryArray, instance("192.0.2.1"));
    const uint64_t generation = rig.publisher.current()->generation;
    rig.registry->reload_from_store({{kRegistryArray}, {"lb.example.com."}});
    CHECK(rig.publisher.current()->generation == generation);  // nothing differs: no publish

    uint32_t serial = 0;
    {
      SqliteStore other(path);
      other.add_instance(kRegistryArray, instance("192.0.2.2"), 1);
      other.upsert_array("api.lb.example.com.", {}, 1);
      serial = other.bump_zone_serial("lb.example.com.");
    }
    rig.registry->reload_from_store(
        {{kRegistryArray, "api.lb.example.com.", "gone.lb.example.com."}, {"lb.example.com."}});
    rig.refresh();
    REQUIRE(rig.served(kRegistryArray) != nullptr);
    CHECK(rig.served(kRegistryArray)->instances.size() == 2);
    CHECK(rig.served("api.lb.example.com.") != nullptr);
    CHECK(rig.registry->find("api.lb.example.com.").has_value());
    CHECK(rig.zone_serial() == serial);

    {
      SqliteStore other(path);
      other.delete_array(kRegistryArray, 2);
    }
    rig.registry->reload_from_store({{kRegistryArray}, {}});
    rig.refresh();
    CHECK(rig.served(kRegistryArray) == nullptr);
    CHECK_FALSE(rig.registry->find(kRegistryArray).has_value());
  }

  TEST_CASE("config arrays the database already has are not written again") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    const std::vector<ConfigArray> config{{kRegistryArray, {}, {instance("192.0.2.1")}}};
    rig.registry->apply_config_arrays(config);
    const uint32_t serial = rig.zone_serial();
    const size_t events = rig.registry->events(0, 100).size();
    rig.registry->apply_config_arrays(config);
    CHECK(rig.zone_serial() == serial);
    CHECK(rig.registry->events(0, 100).size() == events);
  }

  TEST_CASE("the config owns what it declares - the API's own instances survive a restart") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    arrays::ArraySettings weighted;
    weighted.policy = arrays::Policy::weighted;
    std::vector<ConfigArray> config{
        {kRegistryArray, weighted, {instance("192.0.2.1"), instance("192.0.2.2")}, "rotor.json: arrays[0]"}};
    int64_t api_added = 0;
    {
      RegistryRig rig(path);
      rig.registry->apply_config_arrays(config);
      REQUIRE(rig.registry->find(kRegistryArray)->instances.size() == 2);
      CHECK(rig.registry->config_source(kRegistryArray) == "rotor.json: arrays[0]");
      CHECK(rig.registry->find(kRegistryArray)->config_source == "rotor.json: arrays[0]");
      CHECK(rig.registry->arrays().at(0).config_source == "rotor.json: arrays[0]");
      api_added = rig.registry->add_instance(kRegistryArray, instance("192.0.2.3")).id;
      rig.registry->update_instance(kRegistryArray, api_added, instance("192.0.2.3", 50));
      const auto first = rig.registry->find(kRegistryArray)->instances[0];
      CHECK_THROWS_WITH_AS(rig.registry->update_instance(kRegistryArray, first.id, instance("192.0.2.1", 900)),
                           "address: instance 192.0.2.1 of web.lb.example.com. is listed in the config "
                           "(rotor.json: arrays[0]): change it there and reload (SIGHUP or POST /v1/reload)",
                           OwnedByConfigError);
      CHECK_THROWS_WITH_AS(rig.registry->upsert_array(kRegistryArray, {}),
                           "name: array web.lb.example.com. is declared in the config (rotor.json: "
                           "arrays[0]), which owns its settings: change it there and reload (SIGHUP or "
                           "POST /v1/reload)",
                           OwnedByConfigError);
      CHECK_THROWS_AS(rig.registry->replace_instances(kRegistryArray, {instance("192.0.2.1")}), OwnedByConfigError);
      CHECK_THROWS_AS(
          rig.registry->replace_instances(kRegistryArray, {instance("192.0.2.1", 5), instance("192.0.2.2")}),
          OwnedByConfigError);
      rig.registry->replace_instances(kRegistryArray, {instance("192.0.2.1"), instance("192.0.2.2"),
                                             instance("192.0.2.3", 60)});
    }
    config[0].instances[0].weight = 7;  // the file changed while rotor was stopped
    RegistryRig rig(path);
    rig.registry->apply_config_arrays(config);
    const auto web = rig.registry->find(kRegistryArray);
    REQUIRE(web.has_value());
    CHECK(web->settings.policy == arrays::Policy::weighted);
    REQUIRE(web->instances.size() == 3);        // the API's instance stays
    CHECK(web->instances[0].spec.weight == 7);  // the config's instance is as the config says
    CHECK(web->instances[2].id == api_added);
    CHECK(web->instances[2].spec.weight == 60);
    rig.refresh();
    CHECK(rig.served(kRegistryArray)->instances.size() == 3);

    CHECK_THROWS_WITH_AS(rig.registry->apply_config_arrays({{"x.example.org.", {}, {}}}),
                         "array x.example.org.: not in a zone rotor serves", ValidationError);
    CHECK_THROWS_WITH_AS(
        rig.registry->apply_config_arrays({{kRegistryArray, {}, {instance("192.0.2.9", 0)}}}),
        "array web.lb.example.com.: weight: must be between 1 and 1000, got 0", ValidationError);
  }

  TEST_CASE("replace_instances keeps ids and health and publishes the result") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    rig.registry->upsert_array(kRegistryArray, {});
    const auto a = rig.registry->add_instance(kRegistryArray, instance("192.0.2.1"));
    rig.registry->add_instance(kRegistryArray, instance("192.0.2.2"));
    rig.registry->set_health(a.id, Health::up, "ok");
    const auto result =
        rig.registry->replace_instances(kRegistryArray, {instance("192.0.2.1", 5), instance("192.0.2.9")});
    REQUIRE(result.size() == 2);
    CHECK(result[0].id == a.id);
    CHECK(result[0].health == Health::up);
    CHECK(result[0].spec.weight == 5);
    rig.refresh();
    REQUIRE(rig.served(kRegistryArray)->instances.size() == 2);
    CHECK(rig.served(kRegistryArray)->instances[1].spec.address.to_string() == "192.0.2.9");
  }

  TEST_CASE("backend reports are served on change only - survive instance writes - and can be dropped") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    arrays::ArraySettings weighted;  // round robin would scale reports from 100, not the weight
    weighted.policy = arrays::Policy::weighted;
    rig.registry->upsert_array(kRegistryArray, weighted);
    const auto a = rig.registry->add_instance(kRegistryArray, instance("192.0.2.1"));
    const auto b = rig.registry->add_instance(kRegistryArray, instance("192.0.2.2"));
    rig.refresh();
    const auto before = rig.snapshot;

    // Full weight and up is no report: nothing to publish.
    CHECK(rig.registry->set_reported_many({{a.id, 100, false}}) == 0);
    rig.refresh();
    CHECK(rig.snapshot == before);

    CHECK(rig.registry->set_reported_many({{a.id, 25, false}, {999, 10, false}}) == 1);
    rig.refresh();
    const auto reported = rig.snapshot;
    REQUIRE(reported != before);
    CHECK(rig.served(kRegistryArray)->v4.instances[0].weight == 25);
    CHECK(rig.served(kRegistryArray)->instances[0].reported_weight == 25);
    CHECK(rig.registry->find(kRegistryArray)->instances[0].reported_weight == 25);

    // The same report again publishes nothing.
    CHECK(rig.registry->set_reported_many({{a.id, 25, false}}) == 0);
    rig.refresh();
    CHECK(rig.snapshot == reported);

    // An operator's write to the instance keeps what the backend reports.
    auto heavier = instance("192.0.2.1", 200);
    rig.registry->update_instance(kRegistryArray, a.id, heavier);
    rig.refresh();
    CHECK(rig.served(kRegistryArray)->v4.instances[0].weight == 50);

    // Draining leaves the answers; dropping the reports brings it back at full weight.
    CHECK(rig.registry->set_reported_many({{b.id, 100, true}}) == 1);
    rig.refresh();
    CHECK(rig.served(kRegistryArray)->v4.instances.size() == 1);
    rig.registry->keep_reported_only({b.id});
    rig.refresh();
    CHECK(rig.served(kRegistryArray)->v4.instances[0].weight == 200);
    CHECK(rig.served(kRegistryArray)->v4.instances.size() == 1);
    rig.registry->keep_reported_only({});
    rig.refresh();
    CHECK(rig.served(kRegistryArray)->v4.instances.size() == 2);
  }

  TEST_CASE("rotation slots are stable per array and reused after a delete") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    const auto a = rig.registry->upsert_array("a.lb.example.com.", {});
    const auto b = rig.registry->upsert_array("b.lb.example.com.", {});
    CHECK(a.slot != b.slot);
    CHECK(rig.registry->upsert_array("a.lb.example.com.", {}).slot == a.slot);
    rig.registry->delete_array("a.lb.example.com.");
    CHECK(rig.registry->upsert_array("c.lb.example.com.", {}).slot == a.slot);
  }

  TEST_CASE("readers see consistent snapshots while health flips 2000 times") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"), 1ms);
    rig.registry->upsert_array(kRegistryArray, {});
    std::vector<int64_t> ids;
    for (const char* address : {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}) {
      ids.push_back(rig.registry->add_instance(kRegistryArray, instance(address)).id);
    }
    rig.composer.flush();

    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    auto read = [&] {
      uint64_t last_generation = 0;
      while (!done.load()) {
        const auto snapshot = rig.publisher.current();
        if (snapshot->generation < last_generation) ++bad;
        last_generation = snapshot->generation;
        const auto* web = snapshot->arrays->find(wire(kRegistryArray));
        if (web == nullptr || web->instances.size() != 4) {
          ++bad;
          continue;
        }
        size_t enabled = web->v4.instances.size();
        if (enabled == 0 || enabled > 4) ++bad;
      }
    };
    std::thread first(read);
    std::thread second(read);
    for (int i = 0; i < 2000; ++i) {
      const int64_t id = ids[static_cast<size_t>(i) % ids.size()];
      rig.registry->set_health(id, (i / 4) % 2 == 0 ? Health::down : Health::up, "probe");
    }
    rig.composer.flush();
    done = true;
    first.join();
    second.join();
    CHECK(bad.load() == 0);
    // 2,000 flips end with every instance up (the last round of 4 is round 499: odd).
    const auto* web = rig.publisher.current()->arrays->find(wire(kRegistryArray));
    REQUIRE(web != nullptr);
    for (const auto& instance : web->instances) CHECK(instance.health == Health::up);
    CHECK(rig.registry->events(0, 10000).size() >= 2000);
  }

  TEST_CASE("health checks are validated as the prober will merge them") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    arrays::ArraySettings checked;
    checked.check = R"({"type":"http","port":8080,"interval":"10s"})";
    rig.registry->upsert_array(kRegistryArray, checked);
    auto overridden = instance("192.0.2.1");
    overridden.check = R"({"timeout":"5s"})";
    const auto kept = rig.registry->add_instance(kRegistryArray, overridden);

    arrays::ArraySettings bad_check;
    bad_check.check = R"({"interval":"50ms"})";
    arrays::ArraySettings shorter;  // valid alone, but not with the instance's 5s timeout
    shorter.check = R"({"interval":"2s"})";
    auto bad_override = instance("192.0.2.2");
    bad_override.check = R"({"port":0})";
    auto long_timeout = instance("192.0.2.3");
    long_timeout.check = R"({"timeout":"10s"})";

    struct Case {
      const char* name;
      std::function<void()> call;
      const char* error;
    };
    const Case cases[] = {
        {"array check", [&] { rig.registry->upsert_array(kRegistryArray, bad_check); },
         "check.interval: must be at least 100ms, got 50ms"},
        {"array check against an override", [&] { rig.registry->upsert_array(kRegistryArray, shorter); },
         "check.timeout: must be shorter than the interval (2s), got 5s (with the check override "
         "of instance 1)"},
        {"instance override", [&] { rig.registry->add_instance(kRegistryArray, bad_override); },
         "check.port: expected 1 to 65535, got 0"},
        {"merged override", [&] { rig.registry->update_instance(kRegistryArray, kept.id, long_timeout); },
         "check.timeout: must be shorter than the interval (10s), got 10s"},
        {"replace", [&] { rig.registry->replace_instances(kRegistryArray, {overridden, long_timeout}); },
         "instances[1].check.timeout: must be shorter than the interval (10s), got 10s"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CHECK_THROWS_WITH_AS(c.call(), c.error, ValidationError);
    }
    const auto web = rig.registry->find(kRegistryArray);
    REQUIRE(web);
    CHECK(web->settings.check == checked.check);
    REQUIRE(web->instances.size() == 1);
    CHECK(web->instances[0].spec.check == overridden.check);
  }

  TEST_CASE("the change listener hears every change but health") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    int heard = 0;
    rig.registry->set_change_listener([&] { ++heard; });
    rig.registry->upsert_array(kRegistryArray, {});
    CHECK(heard == 1);
    const auto a = rig.registry->add_instance(kRegistryArray, instance("192.0.2.1"));
    CHECK(heard == 2);
    auto checked = instance("192.0.2.1");
    checked.check = R"({"type":"tcp","port":80})";
    rig.registry->update_instance(kRegistryArray, a.id, checked);
    CHECK(heard == 3);
    rig.registry->replace_instances(kRegistryArray, {instance("192.0.2.1"), instance("192.0.2.2")});
    CHECK(heard == 4);
    rig.registry->set_health(a.id, Health::down, "probe");
    CHECK(heard == 4);
    CHECK_THROWS(rig.registry->add_instance(kRegistryArray, instance("192.0.2.1", 0)));
    CHECK(heard == 4);  // nothing changed
    rig.registry->remove_instance(kRegistryArray, a.id);
    CHECK(heard == 5);
    rig.registry->apply_config_arrays({{"api.lb.example.com.", {}, {instance("192.0.2.9")}}});
    CHECK(heard == 6);
    rig.registry->delete_array(kRegistryArray);
    CHECK(heard == 7);
    rig.registry->set_change_listener(nullptr);
    rig.registry->upsert_array(kRegistryArray, {});
    CHECK(heard == 7);
  }

  TEST_CASE("the change listener does not hear an instance update that cannot change its probing") {
    ScratchDir dir;
    RegistryRig rig(dir.file("rotor.db"));
    arrays::ArraySettings checked;
    checked.check = R"({"type":"tcp","port":80})";
    rig.registry->upsert_array(kRegistryArray, checked);
    rig.registry->upsert_array("other.lb.example.com.", {});  // no check
    const auto probed = rig.registry->add_instance(kRegistryArray, instance("192.0.2.1"));
    const auto unprobed = rig.registry->add_instance("other.lb.example.com.", instance("192.0.2.2"));
    int heard = 0;
    rig.registry->set_change_listener([&] { ++heard; });
    const auto update = [&](const auto& added, const char* address, arrays::AdminState state,
                            uint16_t weight = 100, std::string check = "") {
      auto spec = instance(address, weight);
      spec.state = state;
      spec.check = std::move(check);
      const std::string array = added.id == probed.id ? kRegistryArray : "other.lb.example.com.";
      rig.registry->update_instance(array, added.id, spec);
      return std::exchange(heard, 0);
    };
    using arrays::AdminState;
    // Probed before and after, as before: not heard.
    CHECK(update(probed, "192.0.2.1", AdminState::draining) == 0);
    CHECK(update(probed, "192.0.2.1", AdminState::enabled, 7) == 0);
    // Probed or not, at another address, with another check: heard.
    CHECK(update(probed, "192.0.2.1", AdminState::disabled) == 1);
    CHECK(update(probed, "192.0.2.1", AdminState::draining) == 1);
    CHECK(update(probed, "192.0.2.9", AdminState::draining) == 1);
    CHECK(update(probed, "192.0.2.9", AdminState::draining, 100, R"({"port":81})") == 1);
    // No check before or after: never probed, whatever changes.
    CHECK(update(unprobed, "192.0.2.2", AdminState::disabled) == 0);
    CHECK(update(unprobed, "192.0.2.8", AdminState::enabled, 3) == 0);
    // A check of its own: heard, and again when it goes.
    CHECK(update(unprobed, "192.0.2.8", AdminState::enabled, 3, R"({"type":"tcp","port":80})") == 1);
    CHECK(update(unprobed, "192.0.2.8", AdminState::enabled, 3) == 1);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace rotor::registry
