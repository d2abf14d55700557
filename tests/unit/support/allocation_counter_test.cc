#include "tests/unit/support/allocation_counter.h"

#include <doctest/doctest.h>

#include <memory>

TEST_SUITE_BEGIN("unit/support/allocation_counter");

TEST_CASE("the allocation counter sees allocations in its scope") {
  rotor::test::AllocationCounter counter;
  auto block = std::make_unique<int>(7);
  CHECK(*block == 7);
  CHECK(counter.allocations() == 1);
}

TEST_SUITE_END();
