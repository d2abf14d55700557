// EtcdStore's regions and networks (those made through the API): the
// regions/<name> and networks/<canonical cidr> keys (DESIGN.md, "Keys"),
// written in transactions like the rest and read from the mirror.
#include "server/cluster/etcd_store.h"

namespace rotor::cluster {

void EtcdStore::put_region(const geo::RegionSpec& region, int64_t now_ms) {
  (void)now_ms;
  atomically([&] {
    const std::string key = codec::region_key(region.name);
    read(key);  // compared: a concurrent write to the same region fails this one
    put(key, codec::encode_region(region));
  });
}

void EtcdStore::delete_region(std::string_view name, int64_t now_ms) {
  (void)now_ms;
  atomically([&] {
    const std::string key = codec::region_key(name);
    if (!read(key)) throw registry::NotFoundError("no region " + std::string(name));
    remove(key);
  });
}

void EtcdStore::put_network(const geo::NetworkSpec& network, int64_t now_ms) {
  (void)now_ms;
  atomically([&] {
    const std::string key = codec::network_key(network.cidr);
    read(key);
    put(key, codec::encode_network(network));
  });
}

void EtcdStore::delete_network(std::string_view cidr, int64_t now_ms) {
  (void)now_ms;
  atomically([&] {
    const std::string key = codec::network_key(cidr);
    if (!read(key)) throw registry::NotFoundError("no network " + std::string(cidr));
    remove(key);
  });
}

registry::StoredGeo EtcdStore::load_geo() const {
  registry::StoredGeo geo;
  for (const auto& [name, value] : values_under(std::string(codec::kRegions))) {
    geo.regions.push_back(codec::decode_region(std::string(codec::kRegions) + name, value));
  }
  for (const auto& [cidr, value] : values_under(std::string(codec::kNetworks))) {
    geo.networks.push_back(codec::decode_network(std::string(codec::kNetworks) + cidr, value));
  }
  return geo;
}

}  // namespace rotor::cluster
