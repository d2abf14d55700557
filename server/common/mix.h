#pragma once
// splitmix64's finalizer: every input bit moves every output bit. Used where
// a 64-bit key must spread evenly (sticky choice, rate-limit slots, seeds).

#include <cstdint>

namespace rotor {

constexpr uint64_t mix64(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace rotor
