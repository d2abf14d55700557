#pragma once
// The cluster's Store (server/registry/store.h): etcd is the truth, shared by
// every node; the keys are those of DESIGN.md.
//
// Writes: atomically(work) gathers what `work` reads (each read key becomes a
// compare on its mod_revision, 0 = must be absent) and writes, and commits
// them as ONE etcd transaction at the end; a store call outside atomically()
// is a transaction of its own. A failed compare means another node wrote
// first: ConcurrentChangeError (HTTP 409), thrown once this node's mirror has
// caught up, so that a retry reads the new data. etcd unreachable or without
// a leader: StoreUnavailable (HTTP 503). A transaction past etcd's limits
// (128 operations, 1.5 MiB) is refused with a registry::ValidationError that
// names the limit; bulk callers split by max_writes_per_transaction().
//
// Reads come from the mirror: a map of every key under the prefix, kept by a
// sync thread (a read of the prefix at revision R in bounded ranges,
// prefix_read.h, then a watch from R + 1; after a compaction, everything
// again; after a broken stream, the watch resumes, with bounded backoff). A
// node restarted on a cache of revision C from the same etcd cluster (the
// cluster id of etcd's answers) that still holds C watches from C + 1 instead
// of reading everything; a cache of another cluster, or of a compacted or
// future revision, is replaced whole by a full read. Each applied batch is persisted to the cache in the
// node's SQLite file and reported through the change handler (the arrays
// and zones whose keys changed) on a notifier thread. On construction the
// mirror is loaded from the cache, so the node serves at once even while
// etcd is down. The store's own commits enter the mirror at once
// (read-your-writes); the watch's echo of them changes nothing.
//
// Thread-safety: the Store calls are made by one thread at a time (the
// Registry's lock); status(), set_change_handler() and the wait_* calls are
// safe from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/cluster/etcd_client.h"
#include "server/cluster/health_verdicts.h"
#include "server/cluster/mirror_cache.h"
#include "server/cluster/store_codec.h"
#include "server/common/lock_guarded.h"
#include "server/registry/store.h"

namespace rotor::cluster {

struct EtcdStoreOptions {
  std::string prefix = "/rotor/";
  std::string node;        // names this node in the events it writes
  std::string cache_path;  // the node's SQLite file (--db)
  registry::EventRetention events;  // older events are pruned
  // How long a failed compare waits for the mirror to show the winner's write.
  std::chrono::milliseconds catch_up_timeout{2000};
  std::chrono::milliseconds max_backoff{2000};  // between attempts to reach etcd
};

// It is also the source of the cluster's health verdicts (health_verdicts.h):
// the nodes/ and observations/ keys of its mirror, and a handler told which
// instances' observations changed (called on the sync thread: it must only
// take note, never call back into the store).
class EtcdStore final : public registry::Store, public ObservationSource {
 public:
  // etcd's defaults (--max-txn-ops, --max-request-bytes), with room for the
  // gateway's JSON and base64.
  static constexpr size_t kMaxOperations = 128;
  static constexpr size_t kMaxRequestBytes = 1536 * 1024;

  // Loads the cache (StoreError for an unusable file) and starts syncing;
  // never waits for etcd.
  EtcdStore(std::shared_ptr<EtcdClient> client, EtcdStoreOptions options);
  ~EtcdStore() override;
  EtcdStore(const EtcdStore&) = delete;
  EtcdStore& operator=(const EtcdStore&) = delete;

  void atomically(const std::function<void()>& work) override;
  int64_t upsert_array(std::string_view name, const arrays::ArraySettings& settings,
                       int64_t now_ms) override;
  void delete_array(std::string_view name, int64_t now_ms) override;
  arrays::Instance add_instance(std::string_view array, const arrays::InstanceSpec& spec,
                                int64_t now_ms) override;
  arrays::Instance update_instance(std::string_view array, int64_t id,
                                   const arrays::InstanceSpec& spec, int64_t now_ms) override;
  void remove_instance(std::string_view array, int64_t id, int64_t now_ms) override;
  bool remove_instance_if(std::string_view array, int64_t id, int64_t now_ms,
                          const RemovalDecision& decide) override;
  void set_event_origin(registry::EventOrigin origin) override { event_origin_ = std::move(origin); }
  std::vector<arrays::Instance> replace_instances(std::string_view array,
                                                  const std::vector<arrays::InstanceSpec>& specs,
                                                  int64_t now_ms) override;
  // Writes the instance's health record health/<id> (compare-and-swap: a
  // transition is written once however many nodes report it) with its event.
  bool set_health(const registry::HealthChange& change) override;
  std::vector<registry::HealthChange> set_health_many(
      const std::vector<registry::HealthChange>& changes) override;
  void append_events(const std::vector<registry::Event>& events) override;
  // etcd_store_geo.cc: the regions/ and networks/ keys.
  void put_region(const geo::RegionSpec& region, int64_t now_ms) override;
  void delete_region(std::string_view name, int64_t now_ms) override;
  void put_network(const geo::NetworkSpec& network, int64_t now_ms) override;
  void delete_network(std::string_view cidr, int64_t now_ms) override;
  registry::StoredGeo load_geo() const override;
  std::vector<registry::StoredArray> load_all() const override;
  std::optional<registry::StoredArray> load_array(std::string_view name) const override;
  std::vector<registry::Event> events(const registry::EventFilter& filter) const override;
  using Store::events;
  std::optional<uint32_t> zone_serial(std::string_view zone) const override;
  uint32_t bump_zone_serial(std::string_view zone) override;
  void set_change_handler(std::function<void(const registry::StoreChanges&)> handler) override;
  registry::StoreStatus status() const override;

  // ObservationSource: from the mirror.
  std::map<std::string, std::string> observations(int64_t instance_id) const override;
  std::map<std::string, std::string> nodes() const override;
  arrays::Health recorded_health(int64_t instance_id) const override;
  // `handler(instance ids, nodes_changed)` after each applied batch that
  // touched observations/ or nodes/ keys.
  void set_observation_handler(std::function<void(const std::vector<int64_t>&, bool)> handler);
  size_t max_writes_per_transaction() const override;

  // True once the mirror is known to continue etcd's history since the
  // start: a full read, or the cache's revision found still held by the same
  // etcd cluster (the watch then brings what changed since, as it does after
  // a full read); false after `timeout` (etcd unreachable: the mirror is the
  // cache).
  bool wait_synced(std::chrono::milliseconds timeout) const;

  // How the mirror has come to follow etcd since the start (tests, logs).
  struct SyncCounters {
    int64_t full_reads = 0;
    int64_t resumed_from_cache = 0;  // watches started from the cache's revision
  };
  SyncCounters sync_counters() const { return {full_reads_.load(), resumed_from_cache_.load()}; }
  // True once the mirror reflects `revision`.
  bool wait_for_revision(int64_t revision, std::chrono::milliseconds timeout) const;

 private:
  // The reads and writes of the transaction being built (writer thread only).
  struct Write {
    std::map<std::string, int64_t> compares;                  // key -> expected mod_revision
    std::map<std::string, std::optional<std::string>> puts;   // nullopt: delete
    std::vector<std::pair<std::string, std::string>> ranges;  // deleted [key, end)
    std::vector<std::string> cleanup;  // keys deleted after the commit, in their own txns
  };

  // The mirror of etcd the reads answer from (the sync thread writes it).
  struct Mirror {
    MirrorMap entries;
    int64_t revision = 0;  // applied from etcd (a watch header's: later events may still come)
    // Every event up to here is applied: where a watch resumes and the
    // revision the cache is stamped with. A watch catching up sends several
    // batches, each with the newest revision in its header.
    int64_t watched_revision = 0;
    uint64_t cluster_id = 0;  // of the etcd the entries came from (0: unknown)
    std::map<std::string, int64_t> tombstones;               // deleted by our commits, at revision
    std::unordered_map<int64_t, std::string> instance_keys;  // instance id -> its key
    bool synced = false;
  };
  // Changes waiting for the notifier thread.
  struct Queued {
    std::set<std::string> arrays;
    std::set<std::string> zones;
    bool geo = false;
    bool has_handler = false;
  };

  // --- writing (etcd_store.cc) ---
  template <typename Work>
  auto in_write(Work&& work);
  void commit(const Write& write);
  std::optional<std::string> read(const std::string& key);
  std::vector<std::pair<std::string, std::string>> list(const std::string& prefix);
  void put(const std::string& key, std::string value);
  void remove(const std::string& key);
  bool deleted_by_range(const std::string& key) const;
  int64_t allocate_id();
  void append_event(registry::Event event);
  codec::ArrayRecord read_array(std::string_view name);  // NotFoundError
  void touch_array(std::string_view name, int64_t now_ms);
  arrays::Instance with_health(arrays::Instance instance) const;
  arrays::Instance add_instance_in_write(std::string_view array, const arrays::InstanceSpec& spec,
                                         int64_t now_ms);
  // False (nothing written) when `decide` keeps it; nullptr: remove.
  bool remove_instance_in_write(std::string_view array, int64_t id, int64_t now_ms,
                                const RemovalDecision& decide = nullptr);
  bool set_health_in_write(const registry::HealthChange& change);
  // The mirror's values under `prefix`, keyed by the rest of each key.
  std::map<std::string, std::string> values_under(const std::string& prefix) const;
  std::optional<registry::StoredArray> load_locked(const Mirror& mirror,
                                                   std::string_view name) const;
  void run_cleanup(const std::vector<std::string>& keys);

  // --- the mirror (etcd_store_sync.cc) ---
  void sync_loop();
  bool resume_from_cache(const RangeResult& head);
  void full_read();
  void apply_events(const std::vector<WatchEvent>& events, int64_t revision);
  void apply_commit(const Write& write, int64_t revision);
  void note_change(const Mirror& mirror, const std::string& key,
                   registry::StoreChanges& changes) const;
  void index_key(Mirror& mirror, const std::string& key, bool present);
  void queue(registry::StoreChanges changes);
  void notify_loop();
  void mark_reachable();
  void mark_unreachable(const std::string& why);
  void probe_if_unreachable();
  void sleep_for(std::chrono::milliseconds delay);
  std::string relative(const std::string& key) const;

  std::shared_ptr<EtcdClient> client_;
  EtcdStoreOptions options_;
  std::unique_ptr<MirrorCache> cache_;  // the sync thread's, after construction

  LockGuarded<Mirror> mirror_;
  mutable std::condition_variable mirror_changed_;

  std::optional<Write> write_;  // the transaction being built; writer thread only
  uint64_t event_sequence_ = 0;
  size_t events_since_prune_ = 0;
  registry::EventOrigin event_origin_;  // set_event_origin

  LockGuarded<Queued> queued_;
  std::condition_variable notify_wake_;  // also the sync thread's back-off sleep
  // Locked while it runs, so that set_change_handler waits out a running call.
  LockGuarded<std::function<void(const registry::StoreChanges&)>> handler_;
  LockGuarded<std::function<void(const std::vector<int64_t>&, bool)>> observation_handler_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> reachable_{false};
  std::atomic<int64_t> unreachable_since_ms_{0};
  std::atomic<int64_t> last_heard_ms_{0};
  std::atomic<int64_t> applied_revision_{0};
  std::atomic<int64_t> full_reads_{0};
  std::atomic<int64_t> resumed_from_cache_{0};
  std::thread sync_thread_;
  std::thread notify_thread_;
};

}  // namespace rotor::cluster
