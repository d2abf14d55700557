// The single-producer/single-consumer ring: order, full and empty, wrap-around
// over many laps, and two threads handing over every element once, in order.
#include "server/common/spsc_ring.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <thread>

TEST_SUITE_BEGIN("unit/server/common/spsc_ring");

namespace rotor {
namespace {

TEST_CASE("a ring holds its capacity and refuses more") {
  SpscRing<int> ring(3);
  int out = 0;
  CHECK_FALSE(ring.try_pop(out));
  CHECK(ring.try_push(1));
  CHECK(ring.try_push(2));
  CHECK(ring.try_push(3));
  CHECK_FALSE(ring.try_push(4));
  CHECK(ring.size() == 3);
  REQUIRE(ring.try_pop(out));
  CHECK(out == 1);
  CHECK(ring.try_push(4));  // the freed slot is used again
  CHECK_FALSE(ring.try_push(5));
  for (const int expected : {2, 3, 4}) {
    REQUIRE(ring.try_pop(out));
    CHECK(out == expected);
  }
  CHECK_FALSE(ring.try_pop(out));
  CHECK(ring.size() == 0);
}

TEST_CASE("elements keep their order over many wrap-arounds") {
  SpscRing<uint64_t> ring(5);
  uint64_t next_in = 0;
  uint64_t next_out = 0;
  for (int lap = 0; lap < 100; ++lap) {
    const int batch = 1 + lap % 5;
    for (int i = 0; i < batch; ++i) REQUIRE(ring.try_push(next_in++));
    for (int i = 0; i < batch; ++i) {
      uint64_t out = 0;
      REQUIRE(ring.try_pop(out));
      CHECK(out == next_out++);
    }
  }
  CHECK(next_out == next_in);
}

TEST_CASE("two threads hand over every element once and in order") {
  SpscRing<uint64_t> ring(16);
  constexpr uint64_t kCount = 200000;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kCount;) {
      if (ring.try_push(i)) ++i;
    }
  });
  uint64_t expected = 0;
  bool in_order = true;
  while (expected < kCount) {
    uint64_t out = 0;
    if (!ring.try_pop(out)) continue;
    in_order = in_order && out == expected;
    ++expected;
  }
  producer.join();
  CHECK(in_order);
  uint64_t out = 0;
  CHECK_FALSE(ring.try_pop(out));
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
