#include "probes/prober_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <exception>
#include <functional>
#include <optional>
#include <queue>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "probes/health_state.h"
#include "probes/http_checker.h"
#include "probes/tcp_checker.h"
#include "server/common/background_thread.h"
#include "server/common/utc_time.h"

namespace rotor::probes {

int64_t ProberStats::lateness_quantile_ms(double q) const {
  uint64_t total = 0;
  for (uint64_t count : lateness_histogram) total += count;
  if (total == 0) return 0;
  auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1));
  uint64_t seen = 0;
  for (size_t i = 0; i < lateness_histogram.size(); ++i) {
    seen += lateness_histogram[i];
    if (seen > rank) return i < kLatenessBoundsMs.size() ? kLatenessBoundsMs[i] : -1;
  }
  return -1;
}

namespace {

// Two instances share a probe exactly when their address and whole CheckSpec
// match, except the cluster keys (how verdicts combine changes no probe).
std::string probe_key(const ProbeTarget& target) {
  CheckSpec probed = target.check;
  probed.quorum = {};
  probed.observers = 0;
  return target.address.to_string() + ' ' + to_json(probed).dump();
}

int64_t system_now_ms() { return unix_now_ms(); }

}  // namespace

struct ProberPool::Loop {
  struct Member {
    int64_t instance_id;
    HealthState state;
  };
  struct Probe {
    CheckTarget target;
    std::chrono::milliseconds interval;
    HealthPolicy policy;
    std::vector<Member> members;
    uint64_t due_ms = 0;  // loop time of the next start
    uint64_t started_ms = 0;  // loop time the check in flight started
    bool in_flight = false;
    bool waiting = false;  // due, held back by max_in_flight
  };
  using Due = std::pair<uint64_t, uint64_t>;  // due_ms, probe id

  // Probes by id. An id is its slot's index (low 32 bits) and the slot's
  // generation when the probe was added (high 32 bits), so the stale ids
  // that the schedule, the waiting queue and a check in flight may still
  // hold find nothing once their probe is gone, even in a reused slot. A
  // check looks its probe up about three times (its start, its result, its
  // next due time); here that is an index and a compare, where an
  // unordered_map's find cost a division and about three dependent cache
  // misses each (perf: ~2% of the prober thread at 10,000 probes).
  class ProbeTable {
   public:
    Probe* find(uint64_t id) {
      const auto index = static_cast<uint32_t>(id);
      if (index >= slots_.size()) return nullptr;
      Slot& slot = slots_[index];
      return slot.probe && slot.generation == static_cast<uint32_t>(id >> 32) ? &*slot.probe : nullptr;
    }
    bool contains(uint64_t id) { return find(id) != nullptr; }
    // May move the other probes: hold no Probe& across it.
    uint64_t add(Probe probe) {
      uint32_t index;
      if (free_.empty()) {
        index = static_cast<uint32_t>(slots_.size());
        slots_.emplace_back();
      } else {
        index = free_.back();
        free_.pop_back();
      }
      Slot& slot = slots_[index];
      slot.probe.emplace(std::move(probe));
      ++size_;
      return static_cast<uint64_t>(slot.generation) << 32 | index;
    }
    void erase(uint64_t id) {
      if (find(id) == nullptr) return;
      const auto index = static_cast<uint32_t>(id);
      Slot& slot = slots_[index];
      slot.probe.reset();
      ++slot.generation;  // the ids given out for this slot so far find nothing now
      free_.push_back(index);
      --size_;
    }
    size_t size() const { return size_; }
    void clear() {
      slots_.clear();
      free_.clear();
      size_ = 0;
    }

   private:
    struct Slot {
      uint32_t generation = 0;
      std::optional<Probe> probe;
    };
    std::vector<Slot> slots_;
    std::vector<uint32_t> free_;
    size_t size_ = 0;
  };

  Loop(ProberPool& pool, size_t shard, size_t max_in_flight, uint64_t seed)
      : pool(pool), shard(shard), max_in_flight(max_in_flight), rng(seed) {}

  ProberPool& pool;
  const size_t shard;  // index of its Shard and Mailbox
  const size_t max_in_flight;
  uv_loop_t loop{};
  uv_async_t wake{};
  uv_timer_t timer{};
  uv_prepare_t pump{};
  std::unique_ptr<HttpChecker> http;
  std::unique_ptr<TcpChecker> tcp;

  std::unordered_map<std::string, uint64_t> ids_by_key;
  ProbeTable probes;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> schedule;  // may hold stale entries
  std::deque<uint64_t> waiting;  // may hold stale ids
  size_t waiting_count = 0;
  size_t in_flight = 0;
  std::mt19937_64 rng;
  std::vector<ProbeReport> transitions;
  std::vector<Finished> finished;                        // since the last pump
  std::vector<int64_t> forgotten;                        // instances no longer probed
  size_t damped = 0;                                     // members held_down() now
  ProberStats stats;

  // A member leaves its probe (removed, or its check changed).
  void forget(const Member& member) {
    forgotten.push_back(member.instance_id);
    if (held_down(member.state)) --damped;
  }

  void init() {
    if (int rc = uv_loop_init(&loop); rc != 0)
      throw std::runtime_error(std::string("prober loop: ") + uv_strerror(rc));
    wake.data = timer.data = pump.data = this;
    uv_async_init(&loop, &wake, [](uv_async_t* handle) { static_cast<Loop*>(handle->data)->on_wake(); });
    uv_timer_init(&loop, &timer);
    uv_prepare_init(&loop, &pump);
    uv_prepare_start(&pump, [](uv_prepare_t* handle) { static_cast<Loop*>(handle->data)->on_pump(); });
    http = std::make_unique<HttpChecker>(&loop);
    tcp = std::make_unique<TcpChecker>(&loop);
  }

  void run() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }

  void on_wake() {
    std::optional<std::vector<ProbeTarget>> targets;
    bool stopping;
    {
      auto exchange = pool.exchange_.lock();
      Mailbox& mailbox = exchange->mailboxes[shard];
      targets.swap(mailbox.pending_targets);
      stopping = exchange->stopping;
      if (stopping) mailbox.wake = nullptr;  // no more sends once we start closing
    }
    if (stopping) {
      teardown();
      return;
    }
    if (targets) apply(std::move(*targets));
  }

  void teardown() {
    http.reset();  // cancels checks in flight; their results never arrive
    tcp.reset();
    probes.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&pump), nullptr);
  }

  void apply(std::vector<ProbeTarget> targets) {
    std::unordered_map<std::string, std::vector<const ProbeTarget*>> groups;
    for (const ProbeTarget& target : targets) groups[probe_key(target)].push_back(&target);

    for (auto it = ids_by_key.begin(); it != ids_by_key.end();) {
      if (groups.contains(it->first)) {
        ++it;
        continue;
      }
      Probe* probe = probes.find(it->second);
      if (probe->waiting) --waiting_count;
      for (const Member& member : probe->members) forget(member);
      probes.erase(it->second);  // an in-flight result finds no probe and is dropped
      it = ids_by_key.erase(it);
    }

    uint64_t now = uv_now(&loop);
    for (auto& [key, group] : groups) {
      auto [it, added] = ids_by_key.try_emplace(key, 0);
      if (added) {
        const ProbeTarget& first = *group.front();
        CheckTarget target = make_target(first.check, first.address);
        if (pool.options_.source_address.family == target.address.family) {
          target.source = pool.options_.source_address;
        }
        Probe probe{std::move(target), first.check.interval, health_policy(first.check), {}, now};
        it->second = probes.add(std::move(probe));
      }
      Probe& probe = *probes.find(it->second);
      std::vector<Member> members;
      for (const ProbeTarget* target : group) {
        auto same = [&](const Member& m) { return m.instance_id == target->instance_id; };
        if (std::any_of(members.begin(), members.end(), same)) continue;
        auto old = std::find_if(probe.members.begin(), probe.members.end(), same);
        if (old != probe.members.end()) {
          members.push_back(std::move(*old));
        } else {
          HealthState state;
          state.health = state.undamped = target->health;
          members.push_back({target->instance_id, std::move(state)});
        }
      }
      for (const Member& old : probe.members) {
        const bool kept = std::any_of(members.begin(), members.end(),
                                      [&](const Member& m) { return m.instance_id == old.instance_id; });
        if (!kept) forget(old);
      }
      probe.members = std::move(members);
      if (added) make_due(it->second, probe, now);
    }
  }

  void make_due(uint64_t id, Probe& probe, uint64_t now) {
    if (in_flight < max_in_flight) {
      start_check(id, probe, now);
    } else {
      probe.waiting = true;
      ++waiting_count;
      waiting.push_back(id);
    }
  }

  void start_check(uint64_t id, Probe& probe, uint64_t now) {
    probe.in_flight = true;
    ++in_flight;
    ++stats.checks_started;
    stats.max_in_flight_seen = std::max(stats.max_in_flight_seen, in_flight);
    int64_t late = now > probe.due_ms ? static_cast<int64_t>(now - probe.due_ms) : 0;
    const auto& bounds = ProberStats::kLatenessBoundsMs;
    size_t bucket = std::lower_bound(bounds.begin(), bounds.end(), late) - bounds.begin();
    ++stats.lateness_histogram[bucket];
    stats.lateness_sum_us += static_cast<uint64_t>(late) * 1000;

    probe.started_ms = now;
    Checker& checker = probe.target.kind == CheckKind::tcp ? static_cast<Checker&>(*tcp) : *http;
    // Two words, so that std::function keeps the callback in itself instead
    // of allocating it (libstdc++ stores up to 16 trivially copyable bytes).
    checker.start(probe.target, [this, id](CheckResult result) { on_result(id, std::move(result)); });
  }

  void on_result(uint64_t id, CheckResult result) {
    --in_flight;
    ++stats.checks_finished;
    Probe* found = probes.find(id);
    if (found == nullptr) return;  // removed while in flight
    Probe& probe = *found;
    probe.in_flight = false;
    const uint64_t started = probe.started_ms;

    int64_t now_ms = pool.options_.now_ms();
    const auto& bounds = ProberStats::kLatencyBoundsMs;
    // Rounded up, so that a bucket's bound is an upper bound (le="0.001" holds only <= 1 ms).
    const int64_t latency_ms = (result.latency.count() + 999) / 1000;
    ++stats.latency_histogram[std::lower_bound(bounds.begin(), bounds.end(), latency_ms) - bounds.begin()];
    stats.latency_sum_us += static_cast<uint64_t>(result.latency.count());
    for (Member& member : probe.members) {
      Transition transition = observe(member.state, probe.policy, result.passed, result.reason, now_ms);
      std::optional<int64_t> held_until;
      if (transition.held_down) held_until = release_time_ms(member.state, probe.policy).value_or(now_ms);
      if (transition.damping_changed) transition.held_down ? ++damped : --damped;
      const bool report_changed = result.report && observe_report(member.state, *result.report);
      if (transition.changed || transition.damping_changed || report_changed) {
        if (transition.changed) ++stats.transitions;
        ProbeReport report{member.instance_id, transition.to, transition.reason, result.latency};
        report.health_changed = transition.changed;
        if (transition.damping_changed) report.damping = DampingChange{transition.held_down, held_until.value_or(0)};
        report.report_changed = report_changed;
        report.reported_weight = member.state.reported_weight;
        report.reported_draining = member.state.reported_draining;
        transitions.push_back(std::move(report));
      }
      LastCheck check{now_ms, result.latency, result.passed, result.reason, held_until};
      if (result.report) {
        check.reported_weight = result.report->weight_percent;
        check.reported_draining = result.report->draining;
        check.report_problem = result.report->problem;
      }
      finished.push_back({member.instance_id, std::move(check), transition.changed,
                          transition.damping_changed && transition.held_down});
    }

    double jitter = std::clamp(pool.options_.jitter, 0.0, 0.5);
    std::uniform_real_distribution<double> spread(1.0 - jitter, 1.0 + jitter);
    auto next = started + static_cast<uint64_t>(static_cast<double>(probe.interval.count()) * spread(rng));
    probe.due_ms = std::max(next, uv_now(&loop));
    schedule.emplace(probe.due_ms, id);
  }

  void on_timer() {
    uint64_t now = uv_now(&loop);
    while (!schedule.empty() && schedule.top().first <= now) {
      auto [due, id] = schedule.top();
      schedule.pop();
      Probe* found = probes.find(id);
      if (found == nullptr) continue;
      Probe& probe = *found;
      if (probe.in_flight || probe.waiting || probe.due_ms != due) continue;
      make_due(id, probe, now);
    }
  }

  // Runs once per loop iteration, before the loop blocks: starts checks that
  // waited for a free slot, re-arms the timer, delivers the batch.
  void on_pump() {
    uint64_t now = uv_now(&loop);
    while (in_flight < max_in_flight && !waiting.empty()) {
      uint64_t id = waiting.front();
      waiting.pop_front();
      Probe* probe = probes.find(id);
      if (probe == nullptr || !probe->waiting) continue;
      probe->waiting = false;
      --waiting_count;
      start_check(id, *probe, now);
    }

    while (!schedule.empty() && !probes.contains(schedule.top().second)) schedule.pop();
    if (schedule.empty()) {
      uv_timer_stop(&timer);
    } else {
      uint64_t due = schedule.top().first;
      uv_timer_start(
          &timer, [](uv_timer_t* handle) { static_cast<Loop*>(handle->data)->on_timer(); },
          due > now ? due - now : 0, 0);
    }

    stats.in_flight = in_flight;
    stats.probes = probes.size();
    stats.waiting = waiting_count;
    stats.damped = damped;
    {
      auto exchange = pool.exchange_.lock();
      exchange->mailboxes[shard].stats = stats;
      for (int64_t instance : forgotten) exchange->checks.erase(instance);
      for (Finished& done : finished) {
        InstanceChecks& checks = exchange->checks[done.instance_id];
        if (checks.recent.size() == CheckHistory::kKept) checks.recent.pop_front();
        checks.recent.push_back(std::move(done.check));
        checks.transitions += done.transitioned;
        checks.damping_starts += done.damping_started;
      }
    }
    forgotten.clear();
    finished.clear();

    if (transitions.empty()) return;
    std::vector<ProbeReport> batch;
    batch.swap(transitions);
    try {
      pool.on_transitions_(std::move(batch));
    } catch (const std::exception& error) {
      spdlog::error("prober: on_transitions failed: {}", error.what());
    }
  }
};

ProberPool::ProberPool(ProberOptions options, OnTransitions on_transitions)
    : options_(std::move(options)), on_transitions_(std::move(on_transitions)) {
  if (!options_.now_ms) options_.now_ms = system_now_ms;
  options_.threads = std::max(1u, options_.threads);
  options_.max_in_flight = std::max<size_t>(options_.max_in_flight, options_.threads);
  shards_.resize(options_.threads);
  exchange_.lock()->mailboxes.resize(options_.threads);
}

ProberPool::~ProberPool() { stop(); }

void ProberPool::start() {
  if (started_) return;
  started_ = true;
  const size_t share = (options_.max_in_flight + shards_.size() - 1) / shards_.size();
  for (size_t i = 0; i < shards_.size(); ++i) {
    auto loop = std::make_unique<Loop>(*this, i, share, options_.seed + i);
    loop->init();
    shards_[i].loop = std::move(loop);
  }
  bool stopped_before_start;
  {
    auto exchange = exchange_.lock();
    stopped_before_start = exchange->stopping;
    if (!stopped_before_start) {
      for (size_t i = 0; i < shards_.size(); ++i) {
        exchange->mailboxes[i].wake = &shards_[i].loop->wake;
        uv_async_send(exchange->mailboxes[i].wake);  // applies targets set before start()
      }
    }
  }
  for (Shard& shard : shards_) {
    if (stopped_before_start) {
      shard.loop->teardown();
      shard.loop->run();
    } else {
      shard.thread = std::thread([&shard] {
        lower_this_thread_priority();
        shard.loop->run();
      });
    }
  }
}

void ProberPool::stop() {
  {
    auto exchange = exchange_.lock();
    exchange->stopping = true;
    for (const Mailbox& mailbox : exchange->mailboxes) {
      if (mailbox.wake) uv_async_send(mailbox.wake);
    }
  }
  for (Shard& shard : shards_) {
    if (shard.thread.joinable()) shard.thread.join();
  }
}

void ProberPool::set_targets(std::vector<ProbeTarget> targets) {
  // Identical checks must land on one shard to be probed once: split by the
  // same key the loops dedupe on.
  std::vector<std::vector<ProbeTarget>> split(shards_.size());
  if (shards_.size() == 1) {
    split[0] = std::move(targets);
  } else {
    const std::hash<std::string> hash;
    for (ProbeTarget& target : targets) {
      split[hash(probe_key(target)) % shards_.size()].push_back(std::move(target));
    }
  }
  auto exchange = exchange_.lock();
  for (size_t i = 0; i < split.size(); ++i) {
    Mailbox& mailbox = exchange->mailboxes[i];
    mailbox.pending_targets = std::move(split[i]);
    if (mailbox.wake) uv_async_send(mailbox.wake);
  }
}

ProberStats ProberPool::stats() const {
  auto exchange = exchange_.lock();
  ProberStats total;
  for (const Mailbox& mailbox : exchange->mailboxes) {
    const ProberStats& part = mailbox.stats;
    total.checks_started += part.checks_started;
    total.checks_finished += part.checks_finished;
    total.in_flight += part.in_flight;
    total.max_in_flight_seen += part.max_in_flight_seen;
    total.probes += part.probes;
    total.waiting += part.waiting;
    for (size_t i = 0; i < total.lateness_histogram.size(); ++i)
      total.lateness_histogram[i] += part.lateness_histogram[i];
    for (size_t i = 0; i < total.latency_histogram.size(); ++i)
      total.latency_histogram[i] += part.latency_histogram[i];
    total.latency_sum_us += part.latency_sum_us;
    total.lateness_sum_us += part.lateness_sum_us;
    total.transitions += part.transitions;
    total.damped += part.damped;
  }
  return total;
}

std::optional<LastCheck> ProberPool::last_check(int64_t instance_id) const {
  auto exchange = exchange_.lock();
  const auto found = exchange->checks.find(instance_id);
  if (found == exchange->checks.end() || found->second.recent.empty()) return std::nullopt;
  return found->second.recent.back();
}

CheckHistory ProberPool::check_history(int64_t instance_id) const {
  auto exchange = exchange_.lock();
  CheckHistory history;
  const auto found = exchange->checks.find(instance_id);
  if (found == exchange->checks.end()) return history;
  history.checks.assign(found->second.recent.rbegin(), found->second.recent.rend());
  history.transitions = found->second.transitions;
  history.damping_starts = found->second.damping_starts;
  return history;
}

std::vector<std::pair<int64_t, CheckHistory>> ProberPool::check_counts() const {
  auto exchange = exchange_.lock();
  std::vector<std::pair<int64_t, CheckHistory>> counts;
  counts.reserve(exchange->checks.size());
  for (const auto& [instance, checks] : exchange->checks) {
    counts.push_back({instance, {.transitions = checks.transitions, .damping_starts = checks.damping_starts}});
  }
  return counts;
}

}  // namespace rotor::probes
