#include "server/cluster/prefix_read.h"

#include <algorithm>
#include <vector>

#include "server/cluster/store_codec.h"

namespace rotor::cluster {

namespace {

// How many keys one hint (see read_bounded) stands for: an array has a
// handful of instances (up to 8,192, paged within their range), an instance
// one health record and one observation per observing node.
constexpr int64_t kKeysPerArray = 8;
constexpr int64_t kKeysPerObservedId = 4;

class PrefixReader {
 public:
  PrefixReader(EtcdClient& client, const std::string& prefix, const PrefixReadOptions& options)
      : client_(client), prefix_(prefix), options_(options) {}

  // In key order the sections are arrays/, counters/, events/, health/,
  // instances/, nodes/, observations/, zones/; the gaps between those read
  // here are paged too (normally empty).
  PrefixSnapshot read() {
    const std::string arrays(codec::kArrays);
    const std::string events(codec::kEvents);
    const std::string health(codec::kHealth);
    const std::string instances(codec::kInstances);
    const std::string observations(codec::kObservations);
    // Paged whole, a section costs the square of its own size over the
    // page: arrays/ and events/ each alone.
    page_through("", arrays);
    page_through(arrays, prefix_end(arrays));
    page_through(prefix_end(arrays), events);
    page_through(events, prefix_end(events));
    page_through(prefix_end(events), health);
    read_bounded(instances, every_nth(instance_prefixes(), kKeysPerArray));
    std::vector<int64_t> ids = instance_ids();
    std::sort(ids.begin(), ids.end());
    read_bounded(health, health_bounds(ids));
    page_through(prefix_end(health), instances);
    page_through(prefix_end(instances), observations);
    read_bounded(observations, observation_bounds(ids));
    page_through(prefix_end(observations), "");
    return std::move(snapshot_);
  }

 private:
  // Hints per range, for hints that each stand for `keys_per_hint` keys.
  size_t step(int64_t keys_per_hint) const {
    return static_cast<size_t>(std::max<int64_t>(1, options_.page_size / keys_per_hint));
  }

  // Every key in [from, end) (relative; "" as the end: the prefix's end), paged.
  void page_through(const std::string& from, const std::string& end) {
    std::string key = prefix_ + from;
    const std::string range_end = end.empty() ? prefix_end(prefix_) : prefix_ + end;
    for (;;) {
      const RangeResult page = client_.range(key, range_end, snapshot_.revision, false, options_.page_size);
      if (snapshot_.revision == 0) {
        snapshot_.revision = page.revision;  // every later request reads at this one
        snapshot_.cluster_id = page.cluster_id;
      }
      ++snapshot_.requests;
      snapshot_.largest_range = std::max(snapshot_.largest_range, page.count);
      for (const KeyValue& kv : page.kvs) {
        snapshot_.entries[kv.key.substr(prefix_.size())] = {kv.value, kv.create_revision, kv.mod_revision};
      }
      if (options_.after_page) options_.after_page();
      if (!page.more || page.kvs.empty()) return;
      key = page.kvs.back().key + '\0';
    }
  }

  // Every key under `section`, in ranges split at `bounds` (sorted keys
  // under `section`): what lies between two bounds is what etcd walks.
  void read_bounded(const std::string& section, const std::vector<std::string>& bounds) {
    std::string from = section;
    for (const std::string& bound : bounds) {
      if (bound <= from) continue;
      page_through(from, bound);
      from = bound;
    }
    page_through(from, prefix_end(section));
  }

  // Every step-th of the sorted `hints`, from the step-th on.
  std::vector<std::string> every_nth(const std::vector<std::string>& hints, int64_t keys_per_hint) const {
    std::vector<std::string> bounds;
    for (size_t i = step(keys_per_hint); i < hints.size(); i += step(keys_per_hint)) bounds.push_back(hints[i]);
    return bounds;
  }

  // "instances/<array>/" of every array read, sorted as keys (not as names:
  // '/' sorts after '-' and '.').
  std::vector<std::string> instance_prefixes() const {
    std::vector<std::string> prefixes;
    const std::string arrays(codec::kArrays);
    for (auto it = snapshot_.entries.lower_bound(arrays);
         it != snapshot_.entries.end() && it->first.starts_with(arrays); ++it) {
      prefixes.push_back(codec::instances_prefix(std::string_view(it->first).substr(arrays.size())));
    }
    std::sort(prefixes.begin(), prefixes.end());
    return prefixes;
  }

  // health/<id>, every step-th of the sorted ids: the key pads the id, so
  // numeric order is key order.
  std::vector<std::string> health_bounds(const std::vector<int64_t>& sorted_ids) const {
    std::vector<std::string> bounds;
    for (size_t i = step(1); i < sorted_ids.size(); i += step(1)) bounds.push_back(codec::health_key(sorted_ids[i]));
    return bounds;
  }

  // observations/<id>/: the id unpadded, so sorted as text (short strings).
  std::vector<std::string> observation_bounds(const std::vector<int64_t>& ids) const {
    std::vector<std::string> observed;
    observed.reserve(ids.size());
    for (const int64_t id : ids) observed.push_back(std::to_string(id) + "/");
    std::sort(observed.begin(), observed.end());
    std::vector<std::string> bounds = every_nth(observed, kKeysPerObservedId);
    for (std::string& bound : bounds) bound.insert(0, codec::kObservations);
    return bounds;
  }

  std::vector<int64_t> instance_ids() const {
    std::vector<int64_t> ids;
    const std::string instances(codec::kInstances);
    for (auto it = snapshot_.entries.lower_bound(instances);
         it != snapshot_.entries.end() && it->first.starts_with(instances); ++it) {
      if (const int64_t id = codec::instance_id_of_key(it->first); id != 0) ids.push_back(id);
    }
    return ids;
  }

  EtcdClient& client_;
  const std::string& prefix_;
  const PrefixReadOptions& options_;
  PrefixSnapshot snapshot_;
};

}  // namespace

PrefixSnapshot read_prefix(EtcdClient& client, const std::string& prefix, const PrefixReadOptions& options) {
  return PrefixReader(client, prefix, options).read();
}

}  // namespace rotor::cluster
