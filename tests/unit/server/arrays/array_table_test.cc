#include "server/arrays/array_table.h"

#include <doctest/doctest.h>

#include <string>

#include "tests/unit/support/allocation_counter.h"

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

}  // namespace
}  // namespace rotor::arrays

TEST_SUITE_END();
