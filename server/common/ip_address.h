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

  // An IPv4-mapped IPv6 address (::ffff:192.0.2.1) as its IPv4 form; any
  // other address unchanged. One server has one address, whichever form the
  // operator typed.
  IpAddress unmapped() const;
  // Why clients could never reach a server at this address ("unspecified",
  // "multicast", ...), or empty when it can be one. Loopback, private and
  // documentation ranges are fine (tests and lone hosts use them).
  std::string_view not_a_server() const;
};

}  // namespace rotor
