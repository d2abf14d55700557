// SqliteStore's regions and networks (those made through the API), in the
// tables of migration 5.
#include <SQLiteCpp/SQLiteCpp.h>

#include "server/registry/geo_sources.h"
#include "server/registry/sqlite_store.h"
#include "server/registry/statement_cache.h"

namespace rotor::registry {

void SqliteStore::put_region(const geo::RegionSpec& region, int64_t now_ms) {
  try {
    atomically([&] {
      auto upsert = statements_->get(
          "INSERT INTO regions(name, spec_json, updated_ms) VALUES(?, ?, ?) "
          "ON CONFLICT(name) DO UPDATE SET spec_json = excluded.spec_json, updated_ms = excluded.updated_ms");
      upsert->bind(1, region.name);
      upsert->bind(2, region_json(region).dump());
      upsert->bind(3, now_ms);
      upsert->exec();
    });
  } catch (const std::exception& error) {
    fail(error);
  }
}

void SqliteStore::delete_region(std::string_view name, int64_t now_ms) {
  (void)now_ms;
  try {
    atomically([&] {
      auto remove = statements_->get("DELETE FROM regions WHERE name = ?");
      remove->bind(1, std::string(name));
      if (remove->exec() == 0) throw NotFoundError("no region " + std::string(name));
    });
  } catch (const std::exception& error) {
    fail(error);
  }
}

void SqliteStore::put_network(const geo::NetworkSpec& network, int64_t now_ms) {
  try {
    atomically([&] {
      auto upsert = statements_->get(
          "INSERT INTO networks(cidr, region, updated_ms) VALUES(?, ?, ?) "
          "ON CONFLICT(cidr) DO UPDATE SET region = excluded.region, updated_ms = excluded.updated_ms");
      upsert->bind(1, network.cidr);
      upsert->bind(2, network.region);
      upsert->bind(3, now_ms);
      upsert->exec();
    });
  } catch (const std::exception& error) {
    fail(error);
  }
}

void SqliteStore::delete_network(std::string_view cidr, int64_t now_ms) {
  (void)now_ms;
  try {
    atomically([&] {
      auto remove = statements_->get("DELETE FROM networks WHERE cidr = ?");
      remove->bind(1, std::string(cidr));
      if (remove->exec() == 0) throw NotFoundError("no network " + std::string(cidr));
    });
  } catch (const std::exception& error) {
    fail(error);
  }
}

StoredGeo SqliteStore::load_geo() const {
  try {
    StoredGeo geo;
    auto regions = statements_->get("SELECT name, spec_json FROM regions ORDER BY name");
    while (regions->executeStep()) {
      const std::string name = regions->getColumn(0).getString();
      const auto value = nlohmann::json::parse(regions->getColumn(1).getString(), nullptr, false);
      try {
        geo.regions.push_back(region_from_json(value));
      } catch (const std::invalid_argument& error) {
        throw StoreError("bad region " + name + " in the database: " + error.what());
      }
    }
    auto networks = statements_->get("SELECT cidr, region FROM networks ORDER BY cidr");
    while (networks->executeStep()) {
      geo.networks.push_back({networks->getColumn(0).getString(), networks->getColumn(1).getString()});
    }
    return geo;
  } catch (const std::exception& error) {
    fail(error);
  }
}

}  // namespace rotor::registry
