#pragma once
// A cluster node's health machinery, wired together: its Membership (lease,
// nodes/<node>, its own observations; the HealthMonitor's ObservationSink)
// and the HealthVerdicts that turn every node's observations, read from the
// EtcdStore's mirror, into the registry's health.
//
// Hooks: the store's observation handler queues changed instances on the
// verdicts; a change of the live nodes makes the monitor choose its targets
// again (rendezvous) and the verdicts decide everything again. The monitor's
// sink is Membership seen through TargetsHook: each target refresh (after
// every change of the registry's arrays, through this node's API or another
// node's, so a new check.quorum or check.observers too) makes the verdicts
// decide everything again at once, not at their next full pass.
//
// Contract: built after the registry (on an EtcdStore), attach(monitor)
// before the monitor starts, start() once; stop() (or the destructor) before
// the registry goes, after the monitor stopped. Thread-safe as its parts.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "server/app/health_monitor.h"
#include "server/cluster/etcd_store.h"
#include "server/cluster/health_verdicts.h"
#include "server/cluster/membership.h"
#include "server/config/config.h"
#include "server/metrics/metrics.h"

namespace rotor::app {

class ClusterHealth {
 public:
  ClusterHealth(const config::ClusterConfig& config, registry::Registry& registry, cluster::EtcdStore& store);
  ~ClusterHealth();
  ClusterHealth(const ClusterHealth&) = delete;
  ClusterHealth& operator=(const ClusterHealth&) = delete;

  ObservationSink& sink() { return targets_hook_; }
  void attach(HealthMonitor& monitor);
  void start();
  void stop();

  // For the API: the instance's verdict with every observer's view.
  std::optional<cluster::Verdict> verdict(int64_t instance_id) const { return verdicts_.verdict_of(instance_id); }
  // Whether this node records (and so may remove) the instance now.
  bool records(int64_t instance_id) const { return verdicts_.records(instance_id); }
  // For GET /v1/cluster/nodes: every live node, this one with its current progress.
  std::vector<cluster::MemberNode> nodes() const;
  // For the metrics.
  metrics::ClusterHealthCounts counts() const;

 private:
  // Membership as the monitor's sink, plus: its targets were refreshed, the
  // arrays (and so the quorum rules) may have changed.
  class TargetsHook final : public ObservationSink {
   public:
    TargetsHook(ObservationSink& inner, cluster::HealthVerdicts& verdicts) : inner_(inner), verdicts_(verdicts) {}
    bool observes(int64_t instance_id, uint32_t observers) const override {
      return inner_.observes(instance_id, observers);
    }
    void set_targets(const std::vector<int64_t>& instance_ids) override {
      inner_.set_targets(instance_ids);
      verdicts_.everything_changed();
    }
    void publish(const std::vector<probes::ProbeReport>& reports) override { inner_.publish(reports); }

   private:
    ObservationSink& inner_;
    cluster::HealthVerdicts& verdicts_;
  };

  cluster::EtcdStore& store_;
  cluster::Membership membership_;
  cluster::HealthVerdicts verdicts_;
  TargetsHook targets_hook_{membership_, verdicts_};
  HealthMonitor* monitor_ = nullptr;
  bool stopped_ = false;
};

}  // namespace rotor::app
