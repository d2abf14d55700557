#include "api/health_views.h"

#include <string>

#include "api/views.h"
#include "server/common/utc_time.h"

namespace rotor::api {

using nlohmann::json;

json last_check_json(const std::optional<probes::LastCheck>& check) {
  if (!check) return nullptr;
  return {{"time", rfc3339(check->time_ms)},
          {"time_ms", check->time_ms},
          {"latency_ms", static_cast<double>(check->latency.count()) / 1000.0},
          {"passed", check->passed},
          {"reason", check->reason}};
}

json damping_json(const std::optional<probes::LastCheck>& check) {
  if (!check || !check->held_down_until_ms) return nullptr;
  const int64_t until = *check->held_down_until_ms;
  return {{"held_down", true},
          {"until_ms", until},
          {"until", rfc3339(until)},
          {"reason", "held down by flap damping until " + utc_text(until) +
                         ": the last checks passed, the flap penalty has not decayed yet"}};
}

namespace {

json observer_json(const ApiContext& context, const cluster::ObserverView& view, int64_t instance_id) {
  const cluster::Observation& seen = view.observation;
  json last = nullptr;
  if (seen.node == context.node && context.last_check) last = last_check_json(context.last_check(instance_id));
  return {{"node", seen.node},
          {"health", std::string(arrays::to_string(seen.health))},
          {"reason", seen.reason},
          {"time_ms", seen.time_ms},
          {"time", rfc3339(seen.time_ms)},
          {"counted", view.counted},
          {"abstaining", seen.abstaining},
          {"last_check", std::move(last)}};
}

}  // namespace

json observers_json(const ApiContext& context, const arrays::Instance& instance) {
  std::optional<cluster::Verdict> verdict;
  if (context.verdict) {
    verdict = context.verdict(instance.id);
  } else {
    // A single node: its own view is the verdict.
    cluster::Verdict own;
    own.health = instance.health;
    own.reason = "single node: its own probes decide";
    own.observers.push_back({{context.node, instance.health, instance.health_reason,
                              instance.health_changed_ms, false},
                             instance.health != arrays::Health::unknown});
    verdict = std::move(own);
  }
  json observers = json::array();
  json quorum = nullptr;
  if (verdict) {
    for (const cluster::ObserverView& view : verdict->observers) {
      observers.push_back(observer_json(context, view, instance.id));
    }
    quorum = {{"rule", context.verdict ? probes::to_string(verdict->quorum) : "single node"},
              {"decision", verdict->reason}};
  }
  return {{"observers", std::move(observers)}, {"quorum", std::move(quorum)}};
}

}  // namespace rotor::api
