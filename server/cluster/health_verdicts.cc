#include "server/cluster/health_verdicts.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "probes/check_spec.h"
#include "server/common/background_thread.h"
#include "server/common/field_error.h"
#include "server/cluster/membership.h"
#include "server/cluster/rendezvous.h"
#include "server/common/utc_time.h"

namespace rotor::cluster {
namespace {

int64_t system_now_ms() { return unix_now_ms(); }

}  // namespace

HealthVerdicts::HealthVerdicts(registry::Registry& registry, const ObservationSource& source,
                               HealthVerdictsOptions options)
    : registry_(registry), source_(source), options_(std::move(options)) {
  if (!options_.now_ms) options_.now_ms = system_now_ms;
}

HealthVerdicts::~HealthVerdicts() { stop(); }

void HealthVerdicts::start() {
  thread_ = std::thread([this] {
    lower_this_thread_priority();
    run();
  });
}

void HealthVerdicts::stop() {
  {
    state_.lock()->stopping = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void HealthVerdicts::observations_changed(const std::vector<int64_t>& instance_ids) {
  state_.lock()->dirty.insert(instance_ids.begin(), instance_ids.end());
  wake_.notify_one();
}

void HealthVerdicts::everything_changed() {
  state_.lock()->all_dirty = true;
  wake_.notify_one();
}

std::optional<Verdict> HealthVerdicts::verdict_of(int64_t instance_id) const {
  auto state = state_.lock();
  const auto it = state->verdicts.find(instance_id);
  if (it == state->verdicts.end()) return std::nullopt;
  return it->second;
}

bool HealthVerdicts::isolated() const {
  return state_.lock()->isolated;
}

void HealthVerdicts::run() {
  // Everything again now and then, should a change have been missed (array
  // changes come through everything_changed, from the app's target refresh).
  constexpr int kSecondsBetweenFullPasses = 10;
  int quiet_seconds = 0;
  auto state = state_.lock();
  while (!state->stopping) {
    // Woken by changes; every second regardless, to notice isolation and retry.
    const bool woken = wake_.wait_for(state.lock(), std::chrono::seconds(1), [&] {
      return state->stopping || state->all_dirty || !state->dirty.empty();
    });
    if (state->stopping) return;
    if (!woken && ++quiet_seconds >= kSecondsBetweenFullPasses) {
      quiet_seconds = 0;
      state->all_dirty = true;
    }
    state.lock().unlock();
    run_once();
    state.lock().lock();
  }
}

std::map<int64_t, HealthVerdicts::Target> HealthVerdicts::targets() const {
  std::map<int64_t, Target> out;
  for (const registry::RegisteredArray& array : registry_.arrays()) {
    for (const arrays::Instance& instance : array.instances) {
      if (instance.spec.state == arrays::AdminState::disabled) continue;  // not probed
      try {
        const auto check = probes::effective_check(array.settings.check, instance.spec.check, "check");
        if (check) {
          out.emplace(instance.id, Target{check->quorum, check->observers, instance.health,
                                          check->weight_from_response, instance.reported_weight,
                                          instance.reported_draining});
        }
      } catch (const FieldError&) {
        // Not probed either (HealthMonitor logs it).
      }
    }
  }
  return out;
}

Verdict HealthVerdicts::shared_verdict(int64_t id, const Target& target,
                                       const std::map<std::string, std::string>& nodes,
                                       const std::vector<std::string>& live) const {
  std::vector<Observation> observations;
  std::set<std::string> voted;
  for (const auto& [node, value] : source_.observations(id)) {
    const auto found = nodes.find(node);
    if (found == nodes.end()) continue;  // its lease is gone; its keys go with it
    Observation observation = parse_observation(node, value);
    observation.abstaining = parse_node(found->second).abstaining;
    if (observation.health != arrays::Health::unknown) voted.insert(node);
    observations.push_back(std::move(observation));
  }
  // A steady observer that has not checked yet: abstainers may not decide alone.
  bool steady_vote_pending = false;
  for (const std::string& node : choose_observers(id, live, target.observers)) {
    if (!voted.contains(node) && !parse_node(nodes.at(node)).abstaining) steady_vote_pending = true;
  }
  return verdict(std::move(observations), target.quorum, target.health, steady_vote_pending);
}

Verdict HealthVerdicts::own_verdict(int64_t id, const Target& target) const {
  std::vector<Observation> observations;
  if (options_.own_observation) {
    if (auto own = options_.own_observation(id)) {
      own->abstaining = false;  // alone, its vote is all there is
      observations.push_back(std::move(*own));
    }
  }
  Verdict out = verdict(std::move(observations), target.quorum, target.health);
  out.reason = "isolated from the store, own probes only: " + out.reason;
  return out;
}

bool HealthVerdicts::store_isolated() const {
  if (!options_.own_observation) return false;
  const registry::StoreStatus status = source_.status();
  return !status.reachable && status.unreachable_since_ms != 0 &&
         options_.now_ms() - status.unreachable_since_ms > options_.isolation_fallback.count();
}

size_t HealthVerdicts::run_once() {
  const bool isolated = store_isolated();
  bool all = false;
  std::set<int64_t> ids;
  {
    auto state = state_.lock();
    all = std::exchange(state->all_dirty, false);
    ids = std::exchange(state->dirty, {});
    if (isolated != state->isolated) {
      all = true;
      state->isolated = isolated;
      if (isolated) {
        spdlog::warn("cluster: store unreachable for over {} ms: health from this node's probes alone",
                     options_.isolation_fallback.count());
      } else {
        spdlog::info("cluster: store reachable again: health from the shared observations");
      }
    }
  }
  if (!all && ids.empty()) return 0;

  const std::map<int64_t, Target> targets = this->targets();
  const std::map<std::string, std::string> nodes = isolated ? std::map<std::string, std::string>{} : source_.nodes();
  std::vector<std::string> live;
  size_t abstaining = 0;
  for (const auto& [node, value] : nodes) {
    live.push_back(node);
    if (parse_node(value).abstaining) ++abstaining;
  }
  if (all) {
    for (const auto& [id, target] : targets) ids.insert(id);
  }
  std::map<int64_t, Verdict> computed;
  std::vector<registry::HealthUpdate> served;    // apply_health_locally
  std::vector<registry::HealthUpdate> recorded;  // record_health
  std::vector<registry::ReportedUpdate> reports;  // set_reported_many
  std::vector<int64_t> gone;
  for (int64_t id : ids) {
    const auto target = targets.find(id);
    if (target == targets.end()) {
      gone.push_back(id);
      reports.push_back({id, 100, false});  // not probed: no report
      continue;
    }
    Verdict decided = isolated ? own_verdict(id, target->second) : shared_verdict(id, target->second, nodes, live);
    if (!decided.kept_previous || !target->second.reads_report) {
      const Target& now = target->second;
      const uint8_t weight = now.reads_report ? decided.reported_weight : 100;
      const bool draining = now.reads_report && decided.reported_draining;
      if (weight != now.reported_weight || draining != now.reported_draining) reports.push_back({id, weight, draining});
    }
    if (!decided.kept_previous) {
      const registry::HealthUpdate update{id, decided.health, decided.reason};
      if (!isolated && records(id, live) && source_.recorded_health(id) != decided.health) {
        recorded.push_back(update);
      } else if (decided.health != target->second.health) {
        served.push_back(update);
      }
    }
    computed.emplace(id, std::move(decided));
  }
  if (!isolated && source_.nodes() != nodes) {
    // A node record changed while the observations were read: a node turning
    // abstaining writes its flag and its held down votes in one txn, and a
    // pass that read the old record with the new votes would count them.
    // Decide again on one view (the mirror applies a revision at once).
    auto state = state_.lock();
    state->all_dirty = state->all_dirty || all;
    state->dirty.insert(ids.begin(), ids.end());
    return 0;
  }
  {
    auto state = state_.lock();
    if (all) {
      state->verdicts.clear();
      state->counts = {live.size(), abstaining, 0};
    }
    for (int64_t id : gone) state->verdicts.erase(id);
    for (auto& [id, decided] : computed) state->verdicts[id] = std::move(decided);
    if (all) {
      for (const auto& [id, decided] : state->verdicts) state->counts.observations += decided.observers.size();
    }
  }
  if (!reports.empty()) registry_.set_reported_many(reports);
  size_t changed = served.empty() ? 0 : registry_.apply_health_locally(served);
  if (recorded.empty()) return changed;
  try {
    return changed + registry_.record_health(recorded);
  } catch (const registry::StoreError& error) {
    // Served meanwhile, so DNS follows the verdict; recorded on a later pass.
    spdlog::warn("cluster: cannot record {} health verdicts, retrying: {}", recorded.size(), error.what());
    changed += registry_.apply_health_locally(recorded);
    auto state = state_.lock();
    for (const registry::HealthUpdate& update : recorded) state->dirty.insert(update.instance_id);
    return changed;
  }
}

bool HealthVerdicts::records(int64_t instance_id) const {
  if (isolated()) return false;
  std::vector<std::string> live;
  for (const auto& [node, value] : source_.nodes()) live.push_back(node);
  return records(instance_id, live);
}

bool HealthVerdicts::records(int64_t instance_id, const std::vector<std::string>& live) const {
  if (options_.node.empty()) return false;
  const std::vector<std::string> first = choose_observers(instance_id, live, 1);
  return !first.empty() && first.front() == options_.node;
}

HealthVerdicts::Counts HealthVerdicts::counts() const {
  return state_.lock()->counts;
}

}  // namespace rotor::cluster
