#pragma once
// Fallback arrays: when an array has instances of the asked family but none
// is healthy, its `fallback` array answers instead (same owner name; the
// fallback's selection, health, geo and weights; its degraded TTL), as
// Route 53 failover routing and PowerDNS's backupSelector do. A chain is
// followed at most kMaxFallbackHops arrays far, to the first array that has a
// healthy instance of the family. When none has (or a fallback is missing
// from the snapshot, or lacks the family), the first array answers by its own
// when_all_down: the primary's instances are what the operator pointed at.
//
// Pure and allocation-free: on the query path, and in explain.

#include <cstdint>

#include "server/arrays/array_state.h"
#include "server/arrays/array_table.h"

namespace rotor::arrays {

inline constexpr int kMaxFallbackHops = 3;

struct AnsweringArray {
  const ArrayState* array = nullptr;  // the one whose selection answers
  int hops = 0;                       // 0: the array asked for; n: its n-th fallback
};

AnsweringArray resolve_fallback(const ArrayTable& table, const ArrayState& asked, uint8_t family) noexcept;

}  // namespace rotor::arrays
