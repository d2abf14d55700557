#include "server/app/registry_setup.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "server/arrays/fallback.h"
#include "server/cluster/etcd_store.h"

#include "server/dns/wire.h"
#include "server/geo/geoip.h"
#include "server/registry/sqlite_store.h"
#include "server/registry/name_conflict.h"
#include "server/registry/synthetic_zone.h"
#include "server/registry/warnings.h"

namespace rotor::app {

namespace {

// Names the config parser has validated.
std::string lower_wire(const std::string& text) { return *zones::lower_name_from_text(text); }

// A node whose cache has no serial yet for a declared zone (a fresh node)
// waits for its first full read of etcd before declaring the zone: declaring
// it earlier races the serial the cluster already holds, and the read of a
// large prefix takes seconds (tests/bench/README.md, Cluster). A node with a
// cache serves it at once and catches up; an etcd that does not answer is not
// waited for past kUnreachableGrace (the node serves what it has).
void wait_for_declared_serials(const cluster::EtcdStore& store,
                               const std::vector<registry::SyntheticZoneSpec>& specs) {
  constexpr auto kStep = std::chrono::milliseconds(100);
  constexpr auto kUnreachableGrace = std::chrono::seconds(3);
  constexpr auto kLimit = std::chrono::minutes(5);
  bool known = true;
  for (const registry::SyntheticZoneSpec& spec : specs) {
    known = known && store.zone_serial(zones::name_to_text(lower_wire(spec.name))).has_value();
  }
  if (known) return;
  const auto started = std::chrono::steady_clock::now();
  while (!store.wait_synced(kStep)) {
    const auto waited = std::chrono::steady_clock::now() - started;
    if ((!store.status().reachable && waited >= kUnreachableGrace) || waited >= kLimit) {
      spdlog::warn("cluster: declaring zones before etcd was read ({}): their serials may start at 1",
                   store.status().reachable ? "still reading" : "etcd unreachable");
      return;
    }
  }
  spdlog::info("cluster: read etcd in {} ms before declaring zones",
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count());
}

// " (file F)" for a zone from the config's zone files: the set holds them
// in config order once every file loaded.
std::string zone_file_of(const config::Config& config, const zones::ZoneSet& file_zones,
                         const zones::Zone& zone) {
  const auto& loaded = file_zones.zones();
  for (size_t i = 0; i < loaded.size() && i < config.zones.size(); ++i) {
    if (loaded[i].get() == &zone) return " (file " + config.zones[i].file + ")";
  }
  return "";
}

}  // namespace

std::vector<registry::SyntheticZoneSpec> synthetic_specs(const config::Config& config) {
  std::vector<registry::SyntheticZoneSpec> specs;
  for (const config::DeclaredZone& declared : config.declared_zones) {
    registry::SyntheticZoneSpec spec;
    spec.name = declared.name;
    for (const config::NameServer& server : declared.name_servers) {
      spec.name_servers.push_back({server.name, server.addresses});
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::vector<registry::ConfigArray> config_arrays(const config::Config& config) {
  const std::string file = config.file.empty() ? "the config" : config.file;
  std::vector<registry::ConfigArray> arrays;
  for (size_t i = 0; i < config.arrays.size(); ++i) {
    const config::ArrayConfig& array = config.arrays[i];
    registry::ConfigArray seeded{array.name, array.settings, {},
                                 file + ": arrays[" + std::to_string(i) + "]"};
    for (const config::ArrayInstance& instance : array.instances) seeded.instances.push_back(instance.spec);
    arrays.push_back(std::move(seeded));
  }
  return arrays;
}

registry::ConfigGeo build_geo(const config::Config& config) {
  registry::ConfigGeo geo{.regions = config.regions, .networks = config.networks, .file = config.file};
  try {
    registry::compose_geo(geo, {});
  } catch (const std::exception& error) {
    throw config::ConfigError(config.networks.empty() ? "regions" : "networks", error.what());
  }
  if (!config.geoip.empty()) {
    try {
      geo.geoip = std::make_shared<const geo::GeoIpDatabase>(config.geoip);
    } catch (const std::exception& error) {
      throw config::ConfigError("geoip", error.what());
    }
  }
  return geo;
}

namespace {

// The same rules as Registry::validate_fallback, over the config's arrays.
std::optional<config::ConfigError> fallback_error(const config::Config& config, size_t index,
                                                  const zones::ZoneSet& file_zones,
                                                  const std::vector<std::string>& declared) {
  const std::string path = "arrays[" + std::to_string(index) + "].fallback";
  const std::string& own = config.arrays[index].name;
  const std::string& fallback = config.arrays[index].settings.fallback;
  if (fallback.empty()) return std::nullopt;
  const auto same = [](const std::string& a, const std::string& b) { return lower_wire(a) == lower_wire(b); };
  if (same(fallback, own)) return config::ConfigError(path, "an array cannot be its own fallback");
  const std::string wire = lower_wire(fallback);
  bool served = file_zones.find_authoritative(wire) != nullptr;
  for (const std::string& origin : declared) served = served || dns::is_subdomain(wire, origin);
  if (!served) return config::ConfigError(path, "\"" + fallback + "\" is not inside a served zone");
  std::string chain = own;
  std::string at = fallback;
  for (int hop = 1; !at.empty(); ++hop) {
    chain += " -> " + at;
    if (same(at, own)) return config::ConfigError(path, "a cycle (" + chain + ")");
    if (hop > arrays::kMaxFallbackHops) {
      return config::ConfigError(path, "more than " + std::to_string(arrays::kMaxFallbackHops) +
                                           " fallbacks in a chain (" + chain + ")");
    }
    const auto next = std::find_if(config.arrays.begin(), config.arrays.end(),
                                   [&](const config::ArrayConfig& array) { return same(array.name, at); });
    at = next == config.arrays.end() ? std::string() : next->settings.fallback;
  }
  return std::nullopt;
}

}  // namespace

void check_arrays_are_served(const config::Config& config, const zones::ZoneSet& file_zones) {
  const std::vector<config::ConfigError> errors = array_serving_errors(config, file_zones);
  if (!errors.empty()) throw errors.front();
}

std::vector<config::ConfigError> array_serving_errors(const config::Config& config,
                                                      const zones::ZoneSet& file_zones) {
  std::vector<config::ConfigError> errors;
  std::vector<std::string> declared;
  for (const config::DeclaredZone& zone : config.declared_zones) {
    declared.push_back(lower_wire(zone.name));
  }
  for (size_t i = 0; i < config.arrays.size(); ++i) {
    const std::string name = lower_wire(config.arrays[i].name);
    bool served = file_zones.find_authoritative(name) != nullptr;
    for (const std::string& origin : declared) {
      served = served || dns::is_subdomain(name, origin);
    }
    if (!served) {
      errors.emplace_back("arrays[" + std::to_string(i) + "].name",
                          "\"" + config.arrays[i].name + "\" is not inside a served zone");
    }
    if (const zones::Zone* zone = file_zones.find_authoritative(name)) {
      if (auto conflict = registry::array_name_conflict(*zone, name)) {
        errors.emplace_back("arrays[" + std::to_string(i) + "].name",
                            *conflict + zone_file_of(config, file_zones, *zone));
      }
      if (auto error = registry::array_signing_error(*zone, name)) {
        errors.emplace_back("arrays[" + std::to_string(i) + "].name",
                            *error + zone_file_of(config, file_zones, *zone));
      }
    }
    if (auto error = fallback_error(config, i, file_zones, declared)) errors.push_back(std::move(*error));
  }
  return errors;
}

std::vector<std::string> config_warnings(const config::Config& config, const registry::ConfigGeo& geo) {
  const auto declared = registry::compose_geo(geo, {}).regions;
  std::vector<std::string> warnings;
  for (size_t i = 0; i < config.arrays.size(); ++i) {
    const std::string path = "arrays[" + std::to_string(i) + "]";
    for (std::string& warning : registry::settings_warnings(config.arrays[i].settings, path)) {
      warnings.push_back(std::move(warning));
    }
    const auto& instances = config.arrays[i].instances;
    for (size_t j = 0; j < instances.size(); ++j) {
      const std::string instance_path = path + ".instances[" + std::to_string(j) + "]";
      for (std::string& warning :
           registry::instance_warnings(instances[j].spec, *declared, instance_path)) {
        warnings.push_back(std::move(warning));
      }
    }
  }
  return warnings;
}

std::string database_path(const config::Config& config) {
  return config.db.empty() ? "rotor.db" : config.db;
}

cluster::EtcdOptions etcd_options(const config::ClusterConfig& cluster) {
  cluster::EtcdOptions etcd;
  etcd.endpoints = cluster.endpoints;
  etcd.username = cluster.username;
  etcd.password = cluster.password;
  etcd.tls = {cluster.tls_ca, cluster.tls_cert, cluster.tls_key};
  return etcd;
}

namespace {

// A startup error naming the setting when etcd refuses this node's
// credentials or TLS files, instead of a node that never syncs and says so
// only as a sync error. An unreachable etcd is no error (the cache serves).
void check_etcd_access(const config::ClusterConfig& cluster) {
  cluster::EtcdOptions options = etcd_options(cluster);
  options.request_timeout = std::chrono::milliseconds(2000);  // bounds the startup delay
  try {
    cluster::EtcdClient(options).range(cluster.prefix + "nodes/", {}, 0, true, 1);
  } catch (const cluster::EtcdError& error) {
    using Refused = cluster::EtcdError::Refused;
    switch (error.kind == cluster::EtcdError::Kind::auth ? error.refused : Refused::none) {
      case Refused::credentials:
        throw config::ConfigError("cluster.etcd.username",
                                  "etcd refused user \"" + cluster.username +
                                      "\" with the password from ROTOR_ETCD_PASSWORD (or its role may not use " +
                                      cluster.prefix + "): " + error.what());
      case Refused::ca:
        throw config::ConfigError("cluster.etcd.tls.ca",
                                  std::string("the etcd member's certificate is not trusted with this CA: ") +
                                      error.what());
      case Refused::client_certificate:
        throw config::ConfigError("cluster.etcd.tls.cert",
                                  std::string("the client certificate or its key (cluster.etcd.tls.key) cannot be used: ") +
                                      error.what());
      case Refused::tls:
        throw config::ConfigError("cluster.etcd.tls", error.what());
      case Refused::none:
        if (error.kind == cluster::EtcdError::Kind::auth) throw config::ConfigError("cluster.etcd", error.what());
        return;
    }
  }
}

}  // namespace

std::unique_ptr<registry::Store> open_store(const config::Config& config) {
  const std::string db = database_path(config);
  const registry::EventRetention events{.max_count = config.events.max_count,
                                        .max_age_ms = config.events.max_age.count()};
  if (!config.cluster) {
    return std::make_unique<registry::SqliteStore>(db, registry::StoreOptions{.events = events});
  }
  const config::ClusterConfig& cluster = *config.cluster;
  check_etcd_access(cluster);
  spdlog::info("cluster: node {} on etcd {} (prefix {}), cache {}", cluster.node,
               cluster.endpoints.front(), cluster.prefix, db);
  return std::make_unique<cluster::EtcdStore>(
      std::make_shared<cluster::EtcdClient>(etcd_options(cluster)),
      cluster::EtcdStoreOptions{
          .prefix = cluster.prefix, .node = cluster.node, .cache_path = db, .events = events});
}

namespace {

// Every node of a cluster applies the same config at startup: a node that
// loses a race to another retries against what the winner wrote (usually
// nothing is left to write). While etcd is unreachable the node serves the
// cluster's data from its cache and leaves the config to the others.
void apply_cluster_config(registry::Registry& registry, cluster::EtcdStore& store,
                          const std::vector<registry::ConfigArray>& arrays) {
  constexpr auto kSyncWait = std::chrono::seconds(5);
  if (arrays.empty()) return;
  if (!store.wait_synced(kSyncWait)) {
    spdlog::warn("cluster: etcd unreachable at startup; serving the cache, config arrays not applied");
    return;
  }
  for (int attempt = 1;; ++attempt) {
    try {
      registry.apply_config_arrays(arrays);
      return;
    } catch (const registry::ConcurrentChangeError&) {
      if (attempt == 5) throw;
      // Let the store's report of the winner's write reach the registry.
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
    } catch (const registry::StoreUnavailable& error) {
      spdlog::warn("cluster: config arrays not applied, etcd unreachable: {}", error.what());
      return;
    }
  }
}

}  // namespace

std::unique_ptr<registry::Registry> start_registry(const config::Config& config, registry::ConfigGeo geo,
                                                   registry::SnapshotComposer& composer) {
  std::unique_ptr<registry::Store> store = open_store(config);
  auto* etcd_store = dynamic_cast<cluster::EtcdStore*>(store.get());
  auto registry = registry::Registry::open(std::move(store), composer);
  // Arrays made through the API before the zone files changed under them:
  // served as before (the API can delete them), but never silently.
  for (const registry::RegisteredArray& stored : registry->arrays()) {
    if (auto conflict = composer.array_conflict(lower_wire(stored.name))) {
      spdlog::warn("array {}: {}; A and AAAA come from the array, other types from the zone",
                   stored.name, *conflict);
    }
    if (auto error = composer.array_signing_error(lower_wire(stored.name))) {
      spdlog::warn("array {}: {}; its answers are served unsigned until it is deleted",
                   stored.name, *error);
    }
  }
  registry->set_geo(std::move(geo));
  const std::vector<registry::SyntheticZoneSpec> declared = synthetic_specs(config);
  if (etcd_store != nullptr) wait_for_declared_serials(*etcd_store, declared);
  registry->set_synthetic_zones(declared);

  const std::vector<registry::ConfigArray> arrays = config_arrays(config);
  if (etcd_store != nullptr) {
    apply_cluster_config(*registry, *etcd_store, arrays);
  } else {
    registry->apply_config_arrays(arrays);
  }

  std::vector<registry::HealthUpdate> health;
  for (const config::ArrayConfig& array : config.arrays) {
    const auto registered = registry->find(array.name);
    if (!registered) continue;
    for (const config::ArrayInstance& instance : array.instances) {
      if (!instance.health) continue;
      for (const arrays::Instance& known : registered->instances) {
        if (known.spec.address == instance.spec.address) {
          health.push_back({known.id, *instance.health, "set in the config"});
        }
      }
    }
  }
  if (!health.empty()) {
    try {
      registry->set_health_many(health);
    } catch (const registry::StoreError& error) {
      if (etcd_store == nullptr) throw;
      spdlog::warn("cluster: the config's health settings not applied: {}", error.what());
    }
  }
  spdlog::info("config applied: {} arrays, {} health settings", arrays.size(), health.size());
  return registry;
}

}  // namespace rotor::app
