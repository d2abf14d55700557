#pragma once
// Everything the query path reads, frozen. A change (zone reload, and later
// health or registry changes) builds a new Snapshot and publishes it; workers
// swap their pointer between batches and never lock while answering.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/arrays/array_table.h"
#include "server/dnssec/signing_key.h"
#include "server/geo/geo.h"
#include "zones/zone_set.h"

namespace rotor {

struct AnswerOptions {
  std::string nsid;              // RFC 5001 payload; empty: NSID is not answered
  uint16_t edns_udp_size = 1232; // our advertised and maximum UDP payload
};

// A zone whose nonexistent names are denied compactly (RFC 9824), signed per
// query name by the denial signer with `key` (server/dnssec/README.md).
struct OnlineDenialZone {
  const zones::Zone* zone = nullptr;
  std::shared_ptr<const dnssec::SigningKey> key;
};

struct Snapshot {
  zones::ZoneSet zones;
  // Instance arrays by name; never null (an empty table when there are none).
  std::shared_ptr<const arrays::ArrayTable> arrays = std::make_shared<const arrays::ArrayTable>();
  geo::GeoContext geo;
  AnswerOptions options;
  uint64_t generation = 0;
  // Zones signed online with compact denial; few, so a scan finds one.
  std::vector<OnlineDenialZone> online_denial;

  const OnlineDenialZone* online_denial_of(const zones::Zone& zone) const noexcept {
    for (const OnlineDenialZone& entry : online_denial) {
      if (entry.zone == &zone) return &entry;
    }
    return nullptr;
  }
};

}  // namespace rotor
