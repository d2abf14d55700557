#include "server/arrays/array_table.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/unit/support/allocation_counter.h"
#include "zones/zone.h"

TEST_SUITE_BEGIN("unit/server/arrays/array_table");

namespace rotor::arrays {
namespace {

std::string wire_name(const std::string& label) {
  return std::string(1, static_cast<char>(label.size())) + label + "\x02lb\x04test" +
         std::string(1, '\0');
}

std::shared_ptr<const ArrayState> array_named(const std::string& label, uint32_t slot,
                                              uint32_t ttl = 30) {
  auto state = std::make_shared<ArrayState>();
  state->name = wire_name(label);
  state->slot = slot;
  state->answer_ttl = ttl;
  return state;
}

TEST_CASE("insert - replace - find - remove") {
  auto table = std::make_shared<const ArrayTable>();
  CHECK(table->find(wire_name("web")) == nullptr);
  table = table->with(array_named("web", 0));
  table = table->with(array_named("api", 1));
  CHECK(table->size() == 2);
  CHECK(table->slot_limit() == 2);
  REQUIRE(table->find(wire_name("web")) != nullptr);
  CHECK(table->find(wire_name("web"))->answer_ttl == 30);

  const auto before = table;
  table = table->with(array_named("web", 0, 10));
  CHECK(table->size() == 2);
  CHECK(table->find(wire_name("web"))->answer_ttl == 10);
  CHECK(before->find(wire_name("web"))->answer_ttl == 30);  // the old table is untouched

  table = table->without(wire_name("web"));
  CHECK(table->size() == 1);
  CHECK(table->find(wire_name("web")) == nullptr);
  CHECK(table->find(wire_name("api")) != nullptr);
  CHECK(table->without(wire_name("nothere"))->size() == 1);
}

TEST_CASE("many arrays - each found - listing complete") {
  auto table = std::make_shared<const ArrayTable>();
  for (uint32_t i = 0; i < 5000; ++i) table = table->with(array_named("a" + std::to_string(i), i));
  CHECK(table->size() == 5000);
  CHECK(table->all().size() == 5000);
  for (uint32_t i = 0; i < 5000; i += 7) {
    const ArrayState* found = table->find(wire_name("a" + std::to_string(i)));
    REQUIRE(found != nullptr);
    CHECK(found->slot == i);
  }
  CHECK(table->find(wire_name("a5000")) == nullptr);
}

TEST_CASE("a change shares every other array and allocates a bounded amount") {
  auto table = std::make_shared<const ArrayTable>();
  for (uint32_t i = 0; i < 20000; ++i) table = table->with(array_named("a" + std::to_string(i), i));
  const auto replacement = array_named("a123", 123, 5);
  size_t allocations = 0;
  {
    ::rotor::test::AllocationCounter counter;
    const auto next = table->with(replacement);
    allocations = counter.allocations();
    CHECK(next->find(wire_name("a123"))->answer_ttl == 5);
    // Untouched arrays are the very same objects.
    CHECK(next->find(wire_name("a9999")) == table->find(wire_name("a9999")));
  }
  // The root-to-leaf path only: depth 3 branches, one leaf, the table itself.
  CHECK(allocations <= 12);
}

TEST_CASE("lookups allocate nothing") {
  auto table = std::make_shared<const ArrayTable>()->with(array_named("web", 0));
  const std::string web = wire_name("web");
  const std::string other = wire_name("other");
  ::rotor::test::AllocationCounter counter;
  size_t found = 0;
  for (int i = 0; i < 1000; ++i) found += (table->find(web) != nullptr) + (table->find(other) != nullptr);
  CHECK(found == 1000);
  CHECK(counter.allocations() == 0);
}

// An array named by `text` ("web.eu.lb.test.").
std::shared_ptr<const ArrayState> array_at(const std::string& text, uint32_t slot) {
  auto state = std::make_shared<ArrayState>();
  state->name = *zones::lower_name_from_text(text);
  state->slot = slot;
  return state;
}

// The names of `texts` that have an array below them, in the order given.
std::vector<std::string> with_arrays_below(const ArrayTable& table,
                                           const std::vector<std::string>& texts) {
  std::vector<std::string> out;
  for (const std::string& text : texts) {
    if (table.has_array_below(*zones::lower_name_from_text(text))) out.push_back(text);
  }
  return out;
}

TEST_CASE("the names above arrays are counted - and go with the last array below them") {
  const std::vector<std::string> names = {"web.eu.lb.test.", "eu.lb.test.", "lb.test.", "test.", ".",
                                          "api.eu.lb.test.", "us.lb.test.", "x.web.eu.lb.test."};
  using Names = std::vector<std::string>;
  auto table = std::make_shared<const ArrayTable>();
  CHECK(with_arrays_below(*table, names).empty());

  table = table->with(array_at("web.eu.lb.test.", 0));
  // Its proper ancestors, not itself (find() knows it), not the root.
  CHECK(with_arrays_below(*table, names) == Names{"eu.lb.test.", "lb.test.", "test."});
  const auto one = table;

  table = table->with(array_at("api.eu.lb.test.", 1));
  table = table->with(array_at("us.lb.test.", 2));
  CHECK(with_arrays_below(*table, names) == Names{"eu.lb.test.", "lb.test.", "test."});

  // eu.lb.test. stays while an array is below it.
  table = table->without(*zones::lower_name_from_text("web.eu.lb.test."));
  CHECK(with_arrays_below(*table, names) == Names{"eu.lb.test.", "lb.test.", "test."});
  table = table->without(*zones::lower_name_from_text("api.eu.lb.test."));
  CHECK(with_arrays_below(*table, names) == Names{"lb.test.", "test."});
  table = table->without(*zones::lower_name_from_text("us.lb.test."));
  CHECK(with_arrays_below(*table, names).empty());
  CHECK(table->size() == 0);
  // Removing a name that is not there changes no count.
  CHECK(with_arrays_below(*one->without(*zones::lower_name_from_text("eu.lb.test.")), names) ==
        Names{"eu.lb.test.", "lb.test.", "test."});
  // The tables published before are untouched.
  CHECK(with_arrays_below(*one, names) == Names{"eu.lb.test.", "lb.test.", "test."});
}

TEST_CASE("replacing an array counts the names above it once") {
  // A health change replaces the array's state: its ancestors must not be
  // counted again, or removing the array would leave them behind.
  const std::vector<std::string> names = {"eu.lb.test.", "lb.test.", "test."};
  auto table = std::make_shared<const ArrayTable>()->with(array_at("web.eu.lb.test.", 0));
  for (int i = 0; i < 3; ++i) table = table->with(array_at("web.eu.lb.test.", 0));
  // An array above another one: lb.test. is counted for both, eu.lb.test. for one.
  table = table->with(array_at("eu.lb.test.", 1));
  CHECK(table->size() == 2);
  CHECK(with_arrays_below(*table, names) == names);
  table = table->without(*zones::lower_name_from_text("web.eu.lb.test."));
  CHECK(with_arrays_below(*table, names) == std::vector<std::string>{"lb.test.", "test."});
  table = table->without(*zones::lower_name_from_text("eu.lb.test."));
  CHECK(with_arrays_below(*table, names).empty());
}

TEST_CASE("a new array allocates per label above it and a lookup of the names above allocates nothing") {
  auto table = std::make_shared<const ArrayTable>();
  for (uint32_t i = 0; i < 2000; ++i) table = table->with(array_named("a" + std::to_string(i), i));
  size_t allocations = 0;
  std::shared_ptr<const ArrayTable> next;
  {
    ::rotor::test::AllocationCounter counter;
    next = table->with(array_at("web.eu.lb.test.", 2000));
    allocations = counter.allocations();
  }
  // Four paths (the array's, and those of eu.lb.test., lb.test. and
  // test.), each: its list, 3 branches, a leaf and its entries (copied, then
  // grown); and the table. However many arrays the table holds.
  CHECK(allocations <= 4 * 7 + 1);
  const std::string eu = *zones::lower_name_from_text("eu.lb.test.");
  const std::string us = *zones::lower_name_from_text("us.lb.test.");
  ::rotor::test::AllocationCounter counter;
  size_t found = 0;
  for (int i = 0; i < 1000; ++i) found += next->has_array_below(eu) + next->has_array_below(us);
  CHECK(found == 1000);
  CHECK(counter.allocations() == 0);
}

}  // namespace
}  // namespace rotor::arrays

TEST_SUITE_END();
