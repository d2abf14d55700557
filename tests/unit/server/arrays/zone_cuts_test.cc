// Arrays at or below zone cuts, counted per zone and asked per name: the two
// must agree, since the snapshot composer counts a zone one way and moves
// the count array by array the other (registry/arrays_at_cuts.h).
#include "server/arrays/zone_cuts.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/unit/server/arrays/cut_zone.h"

namespace rotor::arrays {
namespace {

using test::array_at;
using test::cut_zone;
using test::cut_zone_wire;

TEST_SUITE("unit/server/arrays/zone_cuts") {
  TEST_CASE("an array is at or below a cut of its zone or beside every cut") {
    // child and sub are cut; deep.child is a cut below the child's (its
    // arrays are counted once); www and a.b.ent are the zone's own names.
    const auto zone = cut_zone("example.test.", {"child.example.test.", "deep.child.example.test.",
                                                 "sub.example.test."},
                               {"www.example.test.", "a.b.ent.example.test."});
    struct Case {
      const char* array;
      bool at_or_below_cut;
    };
    const std::vector<Case> cases = {
        {"example.test.", false},               // the apex
        {"web.example.test.", false},           // a name the zone does not have
        {"www.example.test.", false},           // a name it has
        {"x.b.ent.example.test.", false},       // below an empty non-terminal
        {"subx.example.test.", false},          // a sibling that starts like a cut
        {"x.www.example.test.", false},         // below a name of the zone
        {"child.example.test.", true},          // at a cut
        {"web.child.example.test.", true},      // below one, a name the zone does not have
        {"ns.child.example.test.", true},       // at glue
        {"x.ns.child.example.test.", true},     // below glue
        {"deep.child.example.test.", true},     // at a cut below a cut
        {"x.deep.child.example.test.", true},   // below both
        {"a.b.sub.example.test.", true},        // two labels below a cut
    };
    ArrayTable empty;
    CHECK(arrays_at_zone_cuts(*zone, empty) == 0);
    auto table = std::make_shared<const ArrayTable>();
    uint64_t expected = 0;
    uint32_t slot = 0;
    for (const Case& c : cases) {
      CAPTURE(c.array);
      CHECK(at_or_below_zone_cut(*zone, cut_zone_wire(c.array)) == c.at_or_below_cut);
      table = table->with(array_at(c.array, slot++));
      if (c.at_or_below_cut) ++expected;
      // The count of the zone, array by array as the table grows.
      CHECK(arrays_at_zone_cuts(*zone, *table) == expected);
    }
    CHECK(expected == 7);
    // And as it shrinks.
    for (const Case& c : cases) {
      CAPTURE(c.array);
      table = table->without(cut_zone_wire(c.array));
      if (c.at_or_below_cut) --expected;
      CHECK(arrays_at_zone_cuts(*zone, *table) == expected);
    }
  }

  TEST_CASE("any array at a cut of any zone - a served child zone does not hide its parent's cut") {
    zones::ZoneSet set;
    REQUIRE(set.add(cut_zone("example.test.", {"child.example.test."}, {})));
    const auto beside = std::make_shared<const ArrayTable>()->with(array_at("web.example.test."));
    CHECK_FALSE(any_array_at_zone_cuts(set, *beside));
    const auto below = beside->with(array_at("web.child.example.test.", 1));
    CHECK(any_array_at_zone_cuts(set, *below));
    // The child zone answers web.child itself, but a DS query for its apex
    // is answered from the parent, where an array at the apex is at a cut.
    REQUIRE(set.add(cut_zone("child.example.test.", {}, {})));
    CHECK(any_array_at_zone_cuts(set, *below));
    const auto at_child_apex = beside->with(array_at("child.example.test.", 2));
    CHECK(any_array_at_zone_cuts(set, *at_child_apex));
    // A zone without cuts counts nothing.
    zones::ZoneSet child_only;
    REQUIRE(child_only.add(cut_zone("child.example.test.", {}, {})));
    CHECK_FALSE(any_array_at_zone_cuts(child_only, *below));
  }
}

}  // namespace
}  // namespace rotor::arrays
