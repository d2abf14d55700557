#pragma once
// The query-path test zone (tests/data/query/example.test.zone) in a snapshot
// with empty geo tables, for tests that add their own arrays to it.

#include <memory>
#include <string>

#include "server/geo/geo.h"
#include "server/snapshot/snapshot.h"
#include "zones/zone_file.h"

namespace rotor::test {

inline std::shared_ptr<Snapshot> query_zone_snapshot() {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->zones.add(zones::load_zone_file(
      std::string(ROTOR_TEST_DATA) + "/query/example.test.zone", "example.test."));
  snapshot->geo.regions = geo::RegionTable::build({});
  snapshot->geo.networks = geo::NetworkTable::build({}, *snapshot->geo.regions);
  return snapshot;
}

}  // namespace rotor::test
