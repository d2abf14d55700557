#pragma once
// Turns the cluster's shared observations into the registry's health: for
// each instance, verdict() over the live observations (`observations/<id>/
// <node>` of nodes that have a `nodes/<node>` key, with their abstaining
// flag) and the instance's check quorum. Every node computes the same
// verdict from the same keys and serves it at once.
//
// Once per transition cluster-wide: only the instance's recorder, the live
// node first by rendezvous (rendezvous.h: choose_observers(id, live nodes,
// 1)), writes a verdict that differs from the recorded `health/<id>`
// (Registry::record_health: a compare-and-swap with its event); every other
// node serves the verdict without writing it (Registry::apply_health_locally)
// and receives the record by the watch. Two nodes that briefly both think
// they record (their views of the live nodes differ) meet at the CAS: the
// second finds the transition already recorded and writes nothing. When the
// recorder dies its lease takes its `nodes/` key away, every node decides
// again, and the next recorder writes what is missing.
//
// Isolation: while the store has been unreachable for longer than
// `isolation_fallback`, this node's own observations alone decide
// (Registry::apply_health_locally: served, not written); when the store is
// back every instance is decided from the shared observations again.
//
// The backends' own reports (check.weight_from_response) are served the same
// way, from the verdict (verdict.h: the minimum weight of the counted
// observers); they are never written to the store, since every node derives
// the same from the same keys (Registry::set_reported_many).
//
// It runs on a thread of its own: the store's notifier only queues the
// instances whose observations changed (observations_changed) or asks for
// everything (everything_changed: nodes came or went, the mirror was read
// again, the arrays changed: app::ClusterHealth calls it after each probe
// target refresh), so no etcd or registry work happens on the store's
// threads. Every 10 s it decides everything again regardless.
//
// Thread-safety: every public method is safe from any thread. start() once,
// stop() at most once (the destructor stops). Store errors are logged and
// the affected instances retried every second.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/common/lock_guarded.h"
#include "server/cluster/verdict.h"
#include "server/registry/registry.h"
#include "server/registry/store.h"

namespace rotor::cluster {

// The shared keys the verdicts read (cluster::EtcdStore's mirror). Values are
// the JSON of membership.h (observation_value, node_value).
class ObservationSource {
 public:
  virtual ~ObservationSource() = default;
  // Every observations/<instance_id>/<node> value, by node.
  virtual std::map<std::string, std::string> observations(int64_t instance_id) const = 0;
  // Every nodes/<node> value, by node: the live nodes.
  virtual std::map<std::string, std::string> nodes() const = 0;
  // The recorded verdict `health/<instance_id>` (unknown when none).
  virtual arrays::Health recorded_health(int64_t instance_id) const = 0;
  virtual registry::StoreStatus status() const = 0;
};

struct HealthVerdictsOptions {
  std::string node;  // this node's name: it records the instances it is first for
  std::chrono::milliseconds isolation_fallback{30000};
  std::function<int64_t()> now_ms;  // unix ms; default: the system clock
  // This node's own view of an instance (Membership::own_observation), for
  // the isolation fallback; empty: no fallback.
  std::function<std::optional<Observation>(int64_t instance_id)> own_observation;
};

class HealthVerdicts {
 public:
  HealthVerdicts(registry::Registry& registry, const ObservationSource& source,
                 HealthVerdictsOptions options);
  ~HealthVerdicts();
  HealthVerdicts(const HealthVerdicts&) = delete;
  HealthVerdicts& operator=(const HealthVerdicts&) = delete;

  void start();
  void stop();

  void observations_changed(const std::vector<int64_t>& instance_ids);
  void everything_changed();

  // The instance's current verdict with every observer's view (the API);
  // nullopt for an instance the registry does not have.
  std::optional<Verdict> verdict_of(int64_t instance_id) const;
  bool isolated() const;
  // Whether this node records the instance's transitions now (first by
  // rendezvous over the live nodes; never while isolated): the one node
  // that also removes it when its array's remove_after expires (app::InstanceReaper).
  bool records(int64_t instance_id) const;
  // For the metrics: the live nodes and the live observations counted by the
  // last pass over everything.
  struct Counts {
    size_t live_nodes = 0;
    size_t abstaining_nodes = 0;
    size_t observations = 0;
  };
  Counts counts() const;

  // One pass over what is queued, on the caller's thread (tests; the thread
  // calls it on each wake). Returns how many health changes it applied.
  size_t run_once();

 private:
  struct Target {
    probes::Quorum quorum;
    uint32_t observers = 0;  // check.observers; 0: every live node
    arrays::Health health = arrays::Health::unknown;
    bool reads_report = false;  // check.weight_from_response
    uint8_t reported_weight = 100;  // as the registry serves them now
    bool reported_draining = false;
  };
  std::map<int64_t, Target> targets() const;  // every instance with a check, from the registry
  Verdict shared_verdict(int64_t id, const Target& target, const std::map<std::string, std::string>& nodes,
                         const std::vector<std::string>& live) const;
  Verdict own_verdict(int64_t id, const Target& target) const;
  bool store_isolated() const;
  // Whether this node writes the instance's transitions: first by rendezvous.
  bool records(int64_t instance_id, const std::vector<std::string>& live) const;
  void run();

  registry::Registry& registry_;
  const ObservationSource& source_;
  HealthVerdictsOptions options_;
  std::thread thread_;

  // What the thread and its callers share.
  struct State {
    bool stopping = false;
    bool all_dirty = true;
    bool isolated = false;
    std::set<int64_t> dirty;
    std::map<int64_t, Verdict> verdicts;  // the last verdict of each instance, for the API
    Counts counts;
  };
  LockGuarded<State> state_;
  std::condition_variable wake_;  // waits on state_'s lock
};

}  // namespace rotor::cluster
