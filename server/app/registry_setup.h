#pragma once
// Startup of everything the registry serves: the geo context, the config's
// declared zones and arrays, on top of the zones from files. Shared by
// `rotor serve` and `rotor check` so that both reject the same configs.

#include <memory>
#include <string>
#include <vector>

#include "server/cluster/etcd_client.h"
#include "server/config/config.h"
#include "server/geo/geo.h"
#include "server/registry/registry.h"
#include "zones/zone_set.h"

namespace rotor::app {

// The config's declared zones, as the registry builds them.
std::vector<registry::SyntheticZoneSpec> synthetic_specs(const config::Config& config);
// The config's arrays, each with its source ("FILE: arrays[i]") for the
// registry's ownership errors.
std::vector<registry::ConfigArray> config_arrays(const config::Config& config);

// The config's regions and networks, checked as their tables would be built
// (every label a network names gets an id; a CIDR with bits past its
// prefix, a duplicate network or region is refused), and the optional
// MaxMind database, opened. The registry composes them with the API's
// (Registry::set_geo). Throws config::ConfigError naming the key.
registry::ConfigGeo build_geo(const config::Config& config);

// Every configured array must lie in a zone from a file or a declared zone,
// at a name where the zone files have no CNAME, static A/AAAA or DNAME above
// (registry/name_conflict.h). Throws config::ConfigError("arrays[i].name", ...).
void check_arrays_are_served(const config::Config& config, const zones::ZoneSet& file_zones);
// Every array that breaks that rule, one ConfigError each (rotor check).
std::vector<config::ConfigError> array_serving_errors(const config::Config& config,
                                                      const zones::ZoneSet& file_zones);

// Likely mistakes in the config's arrays (registry/warnings.h), each naming
// its key path ("arrays[0].degraded_ttl: ..."); `geo` is build_geo's.
std::vector<std::string> config_warnings(const config::Config& config, const registry::ConfigGeo& geo);

// The registry's database file: config.db, default ./rotor.db (in a
// cluster: the node's cache of etcd).
std::string database_path(const config::Config& config);

// The etcd client options of a cluster section (endpoints, credentials, TLS).
cluster::EtcdOptions etcd_options(const config::ClusterConfig& cluster);

// The store the config asks for: a SqliteStore at database_path(config), or
// with a cluster section an EtcdStore caching in that file. A cluster node
// first asks etcd once (bounded, 2 s): refused credentials or TLS files throw
// ConfigError naming the setting (cluster.etcd.username, cluster.etcd.tls.ca,
// cluster.etcd.tls.cert); an unreachable etcd is not an error.
std::unique_ptr<registry::Store> open_store(const config::Config& config);

// Opens the registry on open_store(config), serves what it stored at once,
// then applies the config: `geo` (build_geo's, made before anything is
// written), declared zones, arrays, and the health the config sets. In a
// cluster, the config's arrays are applied once the store has caught up with
// etcd (not at all while etcd is unreachable: the cache is served). Throws on
// a database or config it cannot use.
std::unique_ptr<registry::Registry> start_registry(const config::Config& config, registry::ConfigGeo geo,
                                                   registry::SnapshotComposer& composer);

}  // namespace rotor::app
