#pragma once
// The registry: the only writer of arrays and instances, used by the API, the
// health probes and startup. It owns the Store (the truth: a SqliteStore on
// one node, an EtcdStore in a cluster; it knows neither), an in-memory copy
// of every array, and feeds the SnapshotComposer one rebuilt ArrayState per
// change.
//
// Contract of every mutation: validate (ValidationError), write to the store
// in one transaction (StoreError, ConflictError, NotFoundError), and only when
// that committed update the in-memory model, rebuild the touched array's
// ArrayState and ask the composer to publish. A failed call leaves the served
// data exactly as it was. Thread-safe: calls are serialised by one lock; the
// query path never touches the registry, only the snapshots it leads to.
//
// Other writers (the nodes of a cluster) change the store behind the model;
// the store reports it and reload_from_store re-reads what changed. The
// registry's own writes update the model at once (read-your-writes), so the
// store's later report of them finds nothing to do.
//
// Startup order: Registry::open (serves the stored arrays with their last
// known health at once), set_synthetic_zones, apply_config_arrays; later
// geo changes go through set_geo so that every array is rebuilt against the
// new region table.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/arrays/array.h"
#include "server/common/lock_guarded.h"
#include "server/common/utc_time.h"
#include "server/geo/geo.h"
#include "server/registry/geo_sources.h"
#include "server/registry/snapshot_composer.h"
#include "server/registry/store.h"
#include "server/registry/synthetic_zone.h"

namespace rotor::registry {

// Bad input from the caller; the message names the field.
struct ValidationError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct RegisteredArray {
  int64_t id = 0;
  std::string name;  // presentation form, lower case, trailing dot
  arrays::ArraySettings settings;
  std::vector<arrays::Instance> instances;  // by id
  uint32_t slot = 0;
  // Where this node's config declares it ("rotor.json: arrays[0]", the owner
  // whose settings the API may not change), or empty for the API's.
  std::string config_source;
};

// An array declared in the config file.
struct ConfigArray {
  std::string name;
  arrays::ArraySettings settings;
  std::vector<arrays::InstanceSpec> instances;
  std::string source;  // where it is declared ("rotor.json: arrays[0]"), for OwnedByConfigError
};

// An API write to what the config declares: an array's settings, the array
// itself, or an instance the config lists. The config owns them (a restart or
// reload would write them back), so the write is refused (409) naming the
// config; the message starts "name: " or "address: " like ConflictError's.
struct OwnedByConfigError : ConflictError {
  using ConflictError::ConflictError;
};

// A region or network as served, and who owns it: `source` is where the
// config declares it ("rotor.json: regions[0]"), or empty for one made
// through the API (kept in the store).
struct RegisteredRegion {
  geo::RegionSpec spec;
  std::string source;
};
struct RegisteredNetwork {
  geo::NetworkSpec spec;  // cidr canonical for the API's, as written for the config's
  std::string source;
};

// An instance and the array it belongs to (find_instances).
struct LocatedInstance {
  std::string array;  // presentation form
  arrays::Instance instance;
};

struct HealthUpdate {
  int64_t instance_id = 0;
  arrays::Health health = arrays::Health::unknown;
  std::string reason;
};

// Flap damping started holding an instance down (`held`) or stopped.
struct DampingUpdate {
  int64_t instance_id = 0;
  bool held = false;
  int64_t until_ms = 0;  // held: the earliest time it may come up again
  std::string reason;    // ended: why (the rise to up, or the failure it is down for now)
};

struct RegistryOptions {
  // The wall clock, unix ms: health and event times, slow-start ramps. Tests inject one.
  std::function<int64_t()> clock = unix_now_ms;
  // A slow-start ramp republishes its array at most this often.
  std::chrono::milliseconds ramp_interval{250};
};

// What a backend reports about itself (check.weight_from_response,
// probes/backend_report.h): from this node's probes, or the cluster's
// observations combined (cluster/verdict.h).
struct ReportedUpdate {
  int64_t instance_id = 0;
  uint8_t weight = 100;  // percent of the configured weight
  bool draining = false;
};

class Registry {
 public:
  // Takes the store, loads every array and publishes them through
  // `composer`, which must outlive the registry, and follows the store's
  // reports of other writers' changes. Throws StoreError for data that
  // cannot be used. Starts the ramp thread (advance_ramps), which sleeps
  // while no slow-start ramp runs.
  static std::unique_ptr<Registry> open(std::unique_ptr<Store> store, SnapshotComposer& composer,
                                        RegistryOptions options = {});
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // An array's name as the registry keys it: presentation form lower-cased
  // with the final dot ("web.example.com."), and its wire form.
  struct Name {
    std::string text;
    std::string wire;
  };
  // `name` in any case, with or without the final dot, escapes allowed;
  // ValidationError naming it when it is not a domain name or is the root.
  // A plain name (letters, digits and the like, no escape) is lowered in
  // place; others go through the wire form and back (zones::name_to_text),
  // which cost about 2,000 instructions, twice per API PATCH.
  static Name normalize(std::string_view name);

  // Reads (copies of the model).
  std::vector<RegisteredArray> arrays() const;  // by name
  std::optional<RegisteredArray> find(std::string_view name) const;
  // One instance and what a write of it needs of its array, without copying
  // the array's other instances (an API PATCH of one instance used to copy
  // the whole array). std::nullopt when there is no array `name`; `instance`
  // empty when the array has no instance `id`.
  struct FoundInstance {
    std::string array;  // presentation form
    arrays::ArraySettings settings;
    std::optional<arrays::Instance> instance;  // as find() shows it, backend reports included
  };
  std::optional<FoundInstance> find_instance_in(std::string_view name, int64_t id) const;
  std::vector<Event> events(const EventFilter& filter) const;
  std::vector<Event> events(int64_t since_id, size_t limit) const {
    return events(EventFilter{.since_id = since_id, .limit = limit});
  }
  // Every instance with `address`, over all arrays, by array name. A scan of
  // every instance (an operator's lookup, not a hot path).
  std::vector<LocatedInstance> find_instances(const arrays::IpAddress& address) const;

  // Creates the array or replaces its settings. A new array's name must lie
  // in a served zone (ValidationError) where no zone data answers for it: a
  // CNAME, static A/AAAA, a DNAME above it (ConflictError "name: ...";
  // name_conflict.h). An apex array is fine: SOA and NS stay the zone's.
  //
  // These writes are the API's: their events (audit.h) have source "api"
  // and `token`, the name of the API token that asks for the change
  // (Event::token); empty: none.
  RegisteredArray upsert_array(std::string_view name, const arrays::ArraySettings& settings,
                               std::string_view token = {});
  void delete_array(std::string_view name, std::string_view token = {});
  arrays::Instance add_instance(std::string_view array, const arrays::InstanceSpec& spec,
                                std::string_view token = {});
  arrays::Instance update_instance(std::string_view array, int64_t id,
                                   const arrays::InstanceSpec& spec, std::string_view token = {});
  void remove_instance(std::string_view array, int64_t id, std::string_view token = {});
  // Automatic removal (remove_after; instance_expiry.h): removes the instance
  // when it is still expired, not up since `not_up_since_ms` (the reaper's
  // measure), by the rules asked on the model and again on what the store
  // holds at commit (an instance that came back up meanwhile stays). Its
  // "instance removed: remove_after ..." event keeps the instance's last
  // record and has source "remove_after". An instance the config lists is
  // never removed (the config would bring it back). NotFoundError when the
  // array or instance is gone; store errors as remove_instance.
  enum class ExpiredRemoval : uint8_t { removed, not_expired, listed_in_config };
  ExpiredRemoval remove_expired_instance(std::string_view array, int64_t id, int64_t not_up_since_ms);
  // Makes `specs` the array's instances; addresses that stay keep id and health.
  std::vector<arrays::Instance> replace_instances(std::string_view array,
                                                  const std::vector<arrays::InstanceSpec>& specs,
                                                  std::string_view token = {});

  // Records a health transition; false when the instance is unknown (removed
  // while probed) or already has that health.
  bool set_health(int64_t instance_id, arrays::Health health, std::string reason);
  // Many transitions in one transaction and one publish; returns how many changed.
  size_t set_health_many(const std::vector<HealthUpdate>& updates);
  // Serves transitions without writing them to the store: a cluster node cut
  // off from the store decides health from its own probes alone
  // (cluster::HealthVerdicts); the store's health returns with the store.
  size_t apply_health_locally(const std::vector<HealthUpdate>& updates);
  // Writes each transition the store does not hold yet (the store compares
  // with its own record, not with what this node serves: a cluster node may
  // have served a verdict before recording it) and serves them all; returns
  // how many the store wrote. The cluster's recorder of an instance calls it
  // (cluster::HealthVerdicts). Store errors as set_health_many.
  size_t record_health(const std::vector<HealthUpdate>& updates);
  // Serves what backends report about themselves (Instance::reported_weight,
  // reported_draining): kept in memory only (the next check observes it
  // again; a restart starts from 100 and up), no event, not even for a panic
  // mode it starts or ends (every cluster node applies the same reports). Only arrays where a
  // value changed are rebuilt, all in one publish, so a backend repeating
  // its report publishes nothing. Unknown instances are skipped; returns how
  // many instances changed. 100 and not draining is the same as no report.
  size_t set_reported_many(const std::vector<ReportedUpdate>& updates);
  // Drops the reports of every instance not in `instance_ids` (no longer
  // probed, or its check stopped reading them) and serves that.
  void keep_reported_only(const std::set<int64_t>& instance_ids);
  // Writes a "damping" event per update (old/new "off" -> "held" when it
  // starts, "held" -> "off" when it ends), in one transaction; the health
  // itself is unchanged (set_health_many records that). Unknown instances are
  // skipped; returns how many events were written. Store errors as
  // set_health_many.
  size_t record_damping(const std::vector<DampingUpdate>& updates);
  // Writes an event that changes no state (a reload's, audit.h) with its
  // origin. Store errors as set_health_many.
  void record_event(const Event& event, const EventOrigin& origin);

  // Applies the config's arrays and makes the config their owner: each
  // array's settings are set, the instances it lists are added (by address)
  // or given the config's fields. From then on the API may add, change and
  // remove the other instances of such an array, but a write to its settings,
  // a delete of it, or a change to an instance the config lists is
  // OwnedByConfigError: a restart or reload would undo it. Arrays no longer in
  // `config_arrays` (a reload) stay, owned by the API from then on.
  // What the store already has is not written again (every node of a cluster
  // applies the same config). Everything is validated before anything is
  // written; the writes take as few transactions as the store allows (all of
  // them in one for SQLite), each valid on its own. ValidationError names the
  // array, as does ConflictError for a name zone data answers for (as upsert_array).
  // Its events have source "config".
  void apply_config_arrays(const std::vector<ConfigArray>& config_arrays);
  // Where the config declares `name` (ConfigArray::source), if it does.
  std::optional<std::string> config_source(std::string_view name) const;

  // Builds and serves the config's synthetic zones, each with its stored
  // serial (a first serial is created). Replaces the previous set.
  void set_synthetic_zones(const std::vector<SyntheticZoneSpec>& specs);

  // Makes `config` the config's part of the geo and serves it composed with
  // the store's regions and networks (compose_geo; the config's win a clash),
  // rebuilding every array against the new region table. ValidationError
  // when the two do not compose (too many regions); nothing changes then.
  void set_geo(ConfigGeo config);

  // The served regions and networks, the config's then the API's, each with
  // its owner (registry_geo.cc).
  std::vector<RegisteredRegion> regions() const;
  std::vector<RegisteredNetwork> networks() const;
  // Creates (true) or replaces (false) an API region or network, writes an
  // "admin" event naming what changed, and serves the new geo. One the
  // config declares: OwnedByConfigError ("name: ..." / "cidr: ...", naming
  // the file and key path). A network's cidr is stored canonical. What the
  // composed tables refuse (a CIDR with bits past its prefix, too many
  // regions): ValidationError naming the field.
  bool put_region(const geo::RegionSpec& region, std::string_view token = {});
  bool put_network(const geo::NetworkSpec& network, std::string_view token = {});
  // NotFoundError when the API has no such region or network (`cidr` in any
  // spelling); OwnedByConfigError for the config's.
  void delete_region(std::string_view name, std::string_view token = {});
  void delete_network(std::string_view cidr, std::string_view token = {});

  // Re-reads the named arrays (presentation names) and zone serials from the
  // store and serves what differs from the model: arrays created, changed or
  // deleted by another writer, new serials of the synthetic zones, and the
  // stored regions and networks when `changes.geo` says so. An
  // array whose stored content equals the model is left alone (no publish).
  void reload_from_store(const StoreChanges& changes);

  // The store's reachability (thread-safe, takes no registry lock).
  StoreStatus store_status() const;
  // The store itself, for what reads a cluster's store beside the registry
  // (the health verdicts read its observations). Owned by the registry.
  Store& store() { return *store_; }

  // Likely mistakes in accepted data (warnings.h), each naming its key under
  // `path`; regions are checked against the table set_geo was given.
  std::vector<std::string> warnings(const arrays::ArraySettings& settings,
                                    const std::string& path = "") const;
  std::vector<std::string> warnings(const arrays::InstanceSpec& spec,
                                    const std::string& path = "") const;

  // Called after every committed change to the arrays or their instances
  // (not after health changes, nor after an instance update that cannot
  // change its probing: an enabled/draining flip, a weight, a region, or any
  // change of an instance that has no check, its array's or its own, before
  // or after): the prober follows the registry through it.
  // It runs with the registry's lock held, so it must be quick and must not
  // call back into the registry: note the change and read arrays() later.
  void set_change_listener(std::function<void()> listener);

  // Slow start: rebuilds the arrays with a ramp running and publishes those
  // whose effective weights moved, in one snapshot; returns how many. The
  // ramp thread calls it every ramp_interval while a ramp runs (so a ramp
  // costs a few snapshots a second, never work per query); tests call it
  // after moving their clock.
  size_t advance_ramps();

 private:
  struct ArrayModel {
    int64_t id = 0;
    std::string name;       // presentation
    std::string wire_name;  // lower-case wire
    arrays::ArraySettings settings;
    std::vector<arrays::Instance> instances;  // by id
    uint32_t slot = 0;
    bool panic = false;  // in panic mode (min_healthy), as the event log knows it
  };
  // What a rebuilt array's panic mode (ArrayState::panic) does to the model:
  // `record` follows it and writes a "panic" event when it starts or ends
  // (this node's own writes); `follow` only follows it (another writer's
  // change, whose node wrote the event); `ignore` leaves it (health served
  // without the store: the recording of it later writes the event).
  enum class PanicNote : uint8_t { record, follow, ignore };
  // An instance the config lists that the store lacks (id 0: added) or
  // holds with other fields (its id: updated).
  struct PendingInstance {
    const arrays::InstanceSpec* spec;
    int64_t id;
  };
  // One config array after validation: what the store lacks of it.
  struct PlannedArray {
    Name name;
    const ConfigArray* config;
    bool write_settings;                     // new, or its settings differ
    std::vector<PendingInstance> pending;    // in config order
  };
  // What the config owns of one array (apply_config_arrays).
  struct ConfigClaim {
    std::string source;
    std::vector<arrays::IpAddress> addresses;  // the instances it lists
  };
  // A part of a PlannedArray written in one transaction: maybe the settings,
  // and the pending instances [first, last).
  struct ConfigPiece {
    const PlannedArray* array;
    bool settings;
    size_t first;
    size_t last;
  };

  Registry(std::unique_ptr<Store> store, SnapshotComposer& composer, RegistryOptions options);

  static void validate(const arrays::ArraySettings& settings);
  static void validate(const arrays::InstanceSpec& spec);
  // The instance's check merged over the array's, as the prober will run it;
  // ValidationError names `field` and the key.
  static void validate_check(const std::string& array_check, const std::string& instance_check,
                             const std::string& field);
  // Everything the registry's lock guards; the helpers below take it from
  // the caller that holds the lock.
  struct State {
    Store& store;  // not thread-safe: called only under the lock (status() aside)
    std::map<std::string, ArrayModel, std::less<>> arrays;  // by presentation name
    std::unordered_map<int64_t, std::string> owner_of;      // instance id -> array name
    std::vector<uint32_t> free_slots;
    uint32_t next_slot = 0;
    geo::GeoContext geo;  // regions: the declared ones plus labels instances use
    ConfigGeo config_geo;  // set_geo's
    StoredGeo stored_geo;  // the API's, as the store holds them
    std::map<std::string, SyntheticZoneSpec> synthetic;  // by presentation origin
    std::map<std::string, uint32_t> served_serial;       // by presentation origin
    std::map<std::string, ConfigClaim, std::less<>> claimed;  // config-owned arrays by name
    std::function<void()> change_listener;
    bool ramps_running = false;  // some served array has a slow-start ramp running
    bool stopping = false;       // the ramp thread ends
    // The backends' own reports by instance id (set_reported_many); an
    // instance without an entry has 100 percent and is not draining.
    std::unordered_map<int64_t, ReportedUpdate> reported;
  };

  // OwnedByConfigError when the config owns `array` (a settings change or a
  // delete) or the listed instance at `address` (changed or removed).
  static void refuse_if_claimed(const State& state, const std::string& array, const char* what);
  // `fallback` of `array` (fallback.h): in a served zone, not the array
  // itself, and its chain (over the arrays as they would be) without a cycle
  // and at most kMaxFallbackHops long. ValidationError "fallback: ...".
  void validate_fallback(const State& state, const std::string& array,
                         const arrays::ArraySettings& settings) const;
  static void refuse_if_listed(const State& state, const std::string& array,
                               const arrays::IpAddress& address, const std::string& field);

  // Sets the store's event origin for one call: the origin names the events
  // of that call and no later call's, whatever happens.
  class OriginScope {
   public:
    OriginScope(Store& store, EventOrigin origin) : store_(store) { store_.set_event_origin(std::move(origin)); }
    OriginScope(const OriginScope&) = delete;
    OriginScope& operator=(const OriginScope&) = delete;
    ~OriginScope() { store_.set_event_origin({}); }

   private:
    Store& store_;
  };
  void changed(const State& state) const;
  // Serves `geo`: every array rebuilt against its region table (registry_geo.cc).
  void serve_geo(State& state, geo::GeoContext geo);
  // compose_geo of the state's config part and `stored`; ValidationError
  // prefixed with `field` when they do not compose.
  static geo::GeoContext composed(const State& state, const StoredGeo& stored, const std::string& field);
  // The store's regions and networks read again and served when they differ.
  void reload_geo(State& state);
  static void sort_geo(StoredGeo& stored);
  static bool same_geo(const StoredGeo& a, const StoredGeo& b);
  // Writes a geo change and its event in one transaction, then serves `stored`.
  // What the composed tables refuse is a ValidationError naming `field`.
  void write_geo(State& state, StoredGeo stored, const std::string& field, std::string_view token,
                 Event event, const std::function<void(Store&, int64_t now_ms)>& write);
  // The updates that change an instance's health, stamped now.
  std::vector<HealthChange> health_changes(const State& state,
                                           const std::vector<HealthUpdate>& updates) const;
  // Puts committed (or local) changes into the model and publishes once.
  size_t serve_health(State& state, const std::vector<HealthChange>& applied, PanicNote note);
  // Applies `note` to a change of the array's panic mode that `built` brings.
  void note_panic(State& state, ArrayModel& array, const arrays::ArrayState& built, PanicNote note);
  // The model of `stored` made anew (ids, slot, owners) and served.
  void adopt(State& state, StoredArray stored);
  void forget(State& state, const std::string& name);
  ArrayModel& model(State& state, std::string_view name);                    // NotFoundError
  std::optional<std::string> synthetic_zone_of(std::string_view wire_name);  // presentation origin
  // Runs `write` and bumps the serial of `zone` (when synthetic) in one
  // transaction, its events naming the API `token`; after the commit serves
  // the zone with its new serial.
  template <typename Write>
  void write_in_zone(State& state, const std::optional<std::string>& zone, std::string_view token, Write&& write);
  // ValidationError
  PlannedArray plan_config_array(const State& state, const ConfigArray& config) const;
  void write_config_pieces(State& state, const std::vector<ConfigPiece>& pieces);
  uint32_t first_serial(State& state, const std::string& origin);
  uint32_t take_slot(State& state);
  void learn_regions(State& state, const std::vector<arrays::Instance>& instances);
  void serve_synthetic_zone(State& state, const std::string& origin, uint32_t serial);
  std::shared_ptr<const arrays::ArrayState> build_state(const State& state,
                                                        const ArrayModel& array) const;
  void publish(State& state, ArrayModel& array, PanicNote note = PanicNote::record);
  int64_t now_ms() const { return options_.clock(); }
  size_t advance_ramps(State& state);
  // Wakes the ramp thread when `built` has a ramp running.
  void watch_ramps(State& state, const arrays::ArrayState& built);
  void run_ramps();  // the ramp thread
  static RegisteredArray view(const State& state, const ArrayModel& array);
  // The backend's own report of `instance` (set_reported_many), if any, laid
  // over it: every read of an instance shows it so.
  static void apply_reported(const State& state, arrays::Instance& instance);
  // The model's instances with the backends' reports laid over them.
  static std::vector<arrays::Instance> reported_instances(const State& state, const ArrayModel& array);
  // Rebuilds and serves the named arrays in one publish.
  void republish(State& state, const std::set<std::string>& names);

  const std::unique_ptr<Store> store_;  // status() and the change handler; the rest via State
  SnapshotComposer& composer_;          // thread-safe
  LockGuarded<State> state_;
  // The config's and the store's regions, which warnings() checks an
  // instance's region against. Its own lock, taken under state_'s when set:
  // a write's reply asks for its warnings after the write, and waiting for
  // the next writer to finish its commit would cost it a futex sleep.
  LockGuarded<std::shared_ptr<const geo::RegionTable>> declared_regions_;
  const RegistryOptions options_;
  const int64_t started_ms_;  // when this process opened the registry: ramps need a later down
  std::condition_variable ramp_wake_;  // waits on state_'s lock
  std::thread ramp_thread_;            // started by open(), stopped by the destructor
};

}  // namespace rotor::registry
