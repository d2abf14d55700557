// Read-only views: liveness, metrics, the answer rates, the served zones,
// the event log and the health of an array's instances, the cluster's nodes.

#include <httplib.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <chrono>
#include <thread>

#include "api/api_error.h"
#include "api/health_views.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "api/views.h"
#include "server/common/ascii.h"
#include "server/dns/wire.h"

namespace rotor::api {

namespace {

using nlohmann::json;

constexpr size_t kDefaultEventLimit = 100;
constexpr size_t kMaxEventLimit = 1000;
// A long poll waits at most this long (below the API's 30 s request deadline
// and the usual proxies' 60 s idle timeout), looking this often.
constexpr int64_t kMaxEventWaitSeconds = 25;
constexpr auto kEventPollInterval = std::chrono::milliseconds(200);

// A query parameter as a non-negative integer; `fallback` when absent.
int64_t integer_parameter(const httplib::Request& request, const std::string& name,
                          int64_t fallback) {
  if (!request.has_param(name)) return fallback;
  const std::string text = request.get_param_value(name);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < 0) {
    throw ApiError(400, name + ": expected a non-negative integer, got \"" + text + "\"", name);
  }
  return value;
}

// GET /v1/events' query: every parameter narrows it.
registry::EventFilter event_filter(const httplib::Request& request) {
  registry::EventFilter filter;
  filter.since_id = integer_parameter(request, "since", 0);
  const int64_t limit = integer_parameter(request, "limit", kDefaultEventLimit);
  if (limit < 1 || limit > static_cast<int64_t>(kMaxEventLimit)) {
    throw ApiError(400, "limit: expected 1 to " + std::to_string(kMaxEventLimit) + ", got " +
                            std::to_string(limit),
                   "limit");
  }
  filter.limit = static_cast<size_t>(limit);
  if (request.has_param("array")) {
    // Event names are the registry's: lower case, absolute.
    filter.array = ascii_lowercase(request.get_param_value("array"));
    if (filter.array.empty()) throw ApiError(400, "array: empty name", "array");
    if (filter.array.back() != '.') filter.array += '.';
  }
  filter.instance_id = integer_parameter(request, "instance", 0);
  if (request.has_param("kind")) {
    filter.kind = request.get_param_value("kind");
    if (filter.kind != "admin" && filter.kind != "health" && filter.kind != "damping" &&
        filter.kind != "reload" && filter.kind != "panic") {
      throw ApiError(400, "kind: expected admin, health, damping, reload or panic, got \"" + filter.kind + "\"",
                     "kind");
    }
  }
  filter.from_ms = integer_parameter(request, "from_ms", 0);
  filter.until_ms = integer_parameter(request, "until_ms", 0);
  return filter;
}

// GET /v1/events?wait=S: the events after `filter.since_id`, waiting up to S
// seconds for the first one when there is none yet (a long poll, for the
// console's live view). The store has no change notification, so this
// looks again every kEventPollInterval: a cheap indexed query by id.
std::vector<registry::Event> events_waiting(const ApiContext& context,
                                            const registry::EventFilter& filter,
                                            int64_t wait_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  for (;;) {
    std::vector<registry::Event> events = context.registry.events(filter);
    if (!events.empty() || std::chrono::steady_clock::now() >= deadline) return events;
    if (context.stopping != nullptr && context.stopping->load()) return events;
    std::this_thread::sleep_for(kEventPollInterval);
  }
}

// One node of GET /v1/cluster/nodes; what a record lacks (an older node's,
// or a single node's) is null.
json node_view(const cluster::MemberNode& node, bool self) {
  const cluster::NodeRecord& record = node.record;
  json lease = nullptr;
  if (node.lease != 0) {
    char id[20];  // hex, as etcdctl and the logs print lease ids
    std::snprintf(id, sizeof id, "%llx", static_cast<unsigned long long>(node.lease));
    lease = {{"id", id},
             {"ttl_seconds", record.lease_ttl_s > 0 ? json(record.lease_ttl_s) : json(nullptr)}};
  }
  return {{"name", node.name},
          {"self", self},
          {"region", record.region.empty() ? json(nullptr) : json(record.region)},
          {"started_ms", record.started_ms > 0 ? json(record.started_ms) : json(nullptr)},
          {"abstaining", record.abstaining},
          {"lease", std::move(lease)},
          {"revision_applied", record.revision_applied ? json(*record.revision_applied) : json(nullptr)},
          {"watch_lag_ms", record.watch_lag_ms ? json(*record.watch_lag_ms) : json(nullptr)}};
}

// GET /v1/rates: the sampler's history, each array's rates in step with times_ms.
json answer_rates_view(const ApiContext& context) {
  metrics::AnswerRates rates;
  if (context.answer_rates) {
    rates = context.answer_rates();
  } else {
    const metrics::AnswerRateOptions defaults;
    rates.interval_ms = defaults.interval.count();
    rates.capacity = defaults.capacity;
  }
  json arrays = json::array();
  for (const metrics::AnswerRates::Array& array : rates.arrays) {
    json values = json::array();
    for (const std::optional<double>& rate : array.answers_per_second) {
      // Three decimals: a rate, not 0.30000000000000004.
      values.push_back(rate ? json(std::round(*rate * 1000) / 1000) : json(nullptr));
    }
    arrays.push_back({{"name", array.name}, {"answers_per_second", std::move(values)}});
  }
  const int64_t interval_seconds = rates.interval_ms / 1000;
  return {{"interval_seconds", interval_seconds},
          {"window_seconds", interval_seconds * static_cast<int64_t>(rates.capacity)},
          {"times_ms", rates.times_ms},
          {"arrays", std::move(arrays)}};
}

json cluster_nodes_view(const ApiContext& context) {
  if (!context.cluster_nodes) {
    return {{"mode", "single"}, {"node", context.node}, {"nodes", json::array({node_view({context.node, {}, 0}, true)})}};
  }
  json nodes = json::array();
  for (const cluster::MemberNode& node : context.cluster_nodes()) nodes.push_back(node_view(node, node.name == context.node));
  return {{"mode", "cluster"}, {"node", context.node}, {"nodes", std::move(nodes)}};
}

}  // namespace

void add_status_routes(Router& router, ApiContext& context) {
  router.add("GET", "/healthz", [](const RouteRequest&, httplib::Response& response) {
    reply_json(response, 200, {{"status", "ok"}});
  });

  router.add("GET", "/metrics", [&context](const RouteRequest&, httplib::Response& response) {
    response.status = 200;
    response.set_content(context.metrics_text ? context.metrics_text() : std::string(),
                         "text/plain; version=0.0.4");
  });

  router.add("GET", "/v1/cluster/nodes", [&context](const RouteRequest&, httplib::Response& response) {
    reply_json(response, 200, cluster_nodes_view(context));
  });

  router.add("GET", "/v1/rates", [&context](const RouteRequest&, httplib::Response& response) {
    reply_json(response, 200, answer_rates_view(context));
  });

  router.add("GET", "/v1/zones", [&context](const RouteRequest&, httplib::Response& response) {
    const auto snapshot = context.publisher.current();
    json zones = json::array();
    for (const auto& zone : snapshot->zones.zones()) {
      const std::string origin = dns::lowercase_name(zone->origin());
      const auto served = context.composer.served_zone(origin);
      zones.push_back({{"origin", zone->origin_text()},
                       {"serial", zone->serial()},
                       {"source", served && served->synthetic ? "declared" : "file"},
                       {"records", zone->record_count()}});
    }
    reply_json(response, 200, {{"zones", std::move(zones)}});
  });

  router.add("GET", "/v1/events",
             [&context](const RouteRequest& request, httplib::Response& response) {
               const registry::EventFilter filter = event_filter(request.http);
               const int64_t wait = integer_parameter(request.http, "wait", 0);
               if (wait > kMaxEventWaitSeconds) {
                 throw ApiError(400, "wait: expected 0 to " + std::to_string(kMaxEventWaitSeconds) +
                                         " seconds, got " + std::to_string(wait),
                                "wait");
               }
               json events = json::array();
               int64_t next = filter.since_id;
               for (const auto& event : events_waiting(context, filter, wait)) {
                 events.push_back(event_json(event));
                 next = event.id;
               }
               reply_json(response, 200, {{"events", std::move(events)}, {"next", next}});
             },
             {"since", "limit", "array", "instance", "kind", "from_ms", "until_ms", "wait"});

  router.add("GET", "/v1/arrays/{}/health",
             [&context](const RouteRequest& request, httplib::Response& response) {
               const auto array = context.registry.find(request.params[0]);
               if (!array) throw ApiError(404, "no array " + request.params[0]);
               json instances = json::array();
               for (const arrays::Instance& instance : array->instances) {
                 std::optional<probes::LastCheck> last;
                 if (context.last_check) last = context.last_check(instance.id);
                 json detail = observers_json(context, instance);
                 json damping = damping_json(last);
                 // Held down by damping: the stored reason is why it went down, not why it stays.
                 const bool held = damping.is_object() && instance.health == arrays::Health::down;
                 instances.push_back(
                     {{"id", instance.id},
                      {"address", instance.spec.address.to_string()},
                      {"state", std::string(arrays::to_string(instance.spec.state))},
                      {"health", std::string(arrays::to_string(instance.health))},
                      {"health_changed_ms", instance.health_changed_ms},
                      {"health_changed", rfc3339(instance.health_changed_ms)},
                      {"reason", held ? damping["reason"] : json(instance.health_reason)},
                      {"damping", std::move(damping)},
                      {"last_check", last_check_json(last)},
                      {"observers", std::move(detail["observers"])},
                      {"quorum", std::move(detail["quorum"])}});
               }
               reply_json(response, 200,
                          {{"name", array->name}, {"instances", std::move(instances)}});
             });
}

}  // namespace rotor::api
