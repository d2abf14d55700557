#pragma once
// The registry's durable half: one SQLite database file holding the arrays,
// their instances with their last known health, the event log and the serials
// of the synthetic zones. The database is the truth at runtime; the in-memory
// model (registry.h) is a copy that changes only after a write here commits.
//
// Contract: every write runs in one transaction (nested calls join the outer
// one through savepoints, see atomically()). Every failure throws StoreError,
// or one of its kinds below, with a message a person can act on; a failed
// write leaves the database as it was. Not thread-safe: the Registry
// serialises every call under its own lock.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "server/arrays/array.h"

namespace SQLite {
class Database;
}

namespace rotor::registry {

class StatementCache;

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The write would create a second instance with the same address in an array.
struct ConflictError : StoreError {
  using StoreError::StoreError;
};
// The array or instance named by the call does not exist.
struct NotFoundError : StoreError {
  using StoreError::StoreError;
};

struct StoredArray {
  int64_t id = 0;
  std::string name;  // presentation form, lower case, trailing dot
  arrays::ArraySettings settings;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  std::vector<arrays::Instance> instances;  // by id
};

struct HealthChange {
  int64_t instance_id = 0;
  arrays::Health health = arrays::Health::unknown;
  std::string reason;
  int64_t time_ms = 0;
};

struct Event {
  int64_t id = 0;
  int64_t time_ms = 0;
  std::string array_name;
  int64_t instance_id = 0;
  std::string address;
  std::string kind;  // "health" or "admin"
  std::string old_value;
  std::string new_value;
  std::string reason;
};

struct StoreOptions {
  // The event log keeps at most this many rows; older ones are pruned.
  size_t max_events = 100000;
  int busy_timeout_ms = 5000;
};

class Store {
 public:
  // The schema version this build writes; open() migrates older files to it.
  static constexpr int kSchemaVersion = 2;

  // Opens or creates the database at `path` and migrates it. Throws StoreError
  // naming the file for a file that is not a database ("PATH: file is not a
  // database"), a database of another program ("PATH: not a rotor database"),
  // a schema newer than this build, or a read-only file. Never resets data.
  explicit Store(const std::string& path, StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const noexcept { return path_; }
  int schema_version() const;

  // Runs `work` in one transaction: every store write it makes commits
  // together or not at all (an exception rolls everything back and propagates).
  void atomically(const std::function<void()>& work);

  // Creates the array or replaces its settings; returns its id.
  int64_t upsert_array(std::string_view name, const arrays::ArraySettings& settings,
                       int64_t now_ms);
  // Deletes the array, its instances and nothing else (events stay). NotFoundError when absent.
  void delete_array(std::string_view name, int64_t now_ms);

  // Adds an instance with health unknown and returns it with its new id.
  // ConflictError when the array already has the address; NotFoundError when
  // the array is absent.
  arrays::Instance add_instance(std::string_view array, const arrays::InstanceSpec& spec,
                                int64_t now_ms);
  // Replaces an instance's spec. A new address resets health to unknown.
  arrays::Instance update_instance(std::string_view array, int64_t id,
                                   const arrays::InstanceSpec& spec, int64_t now_ms);
  void remove_instance(std::string_view array, int64_t id, int64_t now_ms);
  // Makes `specs` the array's instances. Addresses that stay keep their id and
  // health; the result is every instance by id. ConflictError for an address
  // listed twice.
  std::vector<arrays::Instance> replace_instances(std::string_view array,
                                                  const std::vector<arrays::InstanceSpec>& specs,
                                                  int64_t now_ms);

  // Records a health transition and its event. Returns false (and writes
  // nothing) when the instance already has that health; NotFoundError when
  // the instance is absent.
  bool set_health(const HealthChange& change);
  // Many transitions in one transaction; returns those that changed anything.
  // Unknown instances are skipped (a probe may race with a removal).
  std::vector<HealthChange> set_health_many(const std::vector<HealthChange>& changes);

  std::vector<StoredArray> load_all() const;
  // Events with id > since_id, oldest first, at most `limit`.
  std::vector<Event> events(int64_t since_id, size_t limit) const;

  // The zone's SOA serial, or nullopt when it has none yet.
  std::optional<uint32_t> zone_serial(std::string_view zone) const;
  // Increases the zone's serial and returns it: max(old + 1, unix seconds),
  // so that a lost database still does not make the serial go backwards.
  uint32_t bump_zone_serial(std::string_view zone);

 private:
  class Transaction;

  void migrate();
  int64_t array_id(std::string_view name) const;  // NotFoundError when absent
  void append_event(const Event& event);
  void prune_events();
  [[noreturn]] void fail(const std::exception& error) const;

  std::string path_;
  StoreOptions options_;
  std::unique_ptr<SQLite::Database> db_;
  // Declared after db_: its statements are finalized before the connection closes.
  std::unique_ptr<StatementCache> statements_;
  int transaction_depth_ = 0;
  size_t events_since_prune_ = 0;
};

}  // namespace rotor::registry
