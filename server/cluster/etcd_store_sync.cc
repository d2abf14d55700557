// EtcdStore's mirror: the cache at startup, the sync thread (a full read,
// then a watch), the store's own commits, and the notifier thread that tells
// the registry what changed.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "server/cluster/etcd_store.h"
#include "server/cluster/prefix_read.h"
#include "server/common/utc_time.h"

namespace rotor::cluster {

namespace {

int64_t now_ms() { return unix_now_ms(); }

}  // namespace

EtcdStore::EtcdStore(std::shared_ptr<EtcdClient> client, EtcdStoreOptions options)
    : client_(std::move(client)), options_(std::move(options)) {
  cache_ = std::make_unique<MirrorCache>(options_.cache_path, options_.prefix);
  {
    auto mirror = mirror_.lock();
    mirror->entries = cache_->load();
    mirror->revision = cache_->revision();
    mirror->watched_revision = mirror->revision;
    mirror->cluster_id = cache_->cluster_id();
    applied_revision_ = mirror->revision;
    for (const auto& [key, entry] : mirror->entries) index_key(*mirror, key, true);
    spdlog::info("cluster: {} keys from the cache {} at revision {}", mirror->entries.size(),
                 options_.cache_path, mirror->revision);
  }
  unreachable_since_ms_ = now_ms();  // until etcd first answers
  sync_thread_ = std::thread([this] { sync_loop(); });
  notify_thread_ = std::thread([this] { notify_loop(); });
}

EtcdStore::~EtcdStore() {
  stopping_ = true;
  {
    auto queued = queued_.lock();  // so that no waiter misses `stopping_`
    notify_wake_.notify_all();
  }
  mirror_changed_.notify_all();
  sync_thread_.join();
  notify_thread_.join();
}

std::string EtcdStore::relative(const std::string& key) const { return key.substr(options_.prefix.size()); }

void EtcdStore::index_key(Mirror& mirror, const std::string& key, bool present) {
  const int64_t id = codec::instance_id_of_key(key);
  if (id == 0) return;
  if (present) {
    mirror.instance_keys[id] = key;
  } else {
    mirror.instance_keys.erase(id);
  }
}

// The array or zone a key belongs to; health records by their instance.
void EtcdStore::note_change(const Mirror& mirror, const std::string& key,
                            registry::StoreChanges& changes) const {
  if (auto array = codec::array_of_key(key)) {
    changes.arrays.push_back(std::move(*array));
  } else if (auto zone = codec::zone_of_key(key)) {
    changes.zones.push_back(std::move(*zone));
  } else if (key.starts_with(codec::kHealth)) {
    const int64_t id = std::atoll(key.c_str() + codec::kHealth.size());
    if (const auto instance = mirror.instance_keys.find(id); instance != mirror.instance_keys.end()) {
      if (auto array = codec::array_of_key(instance->second)) changes.arrays.push_back(std::move(*array));
    }
  } else if (key.starts_with(codec::kObservations)) {
    changes.observed_instances.push_back(std::atoll(key.c_str() + codec::kObservations.size()));
  } else if (key.starts_with(codec::kNodes)) {
    changes.nodes_changed = true;
  } else if (key.starts_with(codec::kRegions) || key.starts_with(codec::kNetworks)) {
    changes.geo = true;
  }
}

// --- the sync thread ---

void EtcdStore::sync_loop() {
  bool need_full_read = false;
  int failures = 0;
  while (!stopping_) {
    try {
      // A read that needs the leader: etcd is reachable (the watch alone
      // would say nothing until the next event), and which etcd it is.
      const RangeResult head = client_->range(options_.prefix, prefix_end(options_.prefix), 0, false, 1);
      mark_reachable();
      if (need_full_read || !resume_from_cache(head)) {
        full_read();
        need_full_read = false;
      }
      int64_t from;
      {
        auto mirror = mirror_.lock();
        from = mirror->watched_revision + 1;
      }
      client_->watch(
          options_.prefix, prefix_end(options_.prefix), from,
          [this, &failures](const std::vector<WatchEvent>& events, int64_t revision) {
            failures = 0;
            apply_events(events, revision);
          },
          stopping_,
          [this](int64_t revision) {  // etcd sends progress only to a watch that caught up
            mark_reachable();
            auto mirror = mirror_.lock();
            mirror->revision = std::max(mirror->revision, revision);
            mirror->watched_revision = std::max(mirror->watched_revision, revision);
            applied_revision_ = mirror->revision;
          });
    } catch (const EtcdError& error) {
      if (error.kind == EtcdError::Kind::compacted) {
        spdlog::info("cluster: the watch's revision was compacted; reading everything again");
        need_full_read = true;
        continue;
      }
      mark_unreachable(error.what());
    } catch (const std::exception& error) {
      spdlog::error("cluster: sync failed, reading everything again: {}", error.what());
      need_full_read = true;
    }
    if (stopping_) break;
    ++failures;
    const auto backoff = std::chrono::milliseconds(50) * (1 << std::min(failures, 6));
    sleep_for(std::min<std::chrono::milliseconds>(backoff, options_.max_backoff));
  }
}

// Whether the mirror continues the history of the etcd that answered `head`,
// so that a watch from its revision + 1 brings everything since: once
// synced, while the cluster id stays the same; before, the cache, when etcd
// still holds its revision. Throws EtcdError `compacted` when it does not.
bool EtcdStore::resume_from_cache(const RangeResult& head) {
  int64_t cached = 0;
  {
    auto mirror = mirror_.lock();
    if (mirror->cluster_id != head.cluster_id) {
      if (mirror->synced) spdlog::warn("cluster: etcd is another cluster now (id {:x}); reading everything", head.cluster_id);
      return false;  // or a cache that does not know its cluster
    }
    if (mirror->synced) return true;
    cached = mirror->watched_revision;
    if (cached == 0 || head.revision < cached) return false;  // empty, or ahead of this etcd
  }
  client_->range(options_.prefix, prefix_end(options_.prefix), cached, false, 1);  // compacted?
  {
    auto mirror = mirror_.lock();
    mirror->synced = true;
  }
  ++resumed_from_cache_;
  mirror_changed_.notify_all();
  spdlog::info("cluster: etcd still holds the cache's revision {}: watching from there", cached);
  return true;
}

void EtcdStore::sleep_for(std::chrono::milliseconds delay) {
  auto queued = queued_.lock();
  notify_wake_.wait_for(queued.lock(), delay, [this] { return stopping_.load(); });
}

// Everything under the prefix at one revision; replaces the mirror and
// reports every key that differs.
void EtcdStore::full_read() {
  PrefixSnapshot read = read_prefix(*client_, options_.prefix);
  MirrorMap& fresh = read.entries;
  const int64_t revision = read.revision;
  ++full_reads_;
  mark_reachable();
  registry::StoreChanges changes;
  {
    auto mirror = mirror_.lock();
    // Our own commits newer than the read stay (the watch brings them
    // again). Before the first read the mirror is the cache, which may be of
    // an etcd since replaced: it is replaced whole, as is a mirror of
    // another etcd cluster.
    if (mirror->synced && mirror->cluster_id == read.cluster_id) {
      for (const auto& [key, entry] : mirror->entries) {
        if (entry.mod_revision > revision) fresh[key] = entry;
      }
      for (const auto& [key, deleted_at] : mirror->tombstones) {
        if (deleted_at > revision) fresh.erase(key);
      }
    }
    mirror->tombstones.clear();
    for (const auto& [key, entry] : mirror->entries) {
      const auto now = fresh.find(key);
      if (now == fresh.end() || now->second.value != entry.value) note_change(*mirror, key, changes);
    }
    for (const auto& [key, entry] : fresh) {
      if (!mirror->entries.contains(key)) note_change(*mirror, key, changes);
    }
    mirror->entries = fresh;
    mirror->instance_keys.clear();
    for (const auto& [key, entry] : mirror->entries) index_key(*mirror, key, true);
    // Health records name arrays through the new index: note them again.
    for (const auto& [key, entry] : mirror->entries) {
      if (key.starts_with(codec::kHealth)) note_change(*mirror, key, changes);
    }
    mirror->revision = revision;
    mirror->watched_revision = revision;
    mirror->cluster_id = read.cluster_id;
    applied_revision_ = mirror->revision;
    mirror->synced = true;
  }
  mirror_changed_.notify_all();
  cache_->replace(fresh, revision, read.cluster_id);
  spdlog::info("cluster: read {} keys at revision {} in {} requests (at most {} keys each walked)", fresh.size(),
               revision, read.requests, read.largest_range);
  queue(std::move(changes));
}

void EtcdStore::apply_events(const std::vector<WatchEvent>& events, int64_t revision) {
  mark_reachable();
  registry::StoreChanges changes;
  std::vector<std::string> changed_keys;  // for the cache
  MirrorMap written;  // copies for the cache, outside the lock
  int64_t applied = 0;
  {
    auto mirror = mirror_.lock();
    for (const WatchEvent& event : events) {
      mirror->watched_revision = std::max(mirror->watched_revision, event.kv.mod_revision);
      const std::string key = relative(event.kv.key);
      // The cache takes every key of the batch: our own commits, already in
      // the mirror, reach the file only now.
      changed_keys.push_back(key);
      const auto found = mirror->entries.find(key);
      // Our own commit entered the mirror already (or a newer write did).
      if (found != mirror->entries.end() && found->second.mod_revision >= event.kv.mod_revision) continue;
      if (const auto tomb = mirror->tombstones.find(key);
          tomb != mirror->tombstones.end() && tomb->second >= event.kv.mod_revision) {
        continue;
      }
      if (event.type == WatchEvent::Type::put) {
        note_change(*mirror, key, changes);
        mirror->entries[key] = {event.kv.value, event.kv.create_revision, event.kv.mod_revision};
        index_key(*mirror, key, true);
      } else {
        if (found == mirror->entries.end()) continue;
        note_change(*mirror, key, changes);
        mirror->entries.erase(found);
        index_key(*mirror, key, false);
      }
    }
    mirror->revision = std::max(mirror->revision, revision);
    applied_revision_ = mirror->revision;
    std::erase_if(mirror->tombstones, [&](const auto& tomb) { return tomb.second <= mirror->watched_revision; });
    for (const std::string& key : changed_keys) {
      const auto entry = mirror->entries.find(key);
      if (entry != mirror->entries.end()) written[key] = entry->second;
    }
    applied = mirror->watched_revision;
  }
  mirror_changed_.notify_all();
  std::vector<std::pair<std::string, const MirrorEntry*>> cache_changes;
  for (const std::string& key : changed_keys) {
    const auto entry = written.find(key);
    cache_changes.emplace_back(key, entry == written.end() ? nullptr : &entry->second);
  }
  try {
    cache_->update(cache_changes, applied);
  } catch (const std::exception& error) {
    // The mirror is right; only a restart's head start is lost.
    spdlog::warn("cluster: {}", error.what());
  }
  queue(std::move(changes));
}

// A commit of ours, at `revision`: the mirror shows it at once.
void EtcdStore::apply_commit(const Write& write, int64_t revision) {
  {
    auto mirror = mirror_.lock();
    if (mirror->revision >= revision) return;  // the watch was faster
    for (const auto& [key, value] : write.puts) {
      if (value) {
        const auto found = mirror->entries.find(key);
        const int64_t created = found != mirror->entries.end() ? found->second.create_revision : revision;
        mirror->entries[key] = {*value, created, revision};
        mirror->tombstones.erase(key);
        index_key(*mirror, key, true);
      } else {
        mirror->entries.erase(key);
        mirror->tombstones[key] = revision;
        index_key(*mirror, key, false);
      }
    }
    for (const auto& [from, end] : write.ranges) {
      for (auto it = mirror->entries.lower_bound(from); it != mirror->entries.end() && it->first < end;) {
        mirror->tombstones[it->first] = revision;
        index_key(*mirror, it->first, false);
        it = mirror->entries.erase(it);
      }
    }
  }
  mirror_changed_.notify_all();
}

bool EtcdStore::wait_synced(std::chrono::milliseconds timeout) const {
  auto mirror = mirror_.lock();
  return mirror_changed_.wait_for(mirror.lock(), timeout,
                                  [&] { return mirror->synced || stopping_.load(); }) &&
         mirror->synced;
}

bool EtcdStore::wait_for_revision(int64_t revision, std::chrono::milliseconds timeout) const {
  auto mirror = mirror_.lock();
  return mirror_changed_.wait_for(mirror.lock(), timeout,
                                  [&] { return mirror->revision >= revision || stopping_.load(); }) &&
         mirror->revision >= revision;
}

// --- reachability ---

void EtcdStore::mark_reachable() {
  last_heard_ms_ = now_ms();
  if (reachable_.exchange(true)) return;
  const int64_t since = unreachable_since_ms_.exchange(0);
  spdlog::info("cluster: etcd reachable{}", since == 0 ? std::string()
                                                        : " after " + std::to_string(now_ms() - since) + " ms");
}

void EtcdStore::mark_unreachable(const std::string& why) {
  if (!reachable_.exchange(false)) return;
  unreachable_since_ms_ = now_ms();
  spdlog::warn("cluster: etcd unreachable, serving the last data: {}", why);
}

// A write that found etcd unreachable says so; while the watch is quiet,
// only a read tells when it is back.
void EtcdStore::probe_if_unreachable() {
  if (reachable_.load()) return;
  try {
    client_->range(options_.prefix, prefix_end(options_.prefix), 0, false, 1);
    mark_reachable();
  } catch (const std::exception&) {
    // still unreachable; the sync thread logs why
  }
}

registry::StoreStatus EtcdStore::status() const {
  const int64_t heard = last_heard_ms_.load();
  return {.shared = true,
          .reachable = reachable_.load(),
          .unreachable_since_ms = reachable_.load() ? 0 : unreachable_since_ms_.load(),
          .revision = applied_revision_.load(),
          .watch_lag_ms = heard == 0 ? 0 : now_ms() - heard};
}

// --- the notifier thread ---

void EtcdStore::queue(registry::StoreChanges changes) {
  if (!changes.observed_instances.empty() || changes.nodes_changed) {
    auto handler = observation_handler_.lock();
    if (*handler) (*handler)(changes.observed_instances, changes.nodes_changed);
  }
  if (changes.arrays.empty() && changes.zones.empty() && !changes.geo) return;
  auto queued = queued_.lock();
  queued->arrays.insert(changes.arrays.begin(), changes.arrays.end());
  queued->zones.insert(changes.zones.begin(), changes.zones.end());
  queued->geo = queued->geo || changes.geo;
  notify_wake_.notify_all();
}

std::map<std::string, std::string> EtcdStore::observations(int64_t instance_id) const {
  return values_under(std::string(codec::kObservations) + std::to_string(instance_id) + "/");
}

std::map<std::string, std::string> EtcdStore::nodes() const {
  return values_under(std::string(codec::kNodes));
}

arrays::Health EtcdStore::recorded_health(int64_t instance_id) const {
  const std::string key = codec::health_key(instance_id);
  auto mirror = mirror_.lock();
  const auto found = mirror->entries.find(key);
  if (found == mirror->entries.end()) return arrays::Health::unknown;
  try {
    return codec::decode_health(key, found->second.value).health;
  } catch (const registry::StoreError&) {
    return arrays::Health::unknown;  // unreadable: recorded again
  }
}

void EtcdStore::set_observation_handler(std::function<void(const std::vector<int64_t>&, bool)> handler) {
  *observation_handler_.lock() = std::move(handler);
}

void EtcdStore::set_change_handler(std::function<void(const registry::StoreChanges&)> handler) {
  auto running = handler_.lock();
  auto queued = queued_.lock();
  queued->has_handler = static_cast<bool>(handler);
  *running = std::move(handler);
  notify_wake_.notify_all();
}

// Changes wait here while nobody listens (the registry is still loading):
// the handler, once set, hears about them, so that nothing is lost between
// the registry's first load and its subscription.
void EtcdStore::notify_loop() {
  while (!stopping_) {
    registry::StoreChanges changes;
    bool woken = false;
    {
      auto queued = queued_.lock();
      woken = notify_wake_.wait_for(queued.lock(), std::chrono::seconds(1), [&] {
        return stopping_.load() ||
               (queued->has_handler &&
                (!queued->arrays.empty() || !queued->zones.empty() || queued->geo));
      });
      if (stopping_) return;
      if (woken) {
        changes.arrays.assign(queued->arrays.begin(), queued->arrays.end());
        changes.zones.assign(queued->zones.begin(), queued->zones.end());
        changes.geo = queued->geo;
        queued->arrays.clear();
        queued->zones.clear();
        queued->geo = false;
      }
    }
    if (!woken) {
      probe_if_unreachable();
      continue;
    }
    auto running = handler_.lock();
    if (!*running) {
      queue(std::move(changes));  // unsubscribed meanwhile: keep them for the next one
      continue;
    }
    try {
      (*running)(changes);
    } catch (const std::exception& error) {
      spdlog::error("cluster: applying {} changed arrays failed: {}", changes.arrays.size(),
                    error.what());
    }
  }
}

}  // namespace rotor::cluster
