#pragma once
// Snapshot::arrays_at_zone_cuts, kept up to date by the snapshot composer
// from what changed since its last publish, so that a health change (the
// commonest) costs no look at the zones and a zone change looks only at the
// zones that changed: per zone with cuts, the count of arrays at or below
// them (arrays/zone_cuts.h). A zone new to the set (reload, a synthetic
// zone's new serial) or a whole new array table is counted afresh; arrays
// added or removed move the counts of the zones whose cuts are above them;
// an array replaced (its name still there) moves none.
//
// Thread-safety: none; the composer calls it under its publishing mutex.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "server/arrays/array_table.h"
#include "zones/zone_set.h"

namespace rotor::registry {

class ArraysAtCuts {
 public:
  // `changes`: the arrays put (their state) or removed (null) since the last
  // call, by lower-case wire name, as SignedArrays::update takes them;
  // `table_replaced`: `table` did not come from the last call's by those
  // changes (everything is counted again). Returns whether some array of
  // `table` lies at or below a cut of a zone of `zones`.
  bool update(const zones::ZoneSet& zones, const std::shared_ptr<const arrays::ArrayTable>& table,
              const std::map<std::string, std::shared_ptr<const arrays::ArrayState>>& changes,
              bool table_replaced);

 private:
  struct Counted {
    std::shared_ptr<const zones::Zone> zone;  // pins the key's address
    uint64_t arrays = 0;
  };
  std::unordered_map<const zones::Zone*, Counted> zones_;  // the zones with cuts, by address
  std::shared_ptr<const arrays::ArrayTable> table_;        // the last call's table
};

}  // namespace rotor::registry
