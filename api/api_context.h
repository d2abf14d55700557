#pragma once
// What the API's handlers read and write. Everything here is thread-safe:
// handlers run on httplib's worker threads, never on the DNS workers.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "probes/prober_pool.h"
#include "server/app/reloader.h"
#include "server/cluster/membership.h"
#include "server/cluster/verdict.h"
#include "server/metrics/answer_rates.h"
#include "server/registry/registry.h"
#include "server/registry/snapshot_composer.h"
#include "server/snapshot/publisher.h"

namespace rotor::api {

struct ApiContext {
  registry::Registry& registry;                // every read and write of arrays
  registry::SnapshotComposer& composer;        // which served zones are declared ones
  const SnapshotPublisher& publisher;          // what DNS answers now (zones, explain)
  // The last probe of an instance (HealthMonitor::last_check); empty or
  // nullopt: never checked.
  std::function<std::optional<probes::LastCheck>(int64_t instance_id)> last_check;
  // The instance's recent checks on this node (HealthMonitor::check_history);
  // empty: GET .../checks answers with no checks.
  std::function<probes::CheckHistory(int64_t instance_id)> check_history;
  // The Prometheus text for /metrics; empty: an empty body.
  std::function<std::string()> metrics_text;
  // Answers per second per array over the last minutes
  // (metrics::AnswerRateSampler::rates); empty: GET /v1/rates has no samples.
  std::function<metrics::AnswerRates()> answer_rates;
  // Cluster mode: an instance's verdict with every observer's view
  // (cluster::HealthVerdicts); nullopt: not known. Empty: a single node,
  // whose one observer is itself, named `node`.
  std::function<std::optional<cluster::Verdict>(int64_t instance_id)> verdict;
  std::string node = "local";
  // Cluster mode: every live node with its record and lease
  // (app::ClusterHealth::nodes). Empty: a single node, GET /v1/cluster/nodes
  // answers mode "single" with this node alone.
  std::function<std::vector<cluster::MemberNode>()> cluster_nodes;
  // POST /v1/reload (app::Reloader::reload, its event naming the origin);
  // empty: the route answers 404.
  std::function<app::ReloadOutcome(const registry::EventOrigin&)> reload;
  // Set by the ApiServer (its own flag): true once it stops, so that a long
  // poll (GET /v1/events?wait=) returns at once rather than hold up stop().
  const std::atomic<bool>* stopping = nullptr;
};

}  // namespace rotor::api
