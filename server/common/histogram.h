#pragma once
// A histogram of durations with fixed bucket bounds, in the shape Prometheus
// exposes: a count per bucket, the total count and the sum. Plain data, not
// thread-safe: its owner guards it (the snapshot composer records one publish
// at a time under its lock, off the query path).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

namespace rotor {

class DurationHistogram {
 public:
  // `upper_bounds` in seconds, ascending; a last bucket above them is implied.
  explicit DurationHistogram(std::span<const double> upper_bounds)
      : upper_bounds_(upper_bounds.begin(), upper_bounds.end()),
        counts_(upper_bounds.size() + 1, 0) {}

  void observe(std::chrono::nanoseconds duration) {
    const double seconds = std::chrono::duration<double>(duration).count();
    const auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), seconds);
    ++counts_[static_cast<size_t>(bucket - upper_bounds_.begin())];
    ++count_;
    sum_seconds_ += seconds;
  }

  const std::vector<double>& upper_bounds() const noexcept { return upper_bounds_; }
  // Per bucket (not cumulative); the last one counts what lies above every bound.
  const std::vector<uint64_t>& counts() const noexcept { return counts_; }
  uint64_t count() const noexcept { return count_; }
  double sum_seconds() const noexcept { return sum_seconds_; }

 private:
  std::vector<double> upper_bounds_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_seconds_ = 0;
};

}  // namespace rotor
