#pragma once
// The Prometheus view of a running rotor: what the workers counted (summed
// over every worker's block at scrape time), the arrays' instance health, the
// prober's statistics and the snapshot composer's publish latency, rendered
// in the text exposition format for GET /metrics.
//
// Nothing here runs on the query path: workers only bump their own
// single-writer counters (worker_counters.h); render() reads them from the
// scrape thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "probes/prober_pool.h"
#include "server/dnssec/online_signing.h"
#include "server/common/lock_guarded.h"
#include "server/counters/worker_counters.h"
#include "server/snapshot/publisher.h"

namespace rotor::registry {
class Registry;
class SnapshotComposer;
}  // namespace rotor::registry

namespace rotor::metrics {

// The workers' counters (the data plane's) and the names they are rendered under.
using counters::kQueryTypeNames;
using counters::kRcodeNames;
using counters::kTransportNames;
using counters::WorkerCounters;

// What the collector reads; each source may be missing (its metrics are then
// left out). Every pointer must outlive the collector.
// A cluster node's view of the health vote (app::ClusterHealth).
struct ClusterHealthCounts {
  size_t live_nodes = 0;
  size_t abstaining_nodes = 0;
  size_t observations = 0;  // live observations over every instance
  bool isolated = false;    // on its own probes (cluster.isolation_fallback)
};

// Config reloads so far (app::Reloader).
struct ReloadCounts {
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  int64_t last_time_ms = 0;  // unix ms of the last reload; 0: none yet
  bool last_ok = true;       // the last reload applied (true before any)
};

struct MetricsSources {
  std::vector<std::shared_ptr<const WorkerCounters>> workers;  // net::WorkerPool::counters()
  const SnapshotPublisher* publisher = nullptr;    // generation; array slot -> name
  registry::SnapshotComposer* composer = nullptr;  // publish latency
  const registry::Registry* registry = nullptr;    // instances by health
  std::function<probes::ProberStats()> prober_stats;  // empty: no probe metrics
  // Per instance: health changes and damping starts of this node's checks
  // (ProberPool::check_counts); empty: no per-instance probe metrics.
  std::function<std::vector<std::pair<int64_t, probes::CheckHistory>>()> instance_check_counts;
  std::function<ClusterHealthCounts()> cluster_health;  // empty: not a cluster node
  std::function<ReloadCounts()> reloads;                // empty: no reload metrics
  // The signature cache of the zones rotor signs; empty: no DNSSEC metrics.
  std::function<dnssec::SharedSignatureCache::Stats()> signatures;
};

class MetricsCollector {
 public:
  explicit MetricsCollector(MetricsSources sources);

  // The exposition text (text/plain; version=0.0.4). Thread-safe.
  std::string render() const;

 private:
  // Answers per array are counted per rotation slot, and a slot is reused by a
  // new array after its array is deleted. The collector remembers which array
  // held each slot and the slot's count when that array first showed up there,
  // so a new array's counter starts from zero rather than inheriting.
  struct SlotOwner {
    std::string array;
    uint64_t base = 0;
  };
  uint64_t array_answers(uint32_t slot, const std::string& array) const;

  MetricsSources sources_;
  // Written by render(), which is const and may run in concurrent scrapes.
  mutable LockGuarded<std::unordered_map<uint32_t, SlotOwner>> slot_owners_;
};

}  // namespace rotor::metrics
