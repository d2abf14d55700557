#pragma once
// A zone with the cuts and names a test asks for, and arrays by name: what
// the tests of arrays at zone cuts (arrays/zone_cuts.h,
// registry/arrays_at_cuts.h) build their zones and tables from.

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/arrays/array_state.h"
#include "server/arrays/array_table.h"
#include "server/geo/geo.h"
#include "zones/zone.h"

namespace rotor::arrays::test {

inline std::string cut_zone_wire(const std::string& text) {
  const auto name = zones::name_from_text(text);
  REQUIRE_MESSAGE(name.has_value(), text);
  return *name;
}

// `origin` with its SOA and NS, an NS at each of `cuts` (with glue
// "ns.<cut>") and an A record at each of `names` (all presentation form,
// relative to nothing).
inline std::shared_ptr<const zones::Zone> cut_zone(const std::string& origin,
                                                   const std::vector<std::string>& cuts,
                                                   const std::vector<std::string>& names) {
  constexpr uint16_t kA = 1, kNs = 2, kSoa = 6;
  const std::string apex = cut_zone_wire(origin);
  const std::string server = cut_zone_wire("ns1." + origin);
  zones::ZoneBuilder builder(apex);
  REQUIRE_FALSE(builder.add(apex, kSoa, 1, 3600,
                            server + cut_zone_wire("hostmaster." + origin) + std::string(20, '\1')));
  REQUIRE_FALSE(builder.add(apex, kNs, 1, 3600, server));
  const std::string address("\xc0\x00\x02\x01", 4);
  REQUIRE_FALSE(builder.add(server, kA, 1, 3600, address));
  for (const std::string& cut : cuts) {
    const std::string glue = cut_zone_wire("ns." + cut);
    REQUIRE_FALSE(builder.add(cut_zone_wire(cut), kNs, 1, 3600, glue));
    REQUIRE_FALSE(builder.add(glue, kA, 1, 3600, address));
  }
  for (const std::string& name : names) REQUIRE_FALSE(builder.add(cut_zone_wire(name), kA, 1, 3600, address));
  std::shared_ptr<const zones::Zone> zone;
  const auto error = builder.finish(zone);
  REQUIRE_MESSAGE(!error, *error);
  return zone;
}

// An array (no instances) named `name` (presentation form).
inline std::shared_ptr<const ArrayState> array_at(const std::string& name, uint32_t slot = 0) {
  static const auto regions = geo::RegionTable::build({});
  return ArrayState::build(cut_zone_wire(name), slot, {}, {}, *regions);
}

}  // namespace rotor::arrays::test
