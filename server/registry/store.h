#pragma once
// The registry's durable half, as an interface: the arrays, their instances
// with their last known health, the event log, the serials of the
// synthetic zones, and the regions and networks made through the API. Two implementations: SqliteStore (sqlite_store.h, one
// node, the default) and cluster::EtcdStore (server/cluster/etcd_store.h,
// the truth shared by every node of a cluster). The Registry (registry.h)
// sits above and knows neither.
//
// Contract: every write runs in one transaction (nested calls join the outer
// one, see atomically()), and returns only once it is durable. Every failure
// throws StoreError, or one of its kinds below, with a message a person can
// act on; a failed write changes nothing. Not thread-safe unless an
// implementation says otherwise: the Registry serialises every call under
// its own lock. status() and set_change_handler() are the exceptions, safe
// from any thread.
//
// A store shared with other writers (a cluster) learns their changes on its
// own and reports them through the change handler; the Registry then
// re-reads what changed (Registry::reload_from_store). A store nobody else
// writes never calls it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "server/arrays/array.h"
#include "server/geo/geo.h"

namespace rotor::registry {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The write would create a second instance with the same address in an array,
// or (from the registry) an array where zone data answers for its name; a
// message starting "name: " names the field.
struct ConflictError : StoreError {
  using StoreError::StoreError;
};
// Another writer changed what this write read, between the read and the
// commit (a cluster): nothing was written; retrying reads the new data.
struct ConcurrentChangeError : ConflictError {
  using ConflictError::ConflictError;
};
// The array or instance named by the call does not exist.
struct NotFoundError : StoreError {
  using StoreError::StoreError;
};
// The store cannot be reached (a cluster without quorum or without a
// reachable member): nothing was written; the API answers 503.
struct StoreUnavailable : StoreError {
  using StoreError::StoreError;
};

struct StoredArray {
  int64_t id = 0;
  std::string name;  // presentation form, lower case, trailing dot
  arrays::ArraySettings settings;
  int64_t created_ms = 0;
  // When the array's settings were last written. EtcdStore also moves it on
  // every instance write; SqliteStore does not, since that UPDATE was one of
  // the four WAL pages a PATCH of one instance wrote (tests/bench/README.md,
  // Registry writes). Nothing outside the stores reads it; the event log is
  // the record of every change.
  int64_t updated_ms = 0;
  std::vector<arrays::Instance> instances;  // by id
};

struct HealthChange {
  int64_t instance_id = 0;
  arrays::Health health = arrays::Health::unknown;
  std::string reason;
  int64_t time_ms = 0;
};

// One entry of the audit log. Composed by audit.h (every kind, reason and
// old/new text is made there), written by a store with the origin it was
// given (set_event_origin).
struct Event {
  int64_t id = 0;
  int64_t time_ms = 0;
  std::string array_name;  // empty for a reload
  int64_t instance_id = 0;
  std::string address;
  std::string kind;  // "admin", "health", "damping", "reload" or "panic"
  std::string old_value;
  std::string new_value;
  std::string reason;
  std::string node;  // the cluster node that made the change; empty on a single node
  // Who asked for it (EventOrigin::source): "api", "config", "signal" or "remove_after";
  // empty for health and damping.
  std::string source;
  // The name of the API token that asked for the change (api.tokens[].name,
  // "default" for api.token); empty for the config, health, and an API without tokens.
  std::string token;
};

// Who asks for the writes that follow (Store::set_event_origin); every
// event they write carries it. A plain value type.
struct EventOrigin {
  std::string source;  // "api", "config", "signal" (SIGHUP), "remove_after"; empty: the health checks
  std::string token;   // the API token's name; empty: none
};

// The events a reader asks for (GET /v1/events): every field that is set
// must match. A plain value type.
struct EventFilter {
  int64_t since_id = 0;     // ids above it
  size_t limit = 100;       // at most this many, oldest first
  std::string array;        // presentation form, lower case, trailing dot; empty: any
  int64_t instance_id = 0;  // 0: any
  std::string kind;         // "admin", "health", "damping", "reload", "panic"; empty: any
  int64_t from_ms = 0;      // time_ms >= from_ms; 0: no bound
  int64_t until_ms = 0;     // time_ms < until_ms; 0: no bound

  bool matches(const Event& event) const {
    return event.id > since_id && (array.empty() || event.array_name == array) &&
           (instance_id == 0 || event.instance_id == instance_id) &&
           (kind.empty() || event.kind == kind) && (from_ms == 0 || event.time_ms >= from_ms) &&
           (until_ms == 0 || event.time_ms < until_ms);
  }
};

// How much of the event log a store keeps (config `events`); both bounds
// apply, checked every 1024 events written.
struct EventRetention {
  size_t max_count = 100000;
  int64_t max_age_ms = 0;  // 0: no age bound
};

// The regions and networks made through the API (the config's are never
// stored): regions by name, networks by canonical CIDR (geo::canonical_cidr).
struct StoredGeo {
  std::vector<geo::RegionSpec> regions;
  std::vector<geo::NetworkSpec> networks;
};

// What another writer changed: array names (presentation form) whose
// settings, instances or health differ now, and zone origins whose serial did.
struct StoreChanges {
  std::vector<std::string> arrays;
  std::vector<std::string> zones;
  // A cluster's health inputs: instances whose observations changed, and
  // whether the live nodes did (cluster::HealthVerdicts; the Registry ignores them).
  std::vector<int64_t> observed_instances;
  bool nodes_changed = false;
  bool geo = false;  // the stored regions or networks
};

// Whether the store can take writes now; for metrics and the API's
// staleness header. A local store is always reachable.
struct StoreStatus {
  bool shared = false;  // a cluster's store (the fields below mean something)
  bool reachable = true;
  int64_t unreachable_since_ms = 0;  // unix ms; 0 while reachable
  int64_t revision = 0;              // the shared store's revision this node reflects; 0: none
  int64_t watch_lag_ms = 0;          // time since the shared store last said anything
};

class Store {
 public:
  virtual ~Store() = default;

  // Runs `work` in one transaction: every store write it makes commits
  // together or not at all (an exception discards everything and propagates).
  virtual void atomically(const std::function<void()>& work) = 0;

  // Creates the array or replaces its settings; returns its id.
  virtual int64_t upsert_array(std::string_view name, const arrays::ArraySettings& settings,
                               int64_t now_ms) = 0;
  // Deletes the array, its instances and nothing else (events stay). NotFoundError when absent.
  virtual void delete_array(std::string_view name, int64_t now_ms) = 0;

  // Adds an instance with health unknown and returns it with its new id.
  // ConflictError when the array already has the address; NotFoundError when
  // the array is absent.
  virtual arrays::Instance add_instance(std::string_view array, const arrays::InstanceSpec& spec,
                                        int64_t now_ms) = 0;
  // Replaces an instance's spec. A new address resets health to unknown.
  virtual arrays::Instance update_instance(std::string_view array, int64_t id,
                                           const arrays::InstanceSpec& spec, int64_t now_ms) = 0;
  // update_instance for a caller that holds the instance as it last wrote
  // or read it here (the Registry's model): a store may then write without
  // reading the row first, provided the write itself checks that the row
  // still holds `current` (spec and health) and does what update_instance
  // does when not. The same result, errors and events as update_instance.
  virtual arrays::Instance update_known_instance(std::string_view array, const arrays::Instance& current,
                                                 const arrays::InstanceSpec& spec, int64_t now_ms) {
    return update_instance(array, current.id, spec, now_ms);
  }
  virtual void remove_instance(std::string_view array, int64_t id, int64_t now_ms) = 0;
  // Removes the instance only if `decide`, asked inside the transaction with
  // the instance as the store holds it then (health included), returns a
  // reason; the "instance removed: REASON" event keeps that record
  // (audit::instance_removed). An automatic removal (remove_after) decides on
  // what is committed, not on a copy that may be stale. A cluster's store
  // compares the instance and its health at commit (ConflictError when
  // another writer changed them). Returns whether it removed; NotFoundError
  // when the instance is absent.
  using RemovalDecision = std::function<std::optional<std::string>(const arrays::Instance&)>;
  virtual bool remove_instance_if(std::string_view array, int64_t id, int64_t now_ms,
                                  const RemovalDecision& decide) = 0;
  // Who asks for the writes that follow (Event::source and Event::token of
  // every event they write), until it is set again. The Registry sets it
  // around the writes of one API call, a config apply or a reload's event,
  // and clears it after.
  virtual void set_event_origin(EventOrigin origin) = 0;
  // Makes `specs` the array's instances. Addresses that stay keep their id and
  // health; the result is every instance by id. ConflictError for an address
  // listed twice.
  virtual std::vector<arrays::Instance> replace_instances(
      std::string_view array, const std::vector<arrays::InstanceSpec>& specs, int64_t now_ms) = 0;

  // Records a health transition and its event. Returns false (and writes
  // nothing) when the instance already has that health; NotFoundError when
  // the instance is absent.
  virtual bool set_health(const HealthChange& change) = 0;
  // Many transitions in one transaction; returns those that changed anything.
  // Unknown instances are skipped (a probe may race with a removal).
  virtual std::vector<HealthChange> set_health_many(const std::vector<HealthChange>& changes) = 0;

  // Appends events that change no state (flap damping starting or ending, a reload),
  // in one transaction.
  virtual void append_events(const std::vector<Event>& events) = 0;

  // Creates or replaces the region `region.name`; writes no event (the
  // registry appends one in the same transaction).
  virtual void put_region(const geo::RegionSpec& region, int64_t now_ms) = 0;
  // NotFoundError when absent.
  virtual void delete_region(std::string_view name, int64_t now_ms) = 0;
  // Creates or replaces the network `network.cidr` (canonical); no event.
  virtual void put_network(const geo::NetworkSpec& network, int64_t now_ms) = 0;
  // NotFoundError when absent.
  virtual void delete_network(std::string_view cidr, int64_t now_ms) = 0;
  virtual StoredGeo load_geo() const = 0;

  virtual std::vector<StoredArray> load_all() const = 0;
  // One array by presentation name, or nullopt when it does not exist.
  virtual std::optional<StoredArray> load_array(std::string_view name) const = 0;
  // The events `filter` matches, oldest first, at most filter.limit.
  virtual std::vector<Event> events(const EventFilter& filter) const = 0;
  // Events with id > since_id, oldest first, at most `limit`.
  std::vector<Event> events(int64_t since_id, size_t limit) const {
    return events(EventFilter{.since_id = since_id, .limit = limit});
  }

  // The zone's SOA serial, or nullopt when it has none yet.
  virtual std::optional<uint32_t> zone_serial(std::string_view zone) const = 0;
  // Increases the zone's serial and returns it: max(old + 1, unix seconds),
  // so that a lost store still does not make the serial go backwards.
  virtual uint32_t bump_zone_serial(std::string_view zone) = 0;

  // Sets who hears about other writers' changes (empty: nobody). Once it
  // returns, the previous handler is not running and is never called again.
  // The handler runs on a thread of the store, never inside a call of the
  // Registry's, so it may call back into the Registry.
  virtual void set_change_handler(std::function<void(const StoreChanges&)> handler) {
    (void)handler;  // nobody else writes a local store
  }
  virtual StoreStatus status() const { return {}; }

  // How many array or instance writes one transaction may hold; a bulk write
  // beyond it (the config's arrays) is split by the caller into parts that
  // are each valid on their own.
  virtual size_t max_writes_per_transaction() const { return SIZE_MAX; }
};

}  // namespace rotor::registry
