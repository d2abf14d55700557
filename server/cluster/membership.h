#pragma once
// A node's membership in the cluster: its etcd lease, its `nodes/<node>`
// key and its published observations `observations/<instance id>/<node>`,
// both under the lease, so that a node that dies or is cut off disappears
// from every verdict by itself once its lease expires (DESIGN.md).
//
// It is the HealthMonitor's ObservationSink in cluster mode: the monitor asks
// it which instances this node observes (rendezvous over the live nodes),
// tells it the targets it probes and hands it this node's rise/fall
// transitions. A background thread does every etcd call: it grants the lease
// (cluster.etcd.lease_ttl), keeps it alive every ttl/3, grants a new one and
// puts every key again when the lease expired, reads the live node list
// (`nodes/`) after each keepalive, and writes changed observations, retrying
// every `retry_interval` while etcd refuses. Nothing the monitor calls waits
// on the network.
//
// Abstain rule: when this node's own view has more than `abstain_share` of its
// targets (at least `abstain_min_targets` of them) down, it is probably the
// one cut off: it sets `abstaining: true` in `nodes/<node>`, and false again
// when it recovers; verdicts then leave its votes out. A down transition is
// held for `down_hold` (cluster.down_hold) before it is published: a node cut off sees its
// targets fail over about one check interval (each is probed at its own
// time), and without the hold its first down votes would count before the
// rest made it abstain. When it abstains, what it holds is published at once,
// in the same transaction as the flag.
//
// What `progress` reports (the store revision this node has applied and its
// watch lag) goes to `progress/<node>`, also under the lease: read and put
// again with each keepalive when it changed, never per write, and in its own
// key so that its churn never looks like a node change to the verdicts. GET
// /v1/cluster/nodes lists it per node; a node without that key (an older
// one) lists none (nullopt).
//
// Thread-safety: every public method is safe from any thread. start() once,
// stop() at most once (the destructor stops). Errors: etcd failures are
// logged and retried, never thrown.

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
#include <utility>
#include <vector>

#include "probes/observation_sink.h"
#include "server/cluster/etcd_client.h"
#include "server/cluster/verdict.h"
#include "server/common/lock_guarded.h"

namespace rotor::cluster {

struct MembershipOptions {
  std::string prefix = "/rotor/";
  std::string node;
  std::string region;
  std::chrono::seconds lease_ttl{10};
  double abstain_share = 0.5;
  size_t abstain_min_targets = 4;
  std::chrono::milliseconds down_hold{1000};
  std::chrono::milliseconds retry_interval{1000};
  std::function<int64_t()> now_ms;  // unix ms; default: the system clock
  // This node's applied store revision and watch lag, published in its node
  // key (read on the membership thread at each keepalive); empty: none.
  std::function<std::pair<int64_t, int64_t>()> progress;
};

// The JSON of the keys, shared with whoever reads them (HealthVerdicts).
std::string observation_value(const Observation& observation);
// Throws nothing: a value that does not parse gives an unknown observation.
Observation parse_observation(const std::string& node, const std::string& value);
struct NodeRecord {
  std::string region;
  int64_t started_ms = 0;
  bool abstaining = false;
  int64_t lease_ttl_s = 0;                     // 0: not published (older nodes)
  std::optional<int64_t> revision_applied;     // absent in older nodes' records
  std::optional<int64_t> watch_lag_ms;
  bool operator==(const NodeRecord&) const = default;
};
// A live node as read from `nodes/`: its name, record and the lease its key is under.
struct MemberNode {
  std::string name;
  NodeRecord record;
  int64_t lease = 0;
};
std::string node_value(const NodeRecord& record);
NodeRecord parse_node(const std::string& value);
// progress/<node>: {"revision_applied": N, "watch_lag_ms": M}; parsing fills
// the record's two fields, leaving them nullopt when absent or malformed.
std::string progress_value(int64_t revision_applied, int64_t watch_lag_ms);
void parse_progress(const std::string& value, NodeRecord& record);

class Membership final : public probes::ObservationSink {
 public:
  using Clock = std::chrono::steady_clock;
  Membership(std::shared_ptr<EtcdClient> client, MembershipOptions options);
  ~Membership() override;
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  void start();
  // `revoke`: give the lease back, so this node's observations vanish at once
  // (a clean shutdown). Without it they stay until the lease expires, as
  // when the process is killed (tests).
  void stop(bool revoke = true);

  // ObservationSink.
  bool observes(int64_t instance_id, uint32_t observers) const override;
  void set_targets(const std::vector<int64_t>& instance_ids) override;
  void publish(const std::vector<probes::ProbeReport>& reports) override;

  // Called (on the membership thread) when the live node list changes, so
  // the monitor can choose its targets again.
  void set_nodes_changed_handler(std::function<void()> handler);

  // The live nodes by name (this node always among them).
  std::vector<std::string> live_nodes() const;
  const std::string& node() const { return options_.node; }
  bool abstaining() const;
  // This node's own observation of an instance it probes (the isolation fallback).
  std::optional<Observation> own_observation(int64_t instance_id) const;
  // Every live node with its record, sorted by name, as last read (after each
  // keepalive); this node's own entry is its current record.
  std::vector<MemberNode> members() const;
  // The lease in use; 0 while none is granted.
  int64_t lease() const;
  // True once every observation and the node key are written under the current lease.
  bool settled() const;

 private:
  struct State {
    bool stopping = false;
    bool revoke_on_stop = true;
    int64_t lease = 0;
    std::set<int64_t> targets;
    std::map<int64_t, Observation> own;     // this node's view of its targets
    std::set<int64_t> dirty_observations;   // to put (in own) or delete (not in own)
    std::map<int64_t, Clock::time_point> held;  // down transitions in own, published at that time
    bool node_dirty = true;
    // Taken from the dirty sets and not yet acknowledged by etcd: not settled.
    bool writing = false;
    bool abstaining = false;
    std::vector<std::string> live_nodes;
    std::vector<MemberNode> members;                 // as last read, without this node
    std::optional<std::pair<int64_t, int64_t>> progress;  // as last read from `progress`
    bool progress_dirty = false;
    std::function<void()> nodes_changed;
  };

  void run();
  // Each returns false when etcd refused (retry later).
  bool ensure_lease();
  bool keep_alive();
  bool read_nodes();
  void refresh_progress();
  NodeRecord own_record(const State& state) const;
  bool write_pending();
  void update_abstaining(State& state) const;
  static void release_held(State& state, Clock::time_point until);
  std::string observation_key(int64_t instance_id) const;
  std::string node_key() const;
  std::string progress_key() const;

  std::shared_ptr<EtcdClient> client_;
  MembershipOptions options_;
  const int64_t started_ms_;
  std::thread thread_;

  LockGuarded<State> state_;
  std::condition_variable wake_;
};

}  // namespace rotor::cluster
