// The registry's regions and networks: the config's (set_geo) composed with
// the API's (the store's), served as one geo context; API writes to them.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/arrays/array_state.h"
#include "server/registry/audit.h"
#include "server/registry/registry.h"

namespace rotor::registry {

namespace {

template <typename Spec, typename Key>
auto find_by(std::vector<Spec>& specs, Key key) {
  return std::find_if(specs.begin(), specs.end(), [&](const Spec& spec) { return key(spec); });
}

// The API's origin for the events of one write, cleared whatever happens.
class ApiOrigin {
 public:
  ApiOrigin(Store& store, std::string_view token) : store_(store) {
    store_.set_event_origin({.source = "api", .token = std::string(token)});
  }
  ApiOrigin(const ApiOrigin&) = delete;
  ApiOrigin& operator=(const ApiOrigin&) = delete;
  ~ApiOrigin() { store_.set_event_origin({}); }

 private:
  Store& store_;
};

template <typename T>
std::optional<T> unless_end(typename std::vector<T>::iterator it, const std::vector<T>& specs) {
  if (it == specs.end()) return std::nullopt;
  return *it;
}

// The canonical spelling of `cidr`; ValidationError naming `field` otherwise.
std::string canonical(std::string_view cidr, const char* field) {
  const auto canonical = geo::canonical_cidr(cidr);
  if (!canonical) {
    throw ValidationError(std::string(field) + ": \"" + std::string(cidr) +
                          "\" is not a network like \"192.0.2.0/24\"");
  }
  return *canonical;
}

}  // namespace

geo::GeoContext Registry::composed(const State& state, const StoredGeo& stored, const std::string& field) {
  try {
    return compose_geo(state.config_geo, stored);
  } catch (const std::exception& error) {
    throw ValidationError(field + ": " + error.what());
  }
}

void Registry::serve_geo(State& state, geo::GeoContext geo) {
  SnapshotComposer::Batch batch(composer_);
  if (geo.regions == nullptr) geo.regions = geo::RegionTable::build({});
  state.geo = std::move(geo);
  *declared_regions_.lock() = state.geo.regions;
  auto table = std::make_shared<const arrays::ArrayTable>();
  for (const auto& [name, array] : state.arrays) {
    learn_regions(state, array.instances);
    table = table->with(build_state(state, array));
  }
  composer_.set_geo(state.geo);
  composer_.set_arrays(std::move(table));
}

void Registry::reload_geo(State& state) {
  StoredGeo stored = state.store.load_geo();
  sort_geo(stored);
  if (same_geo(stored, state.stored_geo)) return;  // our own write coming back
  try {
    geo::GeoContext geo = composed(state, stored, "geo");
    state.stored_geo = std::move(stored);
    serve_geo(state, std::move(geo));
  } catch (const ValidationError& error) {
    spdlog::error("registry: another node's regions and networks cannot be served, keeping the last: {}",
                  error.what());
  }
}

void Registry::set_geo(ConfigGeo config) {
  auto state = state_.lock();
  geo::GeoContext geo;
  try {
    geo = compose_geo(config, state->stored_geo);
  } catch (const std::exception& error) {
    throw ValidationError(std::string("the config's regions and networks with the API's: ") + error.what());
  }
  for (const geo::RegionSpec& region : state->stored_geo.regions) {
    if (auto source = config_region_source(config, region.name)) {
      spdlog::warn("region {} made through the API is not served: {} declares it", region.name, *source);
    }
  }
  for (const geo::NetworkSpec& network : state->stored_geo.networks) {
    if (auto source = config_network_source(config, network.cidr)) {
      spdlog::warn("network {} made through the API is not served: {} declares it", network.cidr, *source);
    }
  }
  state->config_geo = std::move(config);
  serve_geo(*state, std::move(geo));
}

std::vector<RegisteredRegion> Registry::regions() const {
  auto state = state_.lock();
  std::vector<RegisteredRegion> regions;
  for (const geo::RegionSpec& region : state->config_geo.regions) {
    regions.push_back({region, *config_region_source(state->config_geo, region.name)});
  }
  for (const geo::RegionSpec& region : state->stored_geo.regions) {
    if (!config_region_source(state->config_geo, region.name)) regions.push_back({region, ""});
  }
  return regions;
}

std::vector<RegisteredNetwork> Registry::networks() const {
  auto state = state_.lock();
  std::vector<RegisteredNetwork> networks;
  for (const geo::NetworkSpec& network : state->config_geo.networks) {
    networks.push_back({network, *config_network_source(state->config_geo, network.cidr)});
  }
  for (const geo::NetworkSpec& network : state->stored_geo.networks) {
    if (!config_network_source(state->config_geo, network.cidr)) networks.push_back({network, ""});
  }
  return networks;
}

void Registry::write_geo(State& state, StoredGeo stored, const std::string& field, std::string_view token,
                         Event event, const std::function<void(Store&, int64_t)>& write) {
  sort_geo(stored);
  geo::GeoContext geo = composed(state, stored, field);
  const ApiOrigin origin(state.store, token);
  state.store.atomically([&] {
    write(state.store, event.time_ms);
    state.store.append_events({event});
  });
  state.stored_geo = std::move(stored);
  serve_geo(state, std::move(geo));
}

void Registry::sort_geo(StoredGeo& stored) {
  // The store's order (by key), so that the store's report of this write compares equal.
  std::sort(stored.regions.begin(), stored.regions.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::sort(stored.networks.begin(), stored.networks.end(),
            [](const auto& a, const auto& b) { return a.cidr < b.cidr; });
}

bool Registry::same_geo(const StoredGeo& a, const StoredGeo& b) {
  const auto regions = [](const StoredGeo& geo) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& region : geo.regions) out.push_back(region_json(region));
    for (const auto& network : geo.networks) out.push_back(network_json(network));
    return out;
  };
  return regions(a) == regions(b);
}

bool Registry::put_region(const geo::RegionSpec& region, std::string_view token) {
  auto state = state_.lock();
  if (auto source = config_region_source(state->config_geo, region.name)) {
    throw OwnedByConfigError("name: region " + region.name + " is declared in " + *source +
                             "; change it there");
  }
  StoredGeo stored = state->stored_geo;
  const auto found = find_by(stored.regions, [&](const auto& r) { return r.name == region.name; });
  const bool created = found == stored.regions.end();
  if (!created && region_json(*found) == region_json(region)) return false;  // nothing changes: no event
  Event event = audit::region_written(unless_end(found, stored.regions), region, now_ms());
  if (created) {
    stored.regions.push_back(region);
  } else {
    *found = region;
  }
  write_geo(*state, std::move(stored), "name", token, std::move(event),
            [&](Store& store, int64_t now) { store.put_region(region, now); });
  return created;
}

void Registry::delete_region(std::string_view name, std::string_view token) {
  auto state = state_.lock();
  if (auto source = config_region_source(state->config_geo, name)) {
    throw OwnedByConfigError("name: region " + std::string(name) + " is declared in " + *source +
                             "; remove it there");
  }
  StoredGeo stored = state->stored_geo;
  const auto found = find_by(stored.regions, [&](const auto& r) { return r.name == name; });
  if (found == stored.regions.end()) throw NotFoundError("no region " + std::string(name));
  Event event = audit::region_written(*found, std::nullopt, now_ms());
  stored.regions.erase(found);
  write_geo(*state, std::move(stored), "name", token, std::move(event),
            [&](Store& store, int64_t now) { store.delete_region(name, now); });
}

bool Registry::put_network(const geo::NetworkSpec& given, std::string_view token) {
  const geo::NetworkSpec network{canonical(given.cidr, "cidr"), given.region};
  auto state = state_.lock();
  if (auto source = config_network_source(state->config_geo, network.cidr)) {
    throw OwnedByConfigError("cidr: network " + network.cidr + " is declared in " + *source +
                             "; change it there");
  }
  StoredGeo stored = state->stored_geo;
  const auto found = find_by(stored.networks, [&](const auto& n) { return n.cidr == network.cidr; });
  const bool created = found == stored.networks.end();
  if (!created && found->region == network.region) return false;  // nothing changes: no event
  Event event = audit::network_written(unless_end(found, stored.networks), network, now_ms());
  if (created) {
    stored.networks.push_back(network);
  } else {
    *found = network;
  }
  write_geo(*state, std::move(stored), "cidr", token, std::move(event),
            [&](Store& store, int64_t now) { store.put_network(network, now); });
  return created;
}

void Registry::delete_network(std::string_view cidr, std::string_view token) {
  const std::string key = canonical(cidr, "cidr");
  auto state = state_.lock();
  if (auto source = config_network_source(state->config_geo, key)) {
    throw OwnedByConfigError("cidr: network " + key + " is declared in " + *source + "; remove it there");
  }
  StoredGeo stored = state->stored_geo;
  const auto found = find_by(stored.networks, [&](const auto& n) { return n.cidr == key; });
  if (found == stored.networks.end()) throw NotFoundError("no network " + key);
  Event event = audit::network_written(*found, std::nullopt, now_ms());
  stored.networks.erase(found);
  write_geo(*state, std::move(stored), "cidr", token, std::move(event),
            [&](Store& store, int64_t now) { store.delete_network(key, now); });
}

}  // namespace rotor::registry
