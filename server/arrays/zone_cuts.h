#pragma once
// Whether arrays lie at or below a zone cut. An array there belongs to the
// child's servers and is referred (query/responder.cc), never answered; the
// query path learns from Snapshot::arrays_at_zone_cuts whether it must look
// for a cut at all, and these work that out when a snapshot is built: per
// zone, from its topmost cuts and the array table's counts of the arrays at
// and below a name (no walk over the arrays), or per array name, from the
// zone's nodes (one look-up per label up to the deepest name the zone has).
// The two agree: an array is counted in a zone when that zone has a cut at
// or above its name, whether or not another zone serves the name (a DS
// query for a child's apex is answered from the parent zone).
//
// Pure and thread-safe; for snapshot builders (registry/arrays_at_cuts.h,
// benchmarks, tests), never the query path.

#include <cstdint>
#include <string_view>

#include "server/arrays/array_table.h"
#include "zones/zone.h"
#include "zones/zone_set.h"

namespace rotor::arrays {

// How many arrays of `table` lie at or below a cut of `zone`: each once,
// however many cuts are above it. O(nodes of the zone) when it has cuts, one
// table look-up per topmost cut; 0 at once for a zone without cuts.
uint64_t arrays_at_zone_cuts(const zones::Zone& zone, const ArrayTable& table);

// Whether `lower_wire_name` (at or below `zone`'s origin) is at or below a
// cut of `zone`.
bool at_or_below_zone_cut(const zones::Zone& zone, std::string_view lower_wire_name) noexcept;

// Whether any array of `table` lies at or below a cut of any zone of `zones`:
// Snapshot::arrays_at_zone_cuts for a snapshot built at once (benchmarks,
// tests); the composer keeps it up to date change by change instead.
bool any_array_at_zone_cuts(const zones::ZoneSet& zones, const ArrayTable& table);

}  // namespace rotor::arrays
