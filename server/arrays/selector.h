#pragma once
// Per-query choice of the instances an array answers with: health, then geo,
// then weight, then rotation, then the max_answers cap. Pure: no I/O, no
// locks, no allocation; the only state is the worker's rotation counter.

#include <cstdint>

#include "server/arrays/array_state.h"
#include "server/geo/geo.h"

namespace rotor::arrays {

struct Selection {
  enum class Kind : uint8_t {
    answer,  // `count` instances in `out`
    nodata,  // the array has no instance of this family, or all are down with when_all_down none
  } kind = Kind::nodata;
  uint32_t ttl = 0;        // for the answer records, or the SOA TTL of a nodata
  uint8_t ecs_scope = 0;   // RFC 7871 scope prefix: 0 when the answer did not depend on the client
  uint16_t count = 0;
};

// The working memory of a selection, sized for the largest array: a worker
// owns one (WorkerState), so that selection neither allocates nor needs a
// large stack frame. 26 bytes per kMaxInstancesPerArray (208 KiB at 8192);
// one selection touches only the part its array's size needs.
struct SelectionScratch {
  uint16_t order[kMaxInstancesPerArray];    // candidate indices, first = lead
  uint16_t members[kMaxInstancesPerArray];  // geo: the candidates of one tier
  uint16_t sorted[kMaxInstancesPerArray];   // geo: region groups by rank
  uint32_t rank[kMaxInstancesPerArray];     // geo: each region group's rank
  double score[kMaxInstancesPerArray];      // sticky: rendezvous scores
  const AnswerInstance* chosen[kMaxInstancesPerArray];  // the answer: `count` of them
};

// Whether select_instances reads `client` for an array of `policy`: only
// geo (the client's region) and sticky (its key) do. The query path works
// out the client's address (its subnet or source) only for those.
constexpr bool reads_client_address(Policy policy) noexcept {
  switch (policy) {
    case Policy::geo:
    case Policy::sticky:
      return true;
    case Policy::round_robin:
    case Policy::weighted:
      return false;
  }
  return true;  // no such policy: give it the client, as it might read it
}

// Chooses the answer for `family` (4 or 6) into scratch.chosen. `client` is
// read only when reads_client_address(the array's policy). `rotation` is
// this worker's counter for the array; selection advances it. `room` is the
// most records the caller can use (what still fits in the reply): the order
// is built that far and no further, so a selection's cost follows the reply's
// size, not the array's (the sticky policy still scores every candidate).
// The answer is the first min(room, max_answers, candidates) of the order,
// the same first records whatever the room (at least 1).
Selection select_instances(const ArrayState& array, uint8_t family, const geo::GeoContext& geo,
                           const geo::ClientAddress& client, uint32_t& rotation,
                           SelectionScratch& scratch,
                           size_t room = kMaxInstancesPerArray) noexcept;

}  // namespace rotor::arrays
