#pragma once
// The synthetic registry the benchmarks that build one share
// (registry_write_bench, arrays_bench, cluster_bench): arrays named
// a<N>.bench.test. in the zone bench.test. (tests/bench/bench.sh's zone),
// instances 10.0.<hi>.<lo>, distinct within an array and shared across
// arrays. Header only: each benchmark is its own executable.

#include <cstddef>
#include <cstdint>
#include <string>

#include "server/arrays/array.h"

namespace rotor::bench {

inline constexpr const char* kZone = "bench.test.";

// The index-th array's name: a<index>.bench.test.
inline std::string array_name(size_t index) { return "a" + std::to_string(index) + "." + kZone; }

// 10.0.0.1, 10.0.0.2, ... for index 1, 2, ... (up to 65,535).
inline arrays::IpAddress instance_address(size_t index) {
  arrays::IpAddress address;
  address.family = 4;
  address.bytes[0] = 10;
  address.bytes[2] = static_cast<uint8_t>(index >> 8);
  address.bytes[3] = static_cast<uint8_t>(index & 0xff);
  return address;
}

}  // namespace rotor::bench
