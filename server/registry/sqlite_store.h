#pragma once
// The single-node Store (store.h): one SQLite database file holding the
// arrays, their instances with their last known health, the event log, the
// serials of the synthetic zones and the API's regions and networks. The
// database is the truth at runtime; the Registry's in-memory model changes
// only after a write here commits.
//
// Contract: every write runs in one transaction (nested calls join the outer
// one through savepoints, see atomically()). Every failure throws StoreError,
// or one of its kinds, with a message a person can act on; a failed write
// leaves the database as it was. Not thread-safe: the Registry serialises
// every call under its own lock.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/registry/store.h"

namespace SQLite {
class Database;
}

namespace rotor::registry {

class StatementCache;

struct StoreOptions {
  EventRetention events;  // older events are pruned
  int busy_timeout_ms = 5000;
};

class SqliteStore final : public Store {
 public:
  // The schema version this build writes; the constructor migrates older files to it.
  static constexpr int kSchemaVersion = 9;

  // Opens or creates the database at `path` and migrates it. Throws StoreError
  // naming the file for a file that is not a database ("PATH: file is not a
  // database"), a database of another program ("PATH: not a rotor database"),
  // a schema newer than this build, or a read-only file. Never resets data.
  explicit SqliteStore(const std::string& path, StoreOptions options = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  const std::string& path() const noexcept { return path_; }
  int schema_version() const;

  void atomically(const std::function<void()>& work) override;
  int64_t upsert_array(std::string_view name, const arrays::ArraySettings& settings,
                       int64_t now_ms) override;
  void delete_array(std::string_view name, int64_t now_ms) override;
  arrays::Instance add_instance(std::string_view array, const arrays::InstanceSpec& spec,
                                int64_t now_ms) override;
  arrays::Instance update_instance(std::string_view array, int64_t id,
                                   const arrays::InstanceSpec& spec, int64_t now_ms) override;
  arrays::Instance update_known_instance(std::string_view array, const arrays::Instance& current,
                                         const arrays::InstanceSpec& spec, int64_t now_ms) override;
  void remove_instance(std::string_view array, int64_t id, int64_t now_ms) override;
  bool remove_instance_if(std::string_view array, int64_t id, int64_t now_ms,
                          const RemovalDecision& decide) override;
  void set_event_origin(EventOrigin origin) override { event_origin_ = std::move(origin); }
  std::vector<arrays::Instance> replace_instances(std::string_view array,
                                                  const std::vector<arrays::InstanceSpec>& specs,
                                                  int64_t now_ms) override;
  bool set_health(const HealthChange& change) override;
  std::vector<HealthChange> set_health_many(const std::vector<HealthChange>& changes) override;
  void append_events(const std::vector<Event>& events) override;
  std::vector<StoredArray> load_all() const override;
  std::optional<StoredArray> load_array(std::string_view name) const override;
  std::vector<Event> events(const EventFilter& filter) const override;
  using Store::events;
  // sqlite_store_geo.cc
  void put_region(const geo::RegionSpec& region, int64_t now_ms) override;
  void delete_region(std::string_view name, int64_t now_ms) override;
  void put_network(const geo::NetworkSpec& network, int64_t now_ms) override;
  void delete_network(std::string_view cidr, int64_t now_ms) override;
  StoredGeo load_geo() const override;
  std::optional<uint32_t> zone_serial(std::string_view zone) const override;
  uint32_t bump_zone_serial(std::string_view zone) override;

 private:
  class Transaction;

  void migrate();
  int64_t array_id(std::string_view name) const;  // NotFoundError when absent
  std::optional<arrays::ArraySettings> stored_settings(std::string_view name) const;
  void append_event(const Event& event);
  // The pager's count of changes to the file (SQLITE_FCNTL_DATA_VERSION): it
  // moves on this connection's commits and when a transaction starts after
  // another connection's.
  uint32_t data_version() const;
  void prune_events();
  [[noreturn]] void fail(const std::exception& error) const;

  std::string path_;
  StoreOptions options_;
  std::unique_ptr<SQLite::Database> db_;
  // Declared after db_: its statements are finalized before the connection closes.
  std::unique_ptr<StatementCache> statements_;
  int transaction_depth_ = 0;
  size_t events_since_prune_ = 0;
  // The id the next event gets (0: not known), valid while the data version
  // is still next_event_id_version_: no other connection has written since
  // it was read, and every commit of ours moves the version on with it.
  int64_t next_event_id_ = 0;
  uint32_t next_event_id_version_ = 0;
  EventOrigin event_origin_;  // set_event_origin
};

}  // namespace rotor::registry
