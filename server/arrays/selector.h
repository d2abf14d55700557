#pragma once
// Per-query choice of the instances an array answers with: health, then geo,
// then weight, then rotation, then the max_answers cap. Pure: no I/O, no
// locks, no allocation; the only state is the worker's rotation counter.

#include <cstdint>
#include <span>

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

// Chooses the answer for `family` (4 or 6). `rotation` is this worker's counter
// for the array; selection advances it. `out` must hold kMaxInstancesPerArray
// (asserted).
Selection select_instances(const ArrayState& array, uint8_t family, const geo::GeoContext& geo,
                           const geo::ClientAddress& client, uint32_t& rotation,
                           std::span<const AnswerInstance*> out) noexcept;

}  // namespace rotor::arrays
