#pragma once
// The set of zones served at one moment: finds the zone that is authoritative
// for a name (the longest origin that the name lies at or below). Asked once
// per query: only the name's suffixes as long as some origin are compared,
// against the few origins of that length directly (no hash of the name) up
// to kCompareOrigins of them, through a hash map beyond.

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "zones/zone.h"

namespace rotor::zones {

class ZoneSet {
 public:
  // Adds a zone; returns false when a zone with the same origin is present.
  bool add(std::shared_ptr<const Zone> zone);

  // The zone whose origin is the longest suffix of `lower_wire_name`, or null.
  const Zone* find_authoritative(std::string_view lower_wire_name) const noexcept;

  const std::vector<std::shared_ptr<const Zone>>& zones() const noexcept { return zones_; }

 private:
  // Origins of one wire size compared one by one, at most this many; more
  // and the size goes to the hash map.
  static constexpr size_t kCompareOrigins = 4;
  struct SameSize {
    uint8_t count = 0;  // origins of this size; more than kCompareOrigins: hashed
    std::array<const Zone*, kCompareOrigins> zones{};
  };

  std::vector<std::shared_ptr<const Zone>> zones_;
  std::unordered_map<std::string_view, const Zone*, NameHash> by_origin_;
  // By wire size (1 to 255): the origins of that size.
  std::array<SameSize, 256> by_size_{};
  size_t longest_origin_ = 0;  // wire size of the longest origin
};

}  // namespace rotor::zones
