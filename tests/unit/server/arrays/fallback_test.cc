#include "server/arrays/fallback.h"

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/geo/geo.h"
#include "tests/unit/server/arrays/array_fixtures.h"
#include "tests/unit/support/allocation_counter.h"
#include "zones/zone.h"

TEST_SUITE_BEGIN("unit/server/arrays/fallback");

namespace rotor::arrays {
namespace {

using test::instance;

// Arrays a.test. .. d.test. by letter: their health and fallback.
struct Spec {
  char name;
  std::vector<Health> v4;  // one instance per entry; empty: no IPv4 instance
  char fallback;           // 0: none
  WhenAllDown when_all_down = WhenAllDown::all;
};

std::string name_of(char letter) { return std::string(1, letter) + ".lb.example.com."; }

std::shared_ptr<const ArrayTable> table_of(const std::vector<Spec>& specs) {
  static const auto regions = geo::RegionTable::build({});
  auto table = std::make_shared<const ArrayTable>();
  uint32_t slot = 0;
  int octet = 1;
  for (const Spec& spec : specs) {
    ArraySettings settings;
    settings.when_all_down = spec.when_all_down;
    if (spec.fallback != 0) settings.fallback = name_of(spec.fallback);
    std::vector<Instance> instances;
    for (const Health health : spec.v4) {
      instances.push_back(instance("192.0.2." + std::to_string(octet++), 100, health));
    }
    instances.push_back(instance("2001:db8::" + std::to_string(octet++), 100, Health::up));
    table = table->with(ArrayState::build(*zones::lower_name_from_text(name_of(spec.name)), slot++,
                                          settings, std::move(instances), *regions));
  }
  return table;
}

TEST_CASE("the first array in the chain with a healthy instance of the family answers") {
  using enum Health;
  struct Case {
    const char* what;
    std::vector<Spec> arrays;
    char answers;  // for a.test., IPv4
    int hops;
  };
  const std::vector<Case> cases = {
      {"healthy: no fallback needed", {{'a', {up, down}, 'b'}, {'b', {up}, 0}}, 'a', 0},
      {"unknown counts as healthy", {{'a', {unknown}, 'b'}, {'b', {up}, 0}}, 'a', 0},
      {"all down: the fallback", {{'a', {down, down}, 'b'}, {'b', {up}, 0}}, 'b', 1},
      {"all down and when_all_down none: the fallback",
       {{'a', {down}, 'b', WhenAllDown::none}, {'b', {up}, 0}}, 'b', 1},
      {"a chain: the first healthy one", {{'a', {down}, 'b'}, {'b', {down}, 'c'}, {'c', {up}, 0}}, 'c', 2},
      {"three hops at most", {{'a', {down}, 'b'}, {'b', {down}, 'c'}, {'c', {down}, 'd'}, {'d', {up}, 0}}, 'd', 3},
      {"nothing healthy anywhere: the asked array's own when_all_down",
       {{'a', {down}, 'b'}, {'b', {down}, 0}}, 'a', 0},
      {"a missing fallback", {{'a', {down}, 'z'}}, 'a', 0},
      {"a fallback without the family", {{'a', {down}, 'b'}, {'b', {}, 0}}, 'a', 0},
      {"a cycle is not followed around", {{'a', {down}, 'b'}, {'b', {down}, 'a'}}, 'a', 0},
      {"no instance of the family: nodata stays nodata", {{'a', {}, 'b'}, {'b', {up}, 0}}, 'a', 0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const auto table = table_of(c.arrays);
    const ArrayState* asked = table->find(*zones::lower_name_from_text(name_of('a')));
    REQUIRE(asked != nullptr);
    const AnsweringArray answering = resolve_fallback(*table, *asked, 4);
    REQUIRE(answering.array != nullptr);
    CHECK(answering.array->name_text == name_of(c.answers));
    CHECK(answering.hops == c.hops);
    // IPv6 is healthy everywhere: never a fallback.
    CHECK(resolve_fallback(*table, *asked, 6).hops == 0);
  }
}

TEST_CASE("four hops are one too many") {
  using enum Health;
  const auto table = table_of({{'a', {down}, 'b'}, {'b', {down}, 'c'}, {'c', {down}, 'd'}, {'d', {down}, 'e'},
                               {'e', {up}, 0}});
  const ArrayState* asked = table->find(*zones::lower_name_from_text(name_of('a')));
  CHECK(resolve_fallback(*table, *asked, 4).hops == 0);
}

TEST_CASE("resolving a fallback does not allocate") {
  using enum Health;
  const auto table = table_of({{'a', {down}, 'b'}, {'b', {down}, 'c'}, {'c', {up}, 0}});
  const ArrayState* asked = table->find(*zones::lower_name_from_text(name_of('a')));
  int hops = 0;
  rotor::test::AllocationCounter counter;
  for (int i = 0; i < 100; ++i) hops += resolve_fallback(*table, *asked, 4).hops;
  CHECK(counter.allocations() == 0);
  CHECK(hops == 200);
}

}  // namespace
}  // namespace rotor::arrays

TEST_SUITE_END();
