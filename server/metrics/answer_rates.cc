#include "server/metrics/answer_rates.h"

#include <algorithm>
#include <map>

#include "server/common/utc_time.h"

namespace rotor::metrics {

AnswerRateHistory::AnswerRateHistory(size_t capacity)
    : capacity_(std::max<size_t>(capacity, 1)), ends_ms_(capacity_), spans_ms_(capacity_) {}

uint32_t AnswerRateHistory::count_since(const Series& series, const ArrayAnswerTotal& now) {
  if (series.slot != now.slot || now.total < series.last_total) return kUnknown;
  return static_cast<uint32_t>(std::min<uint64_t>(now.total - series.last_total, kUnknown - 1));
}

void AnswerRateHistory::record(int64_t now_ms, const std::vector<ArrayAnswerTotal>& totals) {
  // Times out of order would draw nonsense: a clock stepped back starts over.
  if (last_ms_ && now_ms < *last_ms_) size_ = 0;
  const bool closes = last_ms_ && now_ms > *last_ms_;
  const size_t at = next_;
  if (closes) {
    ends_ms_[at] = now_ms;
    spans_ms_[at] = now_ms - *last_ms_;
    next_ = (next_ + 1) % capacity_;
    size_ = std::min(size_ + 1, capacity_);
  }
  for (auto& [name, series] : arrays_) series.seen = false;
  for (const ArrayAnswerTotal& now : totals) {
    auto [entry, added] = arrays_.try_emplace(now.name);
    Series& series = entry->second;
    if (added) series.counts.assign(capacity_, kUnknown);
    if (closes) series.counts[at] = added ? kUnknown : count_since(series, now);
    series.slot = now.slot;
    series.last_total = now.total;
    series.seen = true;
  }
  std::erase_if(arrays_, [](const auto& entry) { return !entry.second.seen; });
  last_ms_ = now_ms;
}

AnswerRates AnswerRateHistory::view(int64_t interval_ms) const {
  AnswerRates rates{.interval_ms = interval_ms, .capacity = capacity_, .times_ms = {}, .arrays = {}};
  const size_t first = (next_ + capacity_ - size_) % capacity_;
  for (size_t i = 0; i < size_; ++i) rates.times_ms.push_back(ends_ms_[(first + i) % capacity_]);
  std::map<std::string_view, const Series*> by_name;
  for (const auto& [name, series] : arrays_) by_name.emplace(name, &series);
  for (const auto& [name, series] : by_name) {
    AnswerRates::Array array{.name = std::string(name), .answers_per_second = {}};
    for (size_t i = 0; i < size_; ++i) {
      const size_t at = (first + i) % capacity_;
      const uint32_t count = series->counts[at];
      if (count == kUnknown) {
        array.answers_per_second.emplace_back(std::nullopt);
      } else {
        array.answers_per_second.emplace_back(static_cast<double>(count) * 1000.0 /
                                              static_cast<double>(spans_ms_[at]));
      }
    }
    rates.arrays.push_back(std::move(array));
  }
  return rates;
}

AnswerRateSampler::AnswerRateSampler(std::vector<std::shared_ptr<const counters::WorkerCounters>> workers,
                                     const SnapshotPublisher& publisher, AnswerRateOptions options)
    : workers_(std::move(workers)),
      publisher_(publisher),
      options_(std::move(options)),
      history_(options_.capacity) {
  if (!options_.now_ms) options_.now_ms = unix_now_ms;
}

AnswerRateSampler::~AnswerRateSampler() { stop(); }

void AnswerRateSampler::start() {
  thread_.start([this] {
    sample();
    return options_.interval;
  });
}

void AnswerRateSampler::stop() { thread_.stop(); }

std::vector<ArrayAnswerTotal> AnswerRateSampler::totals() const {
  std::vector<ArrayAnswerTotal> totals;
  const std::shared_ptr<const Snapshot> snapshot = publisher_.current();
  if (snapshot == nullptr) return totals;
  for (const auto& array : snapshot->arrays->all()) {
    uint64_t total = 0;
    for (const auto& worker : workers_) total += worker->array_answers.value(array->slot);
    totals.push_back({array->name_text, array->slot, total});
  }
  return totals;
}

void AnswerRateSampler::sample() {
  // Read before the lock: the history's lock never waits on the counters.
  const std::vector<ArrayAnswerTotal> now = totals();
  const int64_t now_ms = options_.now_ms();
  history_.lock()->record(now_ms, now);
}

AnswerRates AnswerRateSampler::rates() const {
  return history_.lock()->view(options_.interval.count());
}

}  // namespace rotor::metrics
