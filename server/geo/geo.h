#pragma once
// Where a client is, for the geo policy: a region label from the `networks`
// table (longest prefix wins) or, failing that, coordinates from an optional
// MaxMind database mapped to the nearest region. Regions have stable ids, a
// position, and an order of preference; everything here is immutable once
// built and shared by every worker through the snapshot.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/ip_address.h"

namespace rotor::geo {

// The address that decides: the EDNS Client Subnet when the query had one
// (RFC 7871), else the source address.
struct ClientAddress {
  uint8_t family = 0;  // 4 or 6; 0: unknown (tests, no address)
  uint8_t bytes[16] = {};
  uint8_t prefix = 0;  // significant bits: the ECS source prefix, or 32/128
  bool from_ecs = false;
};

struct RegionSpec {
  std::string name;
  std::optional<double> lat, lon;
  std::vector<std::string> prefer;  // regions to try next, in order
};

// Region labels with stable ids. Ids are never reused, so ArrayStates built
// against an older table stay valid in a newer one that only adds regions.
class RegionTable {
 public:
  // Returns a table with `specs` (from the config) and any extra labels.
  static std::shared_ptr<const RegionTable> build(const std::vector<RegionSpec>& specs);
  // A table with `label` added (when missing); ids of existing labels unchanged.
  std::shared_ptr<const RegionTable> with_label(std::string_view label) const;

  uint16_t id(std::string_view label) const noexcept;  // kNoRegion when unknown
  const std::string& name(uint16_t id) const;
  size_t size() const noexcept;
  // How far `to` is from `from`: 0 for the same region, then increasing by
  // configured preference, then by great-circle distance, then unranked last.
  uint32_t rank(uint16_t from, uint16_t to) const noexcept;
  // The region whose position is closest to the coordinates, or kNoRegion.
  uint16_t nearest(double lat, double lon) const noexcept;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

struct NetworkSpec {
  std::string cidr;    // "192.0.2.0/24", "2001:db8::/32"
  std::string region;
};

// One spelling per network, "address/length" with the address as
// IpAddress::to_string writes it ("2001:DB8:0::/32" -> "2001:db8::/32"), so
// that two spellings of a network are one key; nullopt when `cidr` is no
// network (NetworkTable::build says why).
std::optional<std::string> canonical_cidr(std::string_view cidr);

// CIDR -> region, longest prefix wins.
class NetworkTable {
 public:
  // Throws std::invalid_argument naming the bad CIDR.
  static std::shared_ptr<const NetworkTable> build(const std::vector<NetworkSpec>& specs,
                                                   const RegionTable& regions);
  struct Match {
    uint16_t region = kNoRegion;
    uint8_t prefix = 0;  // length of the matching network
  };
  // Considers only the client's significant bits (an ECS /24 never matches a /28).
  Match lookup(const ClientAddress& client) const noexcept;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

struct ClientLocation {
  uint16_t region = kNoRegion;
  uint8_t scope = 0;  // prefix length of the network that decided
};

// Everything geo the snapshot carries.
struct GeoContext {
  std::shared_ptr<const RegionTable> regions;
  std::shared_ptr<const NetworkTable> networks;
  // Optional MaxMind lookup: coordinates for an address (see geoip.h).
  std::shared_ptr<const class GeoIpDatabase> geoip;

  ClientLocation locate(const ClientAddress& client) const noexcept;
};

}  // namespace rotor::geo
