#pragma once
// Automatic removal (an array's `remove_after`): an instance its health
// checks have found down, or never up, for longer than its array's
// remove_after is removed through the registry, with an "instance removed"
// event (source "remove_after") that keeps its last record, so a later
// operator sees what went and why. Dead registrations clean themselves up.
//
// Who is a candidate is registry/instance_expiry.h's: probed, not disabled,
// not up. Instances the config lists stay (the registry refuses: the config
// is their source of truth and a reload would bring them back); removal
// applies to the ones registered through the API.
//
// Not up since: the instance's last health transition, but never before the
// reaper started. A restart keeps health in the store, yet nothing probed
// the instance while rotor was down, so its clock restarts at startup (the
// safe choice: a removal never comes earlier than remove_after of this
// process's own watching). An instance unknown since it was added (no
// transition yet) counts from the first sweep that saw it.
//
// Cluster: every node runs a reaper, but `removes` lets only the instance's
// health recorder (cluster::HealthVerdicts) remove it; the removal is an
// ordinary store write every node sees. Two nodes that briefly both think
// they record meet in the store: the second finds the instance gone.
//
// Thread-safe: start() runs sweeps on the reaper's own thread, stop() (or
// the destructor) joins it; sweep() may be called from any thread.
// expired_instances() is pure.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "server/common/lock_guarded.h"
#include "server/common/periodic_thread.h"
#include "server/registry/registry.h"

namespace rotor::app {

struct ExpiredInstance {
  std::string array;
  int64_t id = 0;
  int64_t not_up_since_ms = 0;
  std::string reason;  // registry::expiry_reason's
};

// What the sweeps remember between them.
struct ReaperMemory {
  int64_t started_ms = 0;  // no instance counts as not up before this
  // When a sweep first saw an instance that has no health transition yet.
  std::unordered_map<int64_t, int64_t> first_seen_ms;
};

// The instances to remove at `now_ms`, by array then id. Updates `memory`:
// instances with no transition are noted, the others forgotten.
std::vector<ExpiredInstance> expired_instances(const std::vector<registry::RegisteredArray>& arrays,
                                               int64_t now_ms, ReaperMemory& memory);

struct InstanceReaperOptions {
  std::function<int64_t()> now_ms;       // unix ms; default: the system clock
  std::function<bool(int64_t)> removes;  // whether this node removes the instance; default: every one
};

class InstanceReaper {
 public:
  InstanceReaper(registry::Registry& registry, InstanceReaperOptions options = {});
  ~InstanceReaper();
  InstanceReaper(const InstanceReaper&) = delete;
  InstanceReaper& operator=(const InstanceReaper&) = delete;

  void start();
  void stop();
  // One sweep now; returns how many instances it removed.
  size_t sweep();

 private:
  std::chrono::milliseconds tick();  // one sweep on the thread; returns the pause
  size_t sweep(const std::vector<registry::RegisteredArray>& arrays);

  registry::Registry& registry_;
  InstanceReaperOptions options_;
  struct State {
    ReaperMemory memory;
    std::unordered_set<int64_t> logged_listed;  // config-listed ones said once
  };
  LockGuarded<State> state_;
  PeriodicThread thread_;  // last: stops before what it uses goes
};

}  // namespace rotor::app
