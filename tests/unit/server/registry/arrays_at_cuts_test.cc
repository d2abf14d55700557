// ArraysAtCuts moves its per-zone counts by what changed; after every step
// its answer must be what counting everything afresh gives.
#include "server/registry/arrays_at_cuts.h"

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>

#include "server/arrays/zone_cuts.h"
#include "tests/unit/server/arrays/cut_zone.h"

namespace rotor::registry {
namespace {

using arrays::test::array_at;
using arrays::test::cut_zone;
using arrays::test::cut_zone_wire;
using Changes = std::map<std::string, std::shared_ptr<const arrays::ArrayState>>;

// The tracker and what it is given, step by step, as the composer does.
struct CutsTracker {
  ArraysAtCuts tracker;
  zones::ZoneSet zones;
  std::shared_ptr<const arrays::ArrayTable> table = std::make_shared<const arrays::ArrayTable>();
  Changes changes;
  bool table_replaced = false;

  void put(const std::string& name, uint32_t slot = 0) {
    auto state = array_at(name, slot);
    changes[state->name] = state;
    table = table->with(std::move(state));
  }
  void remove(const std::string& name) {
    changes[cut_zone_wire(name)] = nullptr;
    table = table->without(cut_zone_wire(name));
  }
  // Publishes; checks the answer against a fresh count and returns it.
  bool publish() {
    const bool answer = tracker.update(zones, table, changes, table_replaced);
    changes.clear();
    table_replaced = false;
    CHECK(answer == arrays::any_array_at_zone_cuts(zones, *table));
    return answer;
  }
};

zones::ZoneSet zone_set_of(std::initializer_list<std::shared_ptr<const zones::Zone>> zones) {
  zones::ZoneSet set;
  for (const auto& zone : zones) REQUIRE(set.add(zone));
  return set;
}

TEST_SUITE("unit/server/registry/arrays_at_cuts") {
  TEST_CASE("puts removes health changes zone reloads and new tables keep the answer right") {
    const auto with_cut = cut_zone("example.test.", {"child.example.test."}, {});
    const auto without_cut = cut_zone("example.test.", {}, {"child.example.test."});
    const auto other = cut_zone("example.org.", {"deleg.example.org."}, {});
    CutsTracker steps;
    steps.zones = zone_set_of({with_cut, other});
    CHECK_FALSE(steps.publish());  // no arrays

    steps.put("web.example.test.");
    CHECK_FALSE(steps.publish());  // beside the cut
    steps.put("web.child.example.test.", 1);
    CHECK(steps.publish());
    steps.put("web.child.example.test.", 1);  // its health changed: the same name
    CHECK(steps.publish());
    steps.put("x.deleg.example.org.", 2);
    steps.remove("web.child.example.test.");
    CHECK(steps.publish());  // one left, in the other zone
    steps.remove("x.deleg.example.org.");
    CHECK_FALSE(steps.publish());

    // Put and removed again before a publish: no change to count.
    steps.put("a.child.example.test.", 3);
    steps.remove("a.child.example.test.");
    CHECK_FALSE(steps.publish());

    steps.put("web.child.example.test.", 1);
    CHECK(steps.publish());
    // A reload without the cut, then with it again (new zone objects).
    steps.zones = zone_set_of({without_cut, other});
    CHECK_FALSE(steps.publish());
    steps.zones = zone_set_of({with_cut, other});
    CHECK(steps.publish());
    // A reload and a change together: the new zone is counted from the new
    // table, the change is not counted twice.
    steps.zones = zone_set_of({cut_zone("example.test.", {"child.example.test."}, {}), other});
    steps.remove("web.child.example.test.");
    CHECK_FALSE(steps.publish());
    steps.put("web.child.example.test.", 1);
    CHECK(steps.publish());

    // A whole new table (the registry's first load, a cluster resync).
    steps.table = std::make_shared<const arrays::ArrayTable>()->with(array_at("web.example.test."));
    steps.table_replaced = true;
    CHECK_FALSE(steps.publish());
    steps.table = steps.table->with(array_at("ns.child.example.test.", 4));
    steps.table_replaced = true;
    CHECK(steps.publish());
  }
}

}  // namespace
}  // namespace rotor::registry
