#pragma once
// Connects the prober pool and the registry, both ways: the registry's arrays
// become probe targets (every enabled or draining instance of an array or
// instance with a check; a disabled one is not probed), and the pool's health
// transitions become registry writes (instance health, an event row, a new
// snapshot); flap damping starting or ending becomes a "damping" event; a
// changed backend report (check.weight_from_response) is served by the
// registry without a write (Registry::set_reported_many).
//
// It runs on a thread of its own, between the two: a slow SQLite write never
// stalls probe scheduling, and a burst of registry changes rebuilds the target
// set once, not once per change: a refresh copies every array and instance,
// so at most one runs every kTargetRefreshSpacing (the first change after a
// quiet spell is followed at once; a check's interval is at least 100 ms, so
// a new or disabled instance's probing starts or stops at most 50 ms later). A transition the store refuses
// (disk full, read-only file) is kept, newest per instance, and retried every
// second; the prober does not report it again.
//
// Cluster mode (an ObservationSink is given): the node probes only the
// instances the sink says it observes (rendezvous over the live nodes), each
// state machine starts unknown (so the node's first result is published as
// its observation), and transitions go to the sink, not to the registry: the
// registry's health is then the cluster verdict.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "probes/observation_sink.h"
#include "probes/prober_pool.h"
#include "server/common/lock_guarded.h"
#include "server/registry/registry.h"

namespace rotor::app {

using probes::ObservationSink;

// What the pool should probe for these arrays. An instance whose merged check
// is invalid (possible only in a database edited by hand) is left out and
// logged. With `sink`: only what it observes, each seeded unknown.
std::vector<probes::ProbeTarget> probe_targets(const std::vector<registry::RegisteredArray>& arrays,
                                               const ObservationSink* sink = nullptr);

// Contract: start() once, stop() at most once (the destructor stops). The
// registry must outlive the monitor.
class HealthMonitor {
 public:
  // `sink`: cluster mode (see above); it must outlive the monitor.
  HealthMonitor(registry::Registry& registry, probes::ProberOptions options,
                ObservationSink* sink = nullptr);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  void start();
  void stop();

  // Registry changes closer together than this share one target refresh.
  static constexpr std::chrono::milliseconds kTargetRefreshSpacing{50};

  // The set of nodes changed (cluster mode): choose the targets again.
  void refresh_targets_soon();

  probes::ProberStats prober_stats() const { return pool_.stats(); }
  // Also says whether flap damping holds the instance down, and until when.
  std::optional<probes::LastCheck> last_check(int64_t instance_id) const {
    return pool_.last_check(instance_id);
  }
  probes::CheckHistory check_history(int64_t instance_id) const { return pool_.check_history(instance_id); }
  std::vector<std::pair<int64_t, probes::CheckHistory>> check_counts() const { return pool_.check_counts(); }

 private:
  void run();
  void refresh_targets();
  // What the store has not taken yet.
  struct Pending {
    std::map<int64_t, probes::ProbeReport> health;  // by instance: the newest wins
    std::vector<registry::DampingUpdate> damping;   // every start and end, in order
  };
  // Writes the pending transitions and damping events; false when the store
  // refused them (what it did not take stays pending).
  bool write(Pending& pending);
  // Serves the backends' changed reports (check.weight_from_response); the
  // registry keeps them in memory, so this cannot fail.
  void serve_reports(const std::map<int64_t, registry::ReportedUpdate>& reported);
  std::string label(int64_t instance_id) const;  // for the log

  registry::Registry& registry_;
  ObservationSink* sink_;
  probes::ProberPool pool_;
  std::thread thread_;
  // "web.lb.example.com. 192.0.2.1" by instance id, for the log; touched only
  // on the monitor's thread.
  std::unordered_map<int64_t, std::string> labels_;

  // What the other threads hand the monitor's thread.
  struct Inbox {
    bool stopping = false;
    bool targets_stale = true;
    std::vector<probes::ProbeReport> reports;
  };
  LockGuarded<Inbox> inbox_;
  std::condition_variable wake_;
};

}  // namespace rotor::app
