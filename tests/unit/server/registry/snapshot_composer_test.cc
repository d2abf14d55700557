#include "server/registry/snapshot_composer.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "server/registry/synthetic_zone.h"
#include "tests/unit/server/arrays/cut_zone.h"

namespace rotor::registry {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const arrays::ArrayState> array_named(const std::string& text, uint32_t slot) {
  static const auto regions = geo::RegionTable::build({});
  return arrays::ArrayState::build(*zones::name_from_text(text), slot, {}, {}, *regions);
}

std::shared_ptr<const zones::Zone> zone_named(const char* name, uint32_t serial = 1) {
  return build_synthetic_zone({name, {{"ns.example.net.", {}}}}, serial);
}

std::shared_ptr<const Snapshot> initial(uint64_t generation) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->generation = generation;
  snapshot->options.nsid = "base";
  return snapshot;
}

TEST_SUITE("unit/server/registry/snapshot_composer") {
  TEST_CASE("without batching every change publishes at once - generation by generation") {
    SnapshotPublisher publisher(initial(7));
    SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    CHECK(publisher.current()->generation == 7);  // nothing changed yet

    composer.put_array(array_named("web.lb.example.com.", 0));
    auto current = publisher.current();
    CHECK(current->generation == 8);
    CHECK(current->options.nsid == "base");  // parts carried over from the first snapshot
    CHECK(current->arrays->find(*zones::name_from_text("web.lb.example.com.")) != nullptr);

    composer.put_synthetic_zone(zone_named("lb.example.com."));
    current = publisher.current();
    CHECK(current->generation == 9);
    CHECK(current->zones.find_authoritative(*zones::name_from_text("web.lb.example.com.")) !=
          nullptr);
    const auto served = composer.served_zone(*zones::name_from_text("web.lb.example.com."));
    REQUIRE(served.has_value());
    CHECK(served->synthetic);
    CHECK_FALSE(composer.served_zone(*zones::name_from_text("www.example.org.")).has_value());

    composer.remove_array(*zones::name_from_text("web.lb.example.com."));
    CHECK(publisher.current()->generation == 10);
    CHECK(publisher.current()->arrays->size() == 0);
    CHECK(composer.published_count() == 3);
  }

  TEST_CASE("changes made under one Batch reach the workers in one snapshot") {
    SnapshotPublisher publisher(initial(1));
    SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    {
      SnapshotComposer::Batch batch(composer);
      composer.put_synthetic_zone(zone_named("lb.example.com."));
      composer.put_array(array_named("web.lb.example.com.", 0));
      CHECK(publisher.current()->generation == 1);  // held back
    }
    const auto current = publisher.current();
    CHECK(current->generation == 2);
    CHECK(current->arrays->size() == 1);
    CHECK(current->zones.zones().size() == 1);
    { SnapshotComposer::Batch nothing(composer); }
    CHECK(publisher.current()->generation == 2);  // an empty batch publishes nothing
  }

  TEST_CASE("a zone file wins over a synthetic zone with the same origin") {
    SnapshotPublisher publisher(initial(1));
    SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    composer.set_synthetic_zones({zone_named("lb.example.com.", 5)});
    zones::ZoneSet files;
    const auto from_file = zone_named("lb.example.com.", 99);
    files.add(from_file);
    composer.set_base(files, {});
    const auto current = publisher.current();
    REQUIRE(current->zones.zones().size() == 1);
    CHECK(current->zones.zones()[0] == from_file);
    const auto served = composer.served_zone(*zones::name_from_text("lb.example.com."));
    REQUIRE(served.has_value());
    CHECK_FALSE(served->synthetic);
  }

  TEST_CASE("with batching - a burst of changes becomes a few snapshots holding all of them") {
    SnapshotPublisher publisher(initial(1));
    {
      SnapshotComposer composer(publisher, {.publish_interval = 200ms});
      for (uint32_t i = 0; i < 100; ++i) {
        composer.put_array(array_named("a" + std::to_string(i) + ".lb.example.com.", i));
      }
      // The first change goes out at once; the other 99 wait for the interval.
      std::this_thread::sleep_for(400ms);
      CHECK(composer.published_count() >= 1);
      CHECK(composer.published_count() <= 3);
      CHECK(publisher.current()->arrays->size() == 100);

      composer.put_array(array_named("late.lb.example.com.", 100));
      composer.flush();
      CHECK(publisher.current()->arrays->size() == 101);
    }
    // Destruction publishes what is pending and stops the thread.
    const auto start = std::chrono::steady_clock::now();
    {
      SnapshotComposer stopping(publisher, {.publish_interval = 10s});
      stopping.put_array(array_named("x.lb.example.com.", 0));
      stopping.put_array(array_named("y.lb.example.com.", 1));
    }
    CHECK(std::chrono::steady_clock::now() - start < 5s);  // did not wait out the interval
    CHECK(publisher.current()->arrays->find(*zones::name_from_text("y.lb.example.com.")) !=
          nullptr);
  }

  TEST_CASE("generations keep growing when someone else published meanwhile") {
    SnapshotPublisher publisher(initial(1));
    SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    publisher.publish(initial(50));  // e.g. a zone reload not yet routed through the composer
    composer.set_geo({});
    CHECK(publisher.current()->generation == 51);
  }

  TEST_CASE("each snapshot knows whether an array lies at or below a zone cut") {
    SnapshotPublisher publisher(initial(1));
    SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    zones::ZoneSet files;
    files.add(arrays::test::cut_zone("example.test.", {"child.example.test."}, {}));
    composer.set_base(files, {});
    CHECK_FALSE(publisher.current()->arrays_at_zone_cuts);
    composer.put_array(array_named("web.example.test.", 0));
    CHECK_FALSE(publisher.current()->arrays_at_zone_cuts);  // beside the cut
    composer.put_array(array_named("web.child.example.test.", 1));
    CHECK(publisher.current()->arrays_at_zone_cuts);
    composer.put_array(array_named("web.child.example.test.", 1));  // a health change
    CHECK(publisher.current()->arrays_at_zone_cuts);
    // A reload that takes the cut away, and one that brings it back.
    zones::ZoneSet uncut;
    uncut.add(arrays::test::cut_zone("example.test.", {}, {}));
    composer.set_base(uncut, {});
    CHECK_FALSE(publisher.current()->arrays_at_zone_cuts);
    composer.set_base(files, {});
    CHECK(publisher.current()->arrays_at_zone_cuts);
    composer.remove_array(*zones::name_from_text("web.child.example.test."));
    CHECK_FALSE(publisher.current()->arrays_at_zone_cuts);
    // A whole new table.
    composer.set_arrays(std::make_shared<const arrays::ArrayTable>()->with(
        array_named("child.example.test.", 2)));
    CHECK(publisher.current()->arrays_at_zone_cuts);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace rotor::registry
