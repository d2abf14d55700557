#pragma once
// The geo the snapshot carries comes from two sources: the config's regions
// and networks (owned by the config file: API writes to them are refused)
// and those made through the API (kept in the store, StoredGeo). This file
// composes them into one GeoContext and says which source owns an entry; it
// also holds the one JSON form of a region and a network (the config's keys),
// used by the stores, the events and the API's views.
//
// Pure functions on values, thread-safe. compose_geo throws
// std::invalid_argument with RegionTable's and NetworkTable's words;
// the decoders throw std::invalid_argument naming what is wrong.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/geo/geo.h"
#include "server/registry/store.h"

namespace rotor::registry {

// What the config declares (app::build_geo): already parsed and checked.
struct ConfigGeo {
  std::vector<geo::RegionSpec> regions;
  std::vector<geo::NetworkSpec> networks;
  std::shared_ptr<const geo::GeoIpDatabase> geoip;  // optional
  std::string file;  // the config file, for "FILE: regions[2]"; empty: "the config"
};

// The config's entries, then the store's that the config does not declare
// (a region of the same name, a network of the same canonical CIDR: the
// config's wins), built as the config's are: every label a network or a
// preference names gets an id; a CIDR with bits past its prefix, a second
// spelling of one network or a 1025th region is refused.
geo::GeoContext compose_geo(const ConfigGeo& config, const StoredGeo& stored);

// Where the config declares the region or network ("rotor.json: regions[2]"),
// or nullopt when it does not. `cidr` in any spelling.
std::optional<std::string> config_region_source(const ConfigGeo& config, std::string_view name);
std::optional<std::string> config_network_source(const ConfigGeo& config, std::string_view cidr);

// {"name", "lat", "lon", "prefer"}: lat and lon only when set.
nlohmann::json region_json(const geo::RegionSpec& region);
geo::RegionSpec region_from_json(const nlohmann::json& value);
// {"cidr", "region"}.
nlohmann::json network_json(const geo::NetworkSpec& network);
geo::NetworkSpec network_from_json(const nlohmann::json& value);

}  // namespace rotor::registry
