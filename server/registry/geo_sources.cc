#include "server/registry/geo_sources.h"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace rotor::registry {

namespace {

std::string file_of(const ConfigGeo& config) {
  return config.file.empty() ? "the config" : config.file;
}

// The canonical spelling, or the text itself when it is no network (the
// table build refuses it, naming it as written).
std::string network_key(const std::string& cidr) { return geo::canonical_cidr(cidr).value_or(cidr); }

}  // namespace

geo::GeoContext compose_geo(const ConfigGeo& config, const StoredGeo& stored) {
  std::vector<geo::RegionSpec> regions = config.regions;
  std::set<std::string, std::less<>> names;
  for (const geo::RegionSpec& region : config.regions) names.insert(region.name);
  for (const geo::RegionSpec& region : stored.regions) {
    if (!names.contains(region.name)) regions.push_back(region);
  }
  std::vector<geo::NetworkSpec> networks = config.networks;
  std::set<std::string> cidrs;
  for (const geo::NetworkSpec& network : config.networks) cidrs.insert(network_key(network.cidr));
  for (const geo::NetworkSpec& network : stored.networks) {
    if (!cidrs.contains(network_key(network.cidr))) networks.push_back(network);
  }
  geo::GeoContext geo;
  auto table = geo::RegionTable::build(regions);
  for (const geo::NetworkSpec& network : networks) table = table->with_label(network.region);
  geo.networks = geo::NetworkTable::build(networks, *table);
  geo.regions = std::move(table);
  geo.geoip = config.geoip;
  return geo;
}

std::optional<std::string> config_region_source(const ConfigGeo& config, std::string_view name) {
  for (size_t i = 0; i < config.regions.size(); ++i) {
    if (config.regions[i].name == name) return file_of(config) + ": regions[" + std::to_string(i) + "]";
  }
  return std::nullopt;
}

std::optional<std::string> config_network_source(const ConfigGeo& config, std::string_view cidr) {
  const std::string key = network_key(std::string(cidr));
  for (size_t i = 0; i < config.networks.size(); ++i) {
    if (network_key(config.networks[i].cidr) == key) {
      return file_of(config) + ": networks[" + std::to_string(i) + "]";
    }
  }
  return std::nullopt;
}

nlohmann::json region_json(const geo::RegionSpec& region) {
  nlohmann::json out = {{"name", region.name}};
  if (region.lat) out["lat"] = *region.lat;
  if (region.lon) out["lon"] = *region.lon;
  out["prefer"] = region.prefer;
  return out;
}

geo::RegionSpec region_from_json(const nlohmann::json& value) {
  try {
    geo::RegionSpec region;
    region.name = value.at("name").get<std::string>();
    if (value.contains("lat")) region.lat = value.at("lat").get<double>();
    if (value.contains("lon")) region.lon = value.at("lon").get<double>();
    if (value.contains("prefer")) region.prefer = value.at("prefer").get<std::vector<std::string>>();
    if (region.name.empty()) throw std::invalid_argument("empty name");
    return region;
  } catch (const nlohmann::json::exception& error) {
    throw std::invalid_argument(std::string("not a region: ") + error.what());
  }
}

nlohmann::json network_json(const geo::NetworkSpec& network) {
  return {{"cidr", network.cidr}, {"region", network.region}};
}

geo::NetworkSpec network_from_json(const nlohmann::json& value) {
  try {
    return {value.at("cidr").get<std::string>(), value.at("region").get<std::string>()};
  } catch (const nlohmann::json::exception& error) {
    throw std::invalid_argument(std::string("not a network: ") + error.what());
  }
}

}  // namespace rotor::registry
