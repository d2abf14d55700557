#include "zones/zone_set.h"

#include <algorithm>
#include <cstring>

namespace rotor::zones {

bool ZoneSet::add(std::shared_ptr<const Zone> zone) {
  if (!zone || by_origin_.contains(zone->origin())) return false;
  // The key views the zone's own origin string, which lives as long as the
  // shared_ptr kept in zones_.
  by_origin_.emplace(zone->origin(), zone.get());
  SameSize& same = by_size_[zone->origin().size()];
  if (same.count < kCompareOrigins) same.zones[same.count] = zone.get();
  if (same.count < UINT8_MAX) ++same.count;
  longest_origin_ = std::max(longest_origin_, zone->origin().size());
  zones_.push_back(std::move(zone));
  return true;
}

const Zone* ZoneSet::find_authoritative(std::string_view lower_wire_name) const noexcept {
  std::string_view suffix = lower_wire_name;
  // Suffixes longer than every origin cannot match, so they cost no lookup.
  // The size checks keep a malformed name from walking off its end.
  while (!suffix.empty()) {
    if (suffix.size() <= longest_origin_) {
      const SameSize& same = by_size_[suffix.size()];
      if (same.count > kCompareOrigins) {
        const auto it = by_origin_.find(suffix);
        if (it != by_origin_.end()) return it->second;
      } else {
        for (uint8_t i = 0; i < same.count; ++i) {
          if (std::memcmp(same.zones[i]->origin().data(), suffix.data(), suffix.size()) == 0) {
            return same.zones[i];
          }
        }
      }
    }
    const size_t label = static_cast<uint8_t>(suffix[0]);
    if (label == 0 || label + 1 > suffix.size()) break;
    suffix.remove_prefix(label + 1);
  }
  return nullptr;
}

}  // namespace rotor::zones
