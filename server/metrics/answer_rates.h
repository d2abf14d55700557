#pragma once
// Answers per second of each array over the last minutes, kept by rotor
// itself so that a console opened now draws the recent past at once
// (GET /v1/rates, api/README.md).
//
// AnswerRateSampler, every 10 s on its own control-plane thread
// (PeriodicThread), sums each array's answer counter over every worker's
// block (the same single-writer counters /metrics reads; the query path is
// untouched) and hands the totals to an AnswerRateHistory: a ring of the
// last 30 intervals (5 minutes), each holding every array's answers in it.
//
// What a total that does not follow on from the last one means. Per array
// the history keeps the last total and the rotation slot it was read from:
// - an array new since the last sample (created, or renamed) has no count
//   for that interval (null): its slot may have served a deleted array
//   until just now, whose answers are not the new array's;
// - a slot that changed, or a total below the last one (a counter that
//   wrapped or was reset), gives no count either, never a negative or a
//   huge one; the next interval counts from the new total;
// - a clock that did not move forward records no interval: the totals
//   become the new baseline; a clock stepped back also empties the history
//   (its times would be out of order).
// So an interval's count is null ("not known"), never a guess. Arrays gone
// from the snapshot are forgotten with their series.
//
// Memory: 4 bytes per array per interval (counts saturate at 2^32 - 2 per
// interval, 429 million answers a second over 10 s) plus the name.
//
// Thread-safety: AnswerRateHistory is a plain value (no lock; single
// thread). AnswerRateSampler keeps its history in a LockGuarded: sample()
// and the views may be called from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/common/lock_guarded.h"
#include "server/common/periodic_thread.h"
#include "server/counters/worker_counters.h"
#include "server/snapshot/publisher.h"

namespace rotor::metrics {

// One array's answers counted so far, summed over every worker.
struct ArrayAnswerTotal {
  std::string name;   // as the snapshot names it: "web.lb.example.com."
  uint32_t slot = 0;  // the rotation slot the count was read from
  uint64_t total = 0;
};

// The history as the API shows it: interval i ended at times_ms[i] (unix
// ms, oldest first); each array's answers_per_second[i] is its rate over
// that interval, nullopt when not known.
struct AnswerRates {
  struct Array {
    std::string name;
    std::vector<std::optional<double>> answers_per_second;
  };
  int64_t interval_ms = 0;  // the sampler's period
  size_t capacity = 0;      // intervals kept at most
  std::vector<int64_t> times_ms;
  std::vector<Array> arrays;  // by name
};

class AnswerRateHistory {
 public:
  // Keeps the last `capacity` intervals (at least 1).
  explicit AnswerRateHistory(size_t capacity);

  // Takes every array's total at `now_ms`: closes the interval since the
  // last record (unless it is the first, or the clock did not move on).
  void record(int64_t now_ms, const std::vector<ArrayAnswerTotal>& totals);

  // Every array's series; `interval_ms` only fills AnswerRates::interval_ms.
  AnswerRates view(int64_t interval_ms) const;

 private:
  static constexpr uint32_t kUnknown = UINT32_MAX;
  struct Series {
    uint32_t slot = 0;
    uint64_t last_total = 0;
    std::vector<uint32_t> counts;  // a ring in step with ends_ms_; kUnknown: not known
    bool seen = false;             // in the record being taken (the others are dropped)
  };
  // The answers since the last total of a known array, kUnknown when they do not follow on.
  static uint32_t count_since(const Series& series, const ArrayAnswerTotal& now);

  size_t capacity_;
  std::vector<int64_t> ends_ms_;   // when each interval ended, a ring
  std::vector<int64_t> spans_ms_;  // each interval's length
  size_t next_ = 0;                // the ring position the next interval takes
  size_t size_ = 0;                // intervals kept
  std::optional<int64_t> last_ms_; // the last record; nullopt: none yet
  std::unordered_map<std::string, Series> arrays_;
};

struct AnswerRateOptions {
  std::chrono::milliseconds interval{std::chrono::seconds(10)};
  size_t capacity = 30;                // intervals kept: 5 minutes at 10 s
  std::function<int64_t()> now_ms;     // unix ms; default: the system clock
};

class AnswerRateSampler {
 public:
  // `workers` (net::WorkerPool::counters()) and `publisher` must outlive the sampler.
  AnswerRateSampler(std::vector<std::shared_ptr<const counters::WorkerCounters>> workers,
                    const SnapshotPublisher& publisher, AnswerRateOptions options = {});
  ~AnswerRateSampler();
  AnswerRateSampler(const AnswerRateSampler&) = delete;
  AnswerRateSampler& operator=(const AnswerRateSampler&) = delete;

  // Samples every options.interval on the sampler's thread, the first now.
  void start();
  void stop();
  // One sample now (the thread's tick; tests call it directly).
  void sample();

  AnswerRates rates() const;

 private:
  std::vector<ArrayAnswerTotal> totals() const;

  std::vector<std::shared_ptr<const counters::WorkerCounters>> workers_;
  const SnapshotPublisher& publisher_;
  AnswerRateOptions options_;
  LockGuarded<AnswerRateHistory> history_;
  PeriodicThread thread_;  // last: stops before what it uses goes
};

}  // namespace rotor::metrics
