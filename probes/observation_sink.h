#pragma once
// Where a cluster node's probe results go: the HealthMonitor (server/app)
// hands its rise/fall transitions to a sink instead of the registry, and asks
// it which instances this node probes; cluster::Membership implements it.
// Here, below both, so that neither the app nor the cluster folder includes
// the other. An interface only.

#include <cstdint>
#include <vector>

#include "probes/prober_pool.h"

namespace rotor::probes {

// Called on the monitor's thread; must not call back into the monitor.
class ObservationSink {
 public:
  virtual ~ObservationSink() = default;
  // Whether this node probes `instance_id`, whose check asks for `observers`
  // nodes (0: every node).
  virtual bool observes(int64_t instance_id, uint32_t observers) const = 0;
  // After each target refresh: every instance this node probes now.
  virtual void set_targets(const std::vector<int64_t>& instance_ids) = 0;
  // This node's rise/fall transitions. Must not block on the network.
  virtual void publish(const std::vector<ProbeReport>& reports) = 0;
};

}  // namespace rotor::probes
