#include "server/arrays/zone_cuts.h"

#include <cassert>

#include "server/dns/wire.h"

namespace rotor::arrays {

uint64_t arrays_at_zone_cuts(const zones::Zone& zone, const ArrayTable& table) {
  if (!zone.has_delegations() || table.size() == 0) return 0;
  uint64_t count = 0;
  for (const zones::Node& node : zone.nodes()) {
    // A cut below another cut is in the upper one's subtree: counted there.
    if (!node.is_delegation || node.below_delegation) continue;
    count += table.arrays_below(node.name) + (table.find(node.name) != nullptr ? 1 : 0);
  }
  return count;
}

bool at_or_below_zone_cut(const zones::Zone& zone, std::string_view lower_wire_name) noexcept {
  assert(dns::is_subdomain(lower_wire_name, zone.origin()));
  // The deepest name the zone has at or above the array's decides: a cut, or
  // a name below one (glue, an empty non-terminal there), or neither, and
  // then no cut is above it either.
  for (std::string_view at = lower_wire_name; at.size() > zone.origin().size();
       at = at.substr(dns::parent_offset(at))) {
    if (const zones::Node* node = zone.find(at)) return node->is_delegation || node->below_delegation;
  }
  return false;
}

bool any_array_at_zone_cuts(const zones::ZoneSet& zones, const ArrayTable& table) {
  for (const auto& zone : zones.zones()) {
    if (arrays_at_zone_cuts(*zone, table) > 0) return true;
  }
  return false;
}

}  // namespace rotor::arrays
