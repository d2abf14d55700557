#include "server/app/cluster_health.h"

#include <chrono>

#include "server/app/registry_setup.h"

namespace rotor::app {

namespace {

cluster::MembershipOptions membership_options(const config::ClusterConfig& config, cluster::EtcdStore& store) {
  cluster::MembershipOptions options;
  options.prefix = config.prefix;
  options.node = config.node;
  options.region = config.region;
  options.lease_ttl = std::chrono::duration_cast<std::chrono::seconds>(config.lease_ttl);
  if (options.lease_ttl.count() < 1) options.lease_ttl = std::chrono::seconds(1);
  options.abstain_share = config.abstain_share;
  options.down_hold = config.down_hold;
  options.progress = [&store] {
    const registry::StoreStatus status = store.status();
    return std::pair<int64_t, int64_t>(status.revision, status.watch_lag_ms);
  };
  return options;
}

}  // namespace

ClusterHealth::ClusterHealth(const config::ClusterConfig& config, registry::Registry& registry,
                             cluster::EtcdStore& store)
    : store_(store),
      membership_(std::make_shared<cluster::EtcdClient>(etcd_options(config)), membership_options(config, store)),
      verdicts_(registry, store,
                {.node = config.node,
                 .isolation_fallback = config.isolation_fallback,
                 .own_observation = [this](int64_t id) { return membership_.own_observation(id); }}) {}

ClusterHealth::~ClusterHealth() { stop(); }

metrics::ClusterHealthCounts ClusterHealth::counts() const {
  const cluster::HealthVerdicts::Counts counts = verdicts_.counts();
  return {counts.live_nodes, counts.abstaining_nodes, counts.observations, verdicts_.isolated()};
}

std::vector<cluster::MemberNode> ClusterHealth::nodes() const {
  std::vector<cluster::MemberNode> nodes = membership_.members();
  const registry::StoreStatus status = store_.status();  // this node's own, fresher than its key
  for (cluster::MemberNode& node : nodes) {
    if (node.name != membership_.node()) continue;
    node.record.revision_applied = status.revision;
    node.record.watch_lag_ms = status.watch_lag_ms;
  }
  return nodes;
}

void ClusterHealth::attach(HealthMonitor& monitor) { monitor_ = &monitor; }

void ClusterHealth::start() {
  store_.set_observation_handler([this](const std::vector<int64_t>& instances, bool nodes_changed) {
    if (nodes_changed) {
      verdicts_.everything_changed();
    } else {
      verdicts_.observations_changed(instances);
    }
  });
  membership_.set_nodes_changed_handler([this] {
    if (monitor_ != nullptr) monitor_->refresh_targets_soon();
    verdicts_.everything_changed();
  });
  verdicts_.start();
  membership_.start();
}

void ClusterHealth::stop() {
  if (stopped_) return;
  stopped_ = true;
  store_.set_observation_handler(nullptr);
  membership_.stop();  // revokes the lease: this node's observations go at once
  verdicts_.stop();
}

}  // namespace rotor::app
