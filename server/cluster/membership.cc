#include "server/cluster/membership.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "server/cluster/rendezvous.h"
#include "server/common/background_thread.h"
#include "server/common/utc_time.h"

namespace rotor::cluster {
namespace {

using nlohmann::json;

// Puts and deletes per transaction, under etcd's 128 operations.
constexpr size_t kOperationsPerTxn = 100;

int64_t system_now_ms() { return unix_now_ms(); }

}  // namespace

std::string observation_value(const Observation& observation) {
  json value{{"health", std::string(arrays::to_string(observation.health))},
             {"reason", observation.reason},
             {"time_ms", observation.time_ms}};
  // The backend's report only when it says something, so older nodes' values read alike.
  if (observation.reported_weight != 100) value["weight"] = observation.reported_weight;
  if (observation.reported_draining) value["draining"] = true;
  return value.dump();
}

Observation parse_observation(const std::string& node, const std::string& value) {
  Observation out;
  out.node = node;
  const json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return out;
  if (parsed.contains("health") && parsed["health"].is_string()) {
    out.health = arrays::health_from_string(parsed["health"].get<std::string>()).value_or(arrays::Health::unknown);
  }
  if (parsed.contains("reason") && parsed["reason"].is_string()) out.reason = parsed["reason"];
  if (parsed.contains("time_ms") && parsed["time_ms"].is_number_integer()) out.time_ms = parsed["time_ms"];
  if (parsed.contains("weight") && parsed["weight"].is_number_unsigned() && parsed["weight"].get<uint64_t>() <= 100) {
    out.reported_weight = static_cast<uint8_t>(parsed["weight"].get<uint64_t>());
  }
  if (parsed.contains("draining") && parsed["draining"].is_boolean()) out.reported_draining = parsed["draining"];
  return out;
}

std::string node_value(const NodeRecord& record) {
  json out{{"region", record.region}, {"started_ms", record.started_ms}, {"abstaining", record.abstaining}};
  if (record.lease_ttl_s > 0) out["lease_ttl_s"] = record.lease_ttl_s;
  return out.dump();
}

std::string progress_value(int64_t revision_applied, int64_t watch_lag_ms) {
  return json{{"revision_applied", revision_applied}, {"watch_lag_ms", watch_lag_ms}}.dump();
}

void parse_progress(const std::string& value, NodeRecord& record) {
  const json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return;
  if (parsed.contains("revision_applied") && parsed["revision_applied"].is_number_integer()) {
    record.revision_applied = parsed["revision_applied"].get<int64_t>();
  }
  if (parsed.contains("watch_lag_ms") && parsed["watch_lag_ms"].is_number_integer()) {
    record.watch_lag_ms = parsed["watch_lag_ms"].get<int64_t>();
  }
}

NodeRecord parse_node(const std::string& value) {
  NodeRecord out;
  const json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return out;
  if (parsed.contains("region") && parsed["region"].is_string()) out.region = parsed["region"];
  if (parsed.contains("started_ms") && parsed["started_ms"].is_number_integer()) out.started_ms = parsed["started_ms"];
  if (parsed.contains("abstaining") && parsed["abstaining"].is_boolean()) out.abstaining = parsed["abstaining"];
  if (parsed.contains("lease_ttl_s") && parsed["lease_ttl_s"].is_number_integer()) out.lease_ttl_s = parsed["lease_ttl_s"];
  return out;
}

Membership::Membership(std::shared_ptr<EtcdClient> client, MembershipOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      started_ms_(options_.now_ms ? options_.now_ms() : system_now_ms()) {
  if (!options_.now_ms) options_.now_ms = system_now_ms;
  state_.lock()->live_nodes = {options_.node};
}

Membership::~Membership() { stop(); }

void Membership::start() {
  thread_ = std::thread([this] {
    lower_this_thread_priority();
    run();
  });
}

void Membership::stop(bool revoke) {
  {
    auto state = state_.lock();
    if (state->stopping) return;
    state->stopping = true;
    state->revoke_on_stop = revoke;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

bool Membership::observes(int64_t instance_id, uint32_t observers) const {
  auto state = state_.lock();
  return cluster::observes(options_.node, instance_id, state->live_nodes, observers);
}

void Membership::set_targets(const std::vector<int64_t>& instance_ids) {
  auto state = state_.lock();
  state->targets = {instance_ids.begin(), instance_ids.end()};
  for (auto it = state->own.begin(); it != state->own.end();) {
    if (state->targets.contains(it->first)) {
      ++it;
    } else {
      state->dirty_observations.insert(it->first);  // no longer ours: delete the key
      state->held.erase(it->first);
      it = state->own.erase(it);
    }
  }
  update_abstaining(*state);
  wake_.notify_one();
}

void Membership::publish(const std::vector<probes::ProbeReport>& reports) {
  auto state = state_.lock();
  const int64_t now = options_.now_ms();
  for (const probes::ProbeReport& report : reports) {
    if (!state->targets.contains(report.instance_id)) continue;  // dropped while its check ran
    if (!report.health_changed) {
      // The backend's report alone changed: the health and its time stay.
      const auto own = state->own.find(report.instance_id);
      if (own == state->own.end()) continue;  // its first result carries the report
      own->second.reported_weight = report.reported_weight;
      own->second.reported_draining = report.reported_draining;
      if (!state->held.contains(report.instance_id)) state->dirty_observations.insert(report.instance_id);
      continue;
    }
    state->own[report.instance_id] = {options_.node, report.health, report.reason, now, false,
                                      report.reported_weight, report.reported_draining};
    if (report.health == arrays::Health::down && options_.down_hold.count() > 0) {
      state->held[report.instance_id] = Clock::now() + options_.down_hold;
    } else {
      state->held.erase(report.instance_id);
      state->dirty_observations.insert(report.instance_id);
    }
  }
  update_abstaining(*state);
  wake_.notify_one();
}

void Membership::set_nodes_changed_handler(std::function<void()> handler) {
  auto state = state_.lock();
  state->nodes_changed = std::move(handler);
}

std::vector<std::string> Membership::live_nodes() const {
  auto state = state_.lock();
  return state->live_nodes;
}

bool Membership::abstaining() const {
  auto state = state_.lock();
  return state->abstaining;
}

std::optional<Observation> Membership::own_observation(int64_t instance_id) const {
  auto state = state_.lock();
  const auto it = state->own.find(instance_id);
  if (it == state->own.end()) return std::nullopt;
  Observation out = it->second;
  out.abstaining = state->abstaining;
  return out;
}

NodeRecord Membership::own_record(const State& state) const {
  NodeRecord record{options_.region, started_ms_, state.abstaining, options_.lease_ttl.count(), {}, {}};
  if (state.progress) {
    record.revision_applied = state.progress->first;
    record.watch_lag_ms = state.progress->second;
  }
  return record;
}

std::vector<MemberNode> Membership::members() const {
  auto state = state_.lock();
  std::vector<MemberNode> out = state->members;
  out.push_back({options_.node, own_record(*state), state->lease});
  std::sort(out.begin(), out.end(), [](const MemberNode& a, const MemberNode& b) { return a.name < b.name; });
  return out;
}

void Membership::refresh_progress() {
  if (!options_.progress) return;
  const std::pair<int64_t, int64_t> progress = options_.progress();
  auto state = state_.lock();
  if (state->progress == progress) return;
  state->progress = progress;
  state->progress_dirty = true;
}

int64_t Membership::lease() const {
  auto state = state_.lock();
  return state->lease;
}

bool Membership::settled() const {
  auto state = state_.lock();
  return state->lease != 0 && state->dirty_observations.empty() && state->held.empty() &&
         !state->node_dirty && !state->writing;
}

void Membership::update_abstaining(State& state) const {
  size_t down = 0;
  for (const auto& [id, observation] : state.own) {
    if (observation.health == arrays::Health::down) ++down;
  }
  const size_t targets = state.targets.size();
  const bool abstain = targets >= options_.abstain_min_targets &&
                       static_cast<double>(down) > options_.abstain_share * static_cast<double>(targets);
  if (abstain == state.abstaining) return;
  state.abstaining = abstain;
  state.node_dirty = true;
  if (abstain) release_held(state, Clock::time_point::max());  // with the flag, in one txn
  if (abstain) {
    spdlog::warn("cluster: {} of {} targets down from this node: abstaining from health votes", down, targets);
  } else {
    spdlog::info("cluster: {} of {} targets down from this node: voting again", down, targets);
  }
}

void Membership::release_held(State& state, Clock::time_point until) {
  for (auto it = state.held.begin(); it != state.held.end();) {
    if (it->second > until) {
      ++it;
    } else {
      state.dirty_observations.insert(it->first);
      it = state.held.erase(it);
    }
  }
}

std::string Membership::observation_key(int64_t instance_id) const {
  return options_.prefix + "observations/" + std::to_string(instance_id) + "/" + options_.node;
}

std::string Membership::node_key() const { return options_.prefix + "nodes/" + options_.node; }

std::string Membership::progress_key() const { return options_.prefix + "progress/" + options_.node; }

void Membership::run() {
  const auto keepalive_every = std::max<Clock::duration>(
      std::chrono::milliseconds(100), std::chrono::duration_cast<Clock::duration>(options_.lease_ttl) / 3);
  Clock::time_point next_keepalive = Clock::now();
  bool failing = false;
  while (true) {
    {
      auto state = state_.lock();
      Clock::time_point deadline =
          failing ? std::min(next_keepalive, Clock::now() + options_.retry_interval) : next_keepalive;
      for (const auto& [id, until] : state->held) deadline = std::min(deadline, until);
      const size_t held = state->held.size();  // a newly held one may be due sooner
      wake_.wait_until(state.lock(), deadline, [&] {
        return state->stopping || state->held.size() != held ||
               (!failing && (!state->dirty_observations.empty() || state->node_dirty));
      });
      if (state->stopping) break;
      release_held(*state, Clock::now());
    }
    bool ok = ensure_lease();
    if (ok && Clock::now() >= next_keepalive) {
      ok = keep_alive() && ensure_lease() && read_nodes();
      if (ok) refresh_progress();
      if (ok) next_keepalive = Clock::now() + keepalive_every;
    }
    if (ok) ok = write_pending();
    // A failed write may be a lease that expired meanwhile: check it next.
    if (!ok) next_keepalive = std::min(next_keepalive, Clock::now() + options_.retry_interval);
    failing = !ok;
  }
  int64_t lease = 0;
  bool revoke = false;
  {
    auto state = state_.lock();
    lease = std::exchange(state->lease, 0);
    revoke = state->revoke_on_stop;
  }
  // A node that cannot reach etcd does not wait for it again on its way out:
  // its keys expire with the lease.
  if (revoke && lease != 0 && !failing) {
    try {
      client_->lease_revoke(lease);
    } catch (const EtcdError& error) {
      spdlog::warn("cluster: cannot revoke lease {}: {} (its keys expire with it)", lease, error.what());
    }
  }
}

bool Membership::ensure_lease() {
  if (this->lease() != 0) return true;
  int64_t lease = 0;
  try {
    lease = client_->lease_grant(options_.lease_ttl);
  } catch (const EtcdError& error) {
    spdlog::warn("cluster: cannot get a lease, retrying: {}", error.what());
    return false;
  }
  auto state = state_.lock();
  state->lease = lease;
  // A new lease holds none of our keys yet: put them all again.
  state->node_dirty = true;
  state->progress_dirty = state->progress.has_value();
  for (const auto& [id, observation] : state->own) state->dirty_observations.insert(id);
  spdlog::info("cluster: node {} holds lease {:x} ({}s)", options_.node, lease, options_.lease_ttl.count());
  return true;
}

bool Membership::keep_alive() {
  const int64_t lease = this->lease();
  try {
    if (client_->lease_keepalive(lease) > 0) return true;
  } catch (const EtcdError& error) {
    spdlog::warn("cluster: lease keepalive failed, retrying: {}", error.what());
    return false;
  }
  spdlog::warn("cluster: lease {:x} expired; taking a new one and publishing again", lease);
  auto state = state_.lock();
  if (state->lease == lease) state->lease = 0;
  return true;
}

bool Membership::read_nodes() {
  const std::string prefix = options_.prefix + "nodes/";
  std::vector<std::string> nodes{options_.node};
  const std::string progress_prefix = options_.prefix + "progress/";
  std::vector<MemberNode> members;
  try {
    for (const KeyValue& kv : client_->range(prefix, prefix_end(prefix)).kvs) {
      std::string name = kv.key.substr(prefix.size());
      if (name == options_.node) continue;
      members.push_back({name, parse_node(kv.value), kv.lease});
      nodes.push_back(std::move(name));
    }
    for (const KeyValue& kv : client_->range(progress_prefix, prefix_end(progress_prefix)).kvs) {
      const std::string name = kv.key.substr(progress_prefix.size());
      for (MemberNode& member : members) {
        if (member.name == name) parse_progress(kv.value, member.record);
      }
    }
  } catch (const EtcdError& error) {
    spdlog::warn("cluster: cannot read the live nodes, retrying: {}", error.what());
    return false;
  }
  std::sort(nodes.begin(), nodes.end());
  std::function<void()> handler;
  {
    auto state = state_.lock();
    state->members = std::move(members);
    if (nodes == state->live_nodes) return true;
    state->live_nodes = std::move(nodes);
    handler = state->nodes_changed;
  }
  if (handler) handler();
  return true;
}

bool Membership::write_pending() {
  std::vector<Operation> operations;
  std::set<int64_t> taken;
  bool node_taken = false;
  bool progress_taken = false;
  {
    auto state = state_.lock();
    if (state->lease == 0) return false;
    taken.swap(state->dirty_observations);
    for (int64_t id : taken) {
      const auto it = state->own.find(id);
      if (it == state->own.end()) {
        operations.push_back({Operation::Kind::delete_range, observation_key(id), {}, {}, 0});
      } else {
        operations.push_back({Operation::Kind::put, observation_key(id), {}, observation_value(it->second), state->lease});
      }
    }
    if (std::exchange(state->node_dirty, false)) {
      node_taken = true;
      operations.push_back(
          {Operation::Kind::put, node_key(), {}, node_value(own_record(*state)), state->lease});
    }
    if (state->progress && std::exchange(state->progress_dirty, false)) {
      progress_taken = true;
      operations.push_back({Operation::Kind::put, progress_key(), {},
                            progress_value(state->progress->first, state->progress->second), state->lease});
    }
    state->writing = !operations.empty();
  }
  if (operations.empty()) return true;
  try {
    for (size_t begin = 0; begin < operations.size(); begin += kOperationsPerTxn) {
      const size_t end = std::min(operations.size(), begin + kOperationsPerTxn);
      client_->txn({}, {operations.begin() + static_cast<std::ptrdiff_t>(begin),
                        operations.begin() + static_cast<std::ptrdiff_t>(end)});
    }
    state_.lock()->writing = false;
    return true;
  } catch (const EtcdError& error) {
    spdlog::warn("cluster: cannot publish {} observations, retrying: {}", taken.size(), error.what());
    auto state = state_.lock();
    state->writing = false;
    state->dirty_observations.insert(taken.begin(), taken.end());  // written again, newest value
    if (node_taken) state->node_dirty = true;
    if (progress_taken) state->progress_dirty = true;
    return false;
  }
}

}  // namespace rotor::cluster
