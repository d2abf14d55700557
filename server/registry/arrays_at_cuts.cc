#include "server/registry/arrays_at_cuts.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "server/arrays/zone_cuts.h"
#include "server/dns/wire.h"

namespace rotor::registry {

bool ArraysAtCuts::update(
    const zones::ZoneSet& zones, const std::shared_ptr<const arrays::ArrayTable>& table,
    const std::map<std::string, std::shared_ptr<const arrays::ArrayState>>& changes,
    bool table_replaced) {
  if (table_ == nullptr) table_replaced = true;
  const std::shared_ptr<const arrays::ArrayTable> last = std::exchange(table_, table);
  if (std::none_of(zones.zones().begin(), zones.zones().end(),
                   [](const auto& zone) { return zone->has_delegations(); })) {
    zones_.clear();  // the common case: no cuts, nothing to count
    return false;
  }
  // The names that came or went (a replaced array keeps its place in the
  // counts), with +1 or -1.
  std::vector<std::pair<std::string_view, int>> moved;
  if (!table_replaced) {
    for (const auto& [name, state] : changes) {
      const bool was = last->find(name) != nullptr;
      const bool is = table->find(name) != nullptr;
      if (was != is) moved.emplace_back(name, is ? +1 : -1);
    }
  }
  std::unordered_map<const zones::Zone*, Counted> next;
  bool any = false;
  for (const auto& zone : zones.zones()) {
    if (!zone->has_delegations()) continue;
    const auto known = zones_.find(zone.get());
    Counted counted{.zone = zone, .arrays = 0};
    if (table_replaced || known == zones_.end()) {
      counted.arrays = arrays::arrays_at_zone_cuts(*zone, *table);
    } else {
      counted.arrays = known->second.arrays;
      for (const auto& [name, delta] : moved) {
        if (dns::is_subdomain(name, zone->origin()) && arrays::at_or_below_zone_cut(*zone, name)) {
          counted.arrays += static_cast<uint64_t>(static_cast<int64_t>(delta));
        }
      }
    }
    any = any || counted.arrays > 0;
    next.emplace(zone.get(), std::move(counted));
  }
  zones_ = std::move(next);
  return any;
}

}  // namespace rotor::registry
