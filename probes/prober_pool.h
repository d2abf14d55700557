#pragma once
// The prober pool: runs every health check on its own libuv loop thread (never
// on the answering workers) and turns results into health transitions.
//
// Scheduling: identical checks (same address and same CheckSpec) are probed
// once and the result fans out to every instance using them. A new check runs
// at once, then every `interval` ± jitter after its previous start; at most one
// check per probe is in flight, and at most `max_in_flight` overall (the rest
// wait in FIFO order). A removed check stops at once: its in-flight result is
// dropped.
//
// Backend reports: a check with weight_from_response hands the response's
// Rotor-Weight/Rotor-State to the same state, and a change of them is
// delivered like a health change (ProbeReport::report_changed), so a backend
// repeating the same value causes no report at all.
//
// Health: one HealthState per instance (seeded from ProbeTarget::health, so a
// restart keeps the last known health until probes say otherwise), fed with
// the CheckSpec's rise/fall. Published health changes, and damping starting
// or ending, found in one loop iteration are delivered together in one
// on_transitions call.

#include <uv.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "probes/check_spec.h"
#include "server/arrays/array.h"
#include "server/common/lock_guarded.h"

namespace rotor::probes {

struct ProbeTarget {
  int64_t instance_id = 0;
  arrays::IpAddress address;
  CheckSpec check;
  arrays::Health health = arrays::Health::unknown;  // last known, seeds the state machine
};

// Flap damping started holding an instance down, or stopped.
struct DampingChange {
  bool held = false;
  int64_t until_ms = 0;  // held: the earliest time it may come up (see LastCheck)
};

// A change of one instance: its published health, its damping, or both.
struct ProbeReport {
  int64_t instance_id = 0;
  arrays::Health health = arrays::Health::unknown;
  std::string reason;
  std::chrono::microseconds latency{0};  // of the check that caused the change
  bool health_changed = true;            // false: only the damping or the backend's report changed
  std::optional<DampingChange> damping;  // set when damping started or ended
  // The backend's report (check.weight_from_response) as the state machine
  // keeps it after this check; report_changed: it changed with this check,
  // or was read for the first time. 100 and false for checks that do not read it.
  bool report_changed = false;
  uint8_t reported_weight = 100;
  bool reported_draining = false;
};

// The newest check result of one instance, for the API.
struct LastCheck {
  int64_t time_ms = 0;  // unix ms of the verdict
  std::chrono::microseconds latency{0};
  bool passed = false;
  std::string reason;
  // After this check: held down by flap damping (the last `rise` checks
  // passed, the health stays down) at the earliest until this time (unix ms),
  // when the flap penalty falls below the reuse threshold; the first check
  // after it brings the instance up. Once the penalty has decayed (a failure
  // since) it is the time of this check: `rise` passes in a row bring it up.
  // nullopt: not held.
  std::optional<int64_t> held_down_until_ms;
  // What this check's response reported (check.weight_from_response):
  // nullopt when the check does not read it, no response came, or the value
  // was ignored (report_problem says why; the previous value stays in force).
  std::optional<uint8_t> reported_weight;
  std::optional<bool> reported_draining;
  std::string report_problem;
};

// The recent checks of one instance on this node, and what they did.
struct CheckHistory {
  static constexpr size_t kKept = 20;  // checks kept per instance
  std::vector<LastCheck> checks;       // newest first, at most kKept
  uint64_t transitions = 0;            // health changes these checks published
  uint64_t damping_starts = 0;         // times flap damping started holding it down
};

struct ProberOptions {
  // Loop threads; each probes its share of the targets (split by target), so
  // more threads use more cores when one is not enough. >= 1.
  unsigned threads = 1;
  size_t max_in_flight = 256;  // >= 1; over all threads
  double jitter = 0.1;         // next start: interval * (1 ± jitter), uniform
  // Clock for the health state machine (unix ms); default: system clock.
  std::function<int64_t()> now_ms;
  uint64_t seed = 0x5eed;  // jitter randomness
  // probes.source_address: checks of targets of its family connect from it;
  // family 0 (or another family): the kernel chooses.
  arrays::IpAddress source_address;
};

struct ProberStats {
  uint64_t checks_started = 0;
  uint64_t checks_finished = 0;  // including dropped results of removed probes
  size_t in_flight = 0;
  size_t max_in_flight_seen = 0;  // summed over threads: an upper bound
  size_t probes = 0;   // distinct checks scheduled
  size_t waiting = 0;  // due but held back by max_in_flight
  // Start lateness (actual start - due time), upper bounds in ms of each
  // bucket; the last bucket is everything above.
  static constexpr std::array<int64_t, 10> kLatenessBoundsMs{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
  std::array<uint64_t, kLatenessBoundsMs.size() + 1> lateness_histogram{};
  uint64_t lateness_sum_us = 0;
  // Check duration (start to verdict), upper bounds in ms; the last bucket is
  // everything above.
  static constexpr std::array<int64_t, 10> kLatencyBoundsMs{1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000};
  std::array<uint64_t, kLatencyBoundsMs.size() + 1> latency_histogram{};
  uint64_t latency_sum_us = 0;
  uint64_t transitions = 0;  // published health changes, over every instance
  size_t damped = 0;         // instances held down by flap damping now
  // Approximations from the histogram (bucket upper bound; -1 above the last).
  int64_t lateness_p50_ms() const { return lateness_quantile_ms(0.50); }
  int64_t lateness_p99_ms() const { return lateness_quantile_ms(0.99); }
  int64_t lateness_quantile_ms(double q) const;
};

// Contract: start() once, stop() at most once (the destructor stops);
// on_transitions runs on the pool's threads (one at a time per thread, several
// threads at once when options.threads > 1), so it must be thread-safe;
// set_targets() and stats() from any thread, before or after start().
// on_transitions must not call stop().
// stop() returns promptly even with checks in flight (they are cancelled).
class ProberPool {
 public:
  using OnTransitions = std::function<void(std::vector<ProbeReport>)>;

  ProberPool(ProberOptions options, OnTransitions on_transitions);
  ~ProberPool();
  ProberPool(const ProberPool&) = delete;
  ProberPool& operator=(const ProberPool&) = delete;

  // Throws std::runtime_error when the loop cannot be set up.
  void start();
  void stop();

  // The full desired set; replaces the previous one. Applied on the loop.
  void set_targets(std::vector<ProbeTarget> targets);

  ProberStats stats() const;
  // nullopt until the instance's first check ends (or once it is no longer probed).
  std::optional<LastCheck> last_check(int64_t instance_id) const;
  // Empty (no checks, zero counts) until the first check ends; reset when the
  // instance stops being probed (removed, disabled, or its check changed).
  CheckHistory check_history(int64_t instance_id) const;
  // The counts of check_history for every probed instance, for metrics.
  std::vector<std::pair<int64_t, CheckHistory>> check_counts() const;

 private:
  struct Loop;  // everything touched only on one pool thread
  // One loop thread (touched by start() and stop() only).
  struct Shard {
    std::unique_ptr<Loop> loop;
    std::thread thread;
  };
  // An instance's recent checks, oldest first, and its counts.
  struct InstanceChecks {
    std::deque<LastCheck> recent;
    uint64_t transitions = 0;
    uint64_t damping_starts = 0;
  };
  // One check's outcome for one instance, as the loop hands it over.
  struct Finished {
    int64_t instance_id;
    LastCheck check;
    bool transitioned;
    bool damping_started;
  };
  // What the pool and one loop thread hand each other.
  struct Mailbox {
    std::optional<std::vector<ProbeTarget>> pending_targets;
    ProberStats stats;
    uv_async_t* wake = nullptr;  // valid while the thread runs
  };
  struct Exchange {
    bool stopping = false;
    std::vector<Mailbox> mailboxes;                      // by shard, sized once
    std::unordered_map<int64_t, InstanceChecks> checks;  // by instance
  };

  ProberOptions options_;
  OnTransitions on_transitions_;
  std::vector<Shard> shards_;  // sized once by the constructor
  bool started_ = false;
  LockGuarded<Exchange> exchange_;
};

}  // namespace rotor::probes
