#pragma once
// An IPv4 or IPv6 address as plain bytes, and the "no region" id: vocabulary
// shared by the array model, geo, probes, the config and the API. Plain
// values, freely copied between threads; parse() reports a bad text with
// nullopt, never an exception.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rotor {

// A region id that names no region (geo::RegionTable ids are below it).
inline constexpr uint16_t kNoRegion = 0xFFFF;

struct IpAddress {
  uint8_t family = 0;  // 4 or 6
  uint8_t bytes[16] = {};

  // "192.0.2.1", "2001:db8::1"; nullopt when not an address.
  static std::optional<IpAddress> parse(std::string_view text);
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

}  // namespace rotor
