#pragma once
// The set of zones served at one moment: finds the zone that is authoritative
// for a name (the longest origin that the name lies at or below).

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
  std::vector<std::shared_ptr<const Zone>> zones_;
  std::unordered_map<std::string_view, const Zone*, NameHash> by_origin_;
  size_t longest_origin_ = 0;  // wire size of the longest origin
};

}  // namespace rotor::zones
