#include "server/cluster/membership.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "server/cluster/rendezvous.h"
#include "server/common/background_thread.h"

namespace rotor::cluster {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Puts and deletes per transaction, under etcd's 128 operations.
constexpr size_t kOperationsPerTxn = 100;

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string observation_value(const Observation& observation) {
  return json{{"health", std::string(arrays::to_string(observation.health))},
              {"reason", observation.reason},
              {"time_ms", observation.time_ms}}
      .dump();
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
  return out;
}

std::string node_value(const NodeRecord& record) {
  return json{{"region", record.region}, {"started_ms", record.started_ms}, {"abstaining", record.abstaining}}
      .dump();
}

NodeRecord parse_node(const std::string& value) {
  NodeRecord out;
  const json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return out;
  if (parsed.contains("region") && parsed["region"].is_string()) out.region = parsed["region"];
  if (parsed.contains("started_ms") && parsed["started_ms"].is_number_integer()) out.started_ms = parsed["started_ms"];
  if (parsed.contains("abstaining") && parsed["abstaining"].is_boolean()) out.abstaining = parsed["abstaining"];
  return out;
}

Membership::Membership(std::shared_ptr<EtcdClient> client, MembershipOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      started_ms_(options_.now_ms ? options_.now_ms() : system_now_ms()) {
  if (!options_.now_ms) options_.now_ms = system_now_ms;
  live_nodes_ = {options_.node};
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
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    revoke_on_stop_ = revoke;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

bool Membership::observes(int64_t instance_id, uint32_t observers) const {
  std::lock_guard lock(mutex_);
  return cluster::observes(options_.node, instance_id, live_nodes_, observers);
}

void Membership::set_targets(const std::vector<int64_t>& instance_ids) {
  std::lock_guard lock(mutex_);
  targets_ = {instance_ids.begin(), instance_ids.end()};
  for (auto it = own_.begin(); it != own_.end();) {
    if (targets_.contains(it->first)) {
      ++it;
    } else {
      dirty_observations_.insert(it->first);  // no longer ours: delete the key
      it = own_.erase(it);
    }
  }
  update_abstaining();
  wake_.notify_one();
}

void Membership::publish(const std::vector<probes::ProbeReport>& reports) {
  std::lock_guard lock(mutex_);
  const int64_t now = options_.now_ms();
  for (const probes::ProbeReport& report : reports) {
    if (!targets_.contains(report.instance_id)) continue;  // dropped while its check ran
    own_[report.instance_id] = {options_.node, report.health, report.reason, now, false};
    dirty_observations_.insert(report.instance_id);
  }
  update_abstaining();
  wake_.notify_one();
}

void Membership::set_nodes_changed_handler(std::function<void()> handler) {
  std::lock_guard lock(mutex_);
  nodes_changed_ = std::move(handler);
}

std::vector<std::string> Membership::live_nodes() const {
  std::lock_guard lock(mutex_);
  return live_nodes_;
}

bool Membership::abstaining() const {
  std::lock_guard lock(mutex_);
  return abstaining_;
}

std::optional<Observation> Membership::own_observation(int64_t instance_id) const {
  std::lock_guard lock(mutex_);
  const auto it = own_.find(instance_id);
  if (it == own_.end()) return std::nullopt;
  Observation out = it->second;
  out.abstaining = abstaining_;
  return out;
}

int64_t Membership::lease() const {
  std::lock_guard lock(mutex_);
  return lease_;
}

bool Membership::settled() const {
  std::lock_guard lock(mutex_);
  return lease_ != 0 && dirty_observations_.empty() && !node_dirty_;
}

void Membership::update_abstaining() {
  size_t down = 0;
  for (const auto& [id, observation] : own_) {
    if (observation.health == arrays::Health::down) ++down;
  }
  const size_t targets = targets_.size();
  const bool abstain = targets >= options_.abstain_min_targets &&
                       static_cast<double>(down) > options_.abstain_share * static_cast<double>(targets);
  if (abstain == abstaining_) return;
  abstaining_ = abstain;
  node_dirty_ = true;
  if (abstain) {
    spdlog::warn("cluster: {} of {} targets down from this node: abstaining from health votes", down, targets);
  } else {
    spdlog::info("cluster: {} of {} targets down from this node: voting again", down, targets);
  }
}

std::string Membership::observation_key(int64_t instance_id) const {
  return options_.prefix + "observations/" + std::to_string(instance_id) + "/" + options_.node;
}

std::string Membership::node_key() const { return options_.prefix + "nodes/" + options_.node; }

void Membership::run() {
  const auto keepalive_every = std::max<Clock::duration>(
      std::chrono::milliseconds(100), std::chrono::duration_cast<Clock::duration>(options_.lease_ttl) / 3);
  Clock::time_point next_keepalive = Clock::now();
  bool failing = false;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const Clock::time_point deadline =
        failing ? std::min(next_keepalive, Clock::now() + options_.retry_interval) : next_keepalive;
    wake_.wait_until(lock, deadline, [&] {
      return stopping_ || (!failing && (!dirty_observations_.empty() || node_dirty_));
    });
    if (stopping_) break;
    lock.unlock();
    bool ok = ensure_lease();
    if (ok && Clock::now() >= next_keepalive) {
      ok = keep_alive() && ensure_lease() && read_nodes();
      if (ok) next_keepalive = Clock::now() + keepalive_every;
    }
    if (ok) ok = write_pending();
    // A failed write may be a lease that expired meanwhile: check it next.
    if (!ok) next_keepalive = std::min(next_keepalive, Clock::now() + options_.retry_interval);
    failing = !ok;
    lock.lock();
  }
  const int64_t lease = std::exchange(lease_, 0);
  const bool revoke = revoke_on_stop_;
  lock.unlock();
  if (revoke && lease != 0) {
    try {
      client_->lease_revoke(lease);
    } catch (const EtcdError& error) {
      spdlog::warn("cluster: cannot revoke lease {}: {} (its keys expire with it)", lease, error.what());
    }
  }
}

bool Membership::ensure_lease() {
  {
    std::lock_guard lock(mutex_);
    if (lease_ != 0) return true;
  }
  int64_t lease = 0;
  try {
    lease = client_->lease_grant(options_.lease_ttl);
  } catch (const EtcdError& error) {
    spdlog::warn("cluster: cannot get a lease, retrying: {}", error.what());
    return false;
  }
  std::lock_guard lock(mutex_);
  lease_ = lease;
  // A new lease holds none of our keys yet: put them all again.
  node_dirty_ = true;
  for (const auto& [id, observation] : own_) dirty_observations_.insert(id);
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
  std::lock_guard lock(mutex_);
  if (lease_ == lease) lease_ = 0;
  return true;
}

bool Membership::read_nodes() {
  const std::string prefix = options_.prefix + "nodes/";
  std::vector<std::string> nodes{options_.node};
  try {
    for (const KeyValue& kv : client_->range(prefix, prefix_end(prefix)).kvs) {
      std::string name = kv.key.substr(prefix.size());
      if (name != options_.node) nodes.push_back(std::move(name));
    }
  } catch (const EtcdError& error) {
    spdlog::warn("cluster: cannot read the live nodes, retrying: {}", error.what());
    return false;
  }
  std::sort(nodes.begin(), nodes.end());
  std::function<void()> handler;
  {
    std::lock_guard lock(mutex_);
    if (nodes == live_nodes_) return true;
    live_nodes_ = std::move(nodes);
    handler = nodes_changed_;
  }
  if (handler) handler();
  return true;
}

bool Membership::write_pending() {
  std::vector<Operation> operations;
  std::set<int64_t> taken;
  bool node_taken = false;
  {
    std::lock_guard lock(mutex_);
    if (lease_ == 0) return false;
    taken.swap(dirty_observations_);
    for (int64_t id : taken) {
      const auto it = own_.find(id);
      if (it == own_.end()) {
        operations.push_back({Operation::Kind::delete_range, observation_key(id), {}, {}, 0});
      } else {
        operations.push_back({Operation::Kind::put, observation_key(id), {}, observation_value(it->second), lease_});
      }
    }
    if (std::exchange(node_dirty_, false)) {
      node_taken = true;
      operations.push_back(
          {Operation::Kind::put, node_key(), {}, node_value({options_.region, started_ms_, abstaining_}), lease_});
    }
  }
  if (operations.empty()) return true;
  try {
    for (size_t begin = 0; begin < operations.size(); begin += kOperationsPerTxn) {
      const size_t end = std::min(operations.size(), begin + kOperationsPerTxn);
      client_->txn({}, {operations.begin() + static_cast<std::ptrdiff_t>(begin),
                        operations.begin() + static_cast<std::ptrdiff_t>(end)});
    }
    return true;
  } catch (const EtcdError& error) {
    spdlog::warn("cluster: cannot publish {} observations, retrying: {}", taken.size(), error.what());
    std::lock_guard lock(mutex_);
    dirty_observations_.insert(taken.begin(), taken.end());  // written again, newest value
    if (node_taken) node_dirty_ = true;
    return false;
  }
}

}  // namespace rotor::cluster
