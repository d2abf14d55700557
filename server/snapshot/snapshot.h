#pragma once
// Everything the query path reads, frozen. A change (zone reload, and later
// health or registry changes) builds a new Snapshot and publishes it; workers
// swap their pointer between batches and never lock while answering.

#include <cstdint>
#include <memory>
#include <string>

#include "server/arrays/array_table.h"
#include "server/geo/geo.h"
#include "zones/zone_set.h"

namespace rotor {

struct AnswerOptions {
  std::string nsid;              // RFC 5001 payload; empty: NSID is not answered
  uint16_t edns_udp_size = 1232; // our advertised and maximum UDP payload
};

struct Snapshot {
  zones::ZoneSet zones;
  // Instance arrays by name; never null (an empty table when there are none).
  std::shared_ptr<const arrays::ArrayTable> arrays = std::make_shared<const arrays::ArrayTable>();
  // Whether some array lies at or below a zone cut of `zones` (its answers
  // are referrals; arrays/zone_cuts.h). When false the query path answers an
  // array without looking for a cut above it. True unless the builder
  // worked it out (the snapshot composer does, registry/arrays_at_cuts.h):
  // a snapshot that does not know looks for one at every array answer.
  bool arrays_at_zone_cuts = true;
  geo::GeoContext geo;
  AnswerOptions options;
  uint64_t generation = 0;
};

}  // namespace rotor
