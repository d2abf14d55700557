// The answer-rate history (intervals, counts that do not follow on, the
// bounded ring) and its sampler over real worker counters with an injected
// clock.
#include "server/metrics/answer_rates.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/arrays/array_state.h"
#include "tests/unit/server/query/query_snapshot.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/server/metrics/answer_rates");

namespace rotor::metrics {
namespace {

using Rates = std::vector<std::optional<double>>;
constexpr std::nullopt_t unknown = std::nullopt;

struct Record {
  int64_t now_ms;
  std::vector<ArrayAnswerTotal> totals;
};

struct HistoryCase {
  const char* name;
  size_t capacity;
  std::vector<Record> records;
  std::vector<int64_t> times_ms;
  std::map<std::string, Rates> rates;
};

std::map<std::string, Rates> by_name(const AnswerRates& rates) {
  std::map<std::string, Rates> out;
  for (const auto& array : rates.arrays) out[array.name] = array.answers_per_second;
  return out;
}

TEST_CASE("the history turns totals into answers per second and says what it does not know") {
  const std::vector<HistoryCase> cases = {
      {"one record closes no interval", 30, {{0, {{"a.", 0, 100}}}}, {}, {{"a.", {}}}},
      {"steady counts give the rate over each interval",
       30,
       {{0, {{"a.", 0, 0}}}, {10'000, {{"a.", 0, 100}}}, {20'000, {{"a.", 0, 300}}}},
       {10'000, 20'000},
       {{"a.", {10.0, 20.0}}}},
      {"an uneven interval divides by its own length",
       30,
       {{0, {{"a.", 0, 0}}}, {4'000, {{"a.", 0, 10}}}},
       {4'000},
       {{"a.", {2.5}}}},
      {"an array new since the last record has no count for that interval",
       30,
       {{0, {{"a.", 0, 0}}}, {10'000, {{"a.", 0, 10}, {"b.", 1, 50}}}, {20'000, {{"a.", 0, 20}, {"b.", 1, 70}}}},
       {10'000, 20'000},
       {{"a.", {1.0, 1.0}}, {"b.", {unknown, 2.0}}}},
      {"a counter that went back (a reset) is not known then counts on",
       30,
       {{0, {{"a.", 0, 500}}}, {10'000, {{"a.", 0, 20}}}, {20'000, {{"a.", 0, 40}}}},
       {10'000, 20'000},
       {{"a.", {unknown, 2.0}}}},
      {"a counter that wrapped is not known rather than huge",
       30,
       {{0, {{"a.", 0, UINT64_MAX - 5}}}, {10'000, {{"a.", 0, 4}}}},
       {10'000},
       {{"a.", {unknown}}}},
      {"a slot that changed (another array's counts) is not known",
       30,
       {{0, {{"a.", 0, 10}}}, {10'000, {{"a.", 7, 900}}}, {20'000, {{"a.", 7, 910}}}},
       {10'000, 20'000},
       {{"a.", {unknown, 1.0}}}},
      {"a clock that did not move records no interval and takes the new baseline",
       30,
       {{0, {{"a.", 0, 0}}}, {0, {{"a.", 0, 100}}}, {10'000, {{"a.", 0, 110}}}},
       {10'000},
       {{"a.", {1.0}}}},
      {"a clock stepped back starts the history over",
       30,
       {{50'000, {{"a.", 0, 0}}}, {60'000, {{"a.", 0, 10}}}, {30'000, {{"a.", 0, 20}}}, {40'000, {{"a.", 0, 40}}}},
       {40'000},
       {{"a.", {2.0}}}},
      {"the ring keeps the last intervals only",
       2,
       {{0, {{"a.", 0, 0}}}, {1'000, {{"a.", 0, 1}}}, {2'000, {{"a.", 0, 3}}}, {3'000, {{"a.", 0, 6}}}},
       {2'000, 3'000},
       {{"a.", {2.0, 3.0}}}},
      {"an array gone from the snapshot is forgotten",
       30,
       {{0, {{"a.", 0, 0}, {"b.", 1, 0}}}, {10'000, {{"b.", 1, 10}}}},
       {10'000},
       {{"b.", {1.0}}}},
      {"an array that comes back starts unknown",
       30,
       {{0, {{"a.", 0, 0}}}, {10'000, {}}, {20'000, {{"a.", 0, 100}}}},
       {10'000, 20'000},
       {{"a.", {unknown, unknown}}}},
  };
  for (const HistoryCase& test : cases) {
    CAPTURE(test.name);
    AnswerRateHistory history(test.capacity);
    for (const Record& record : test.records) history.record(record.now_ms, record.totals);
    const AnswerRates rates = history.view(10'000);
    CHECK(rates.interval_ms == 10'000);
    CHECK(rates.capacity == test.capacity);
    CHECK(rates.times_ms == test.times_ms);
    CHECK(by_name(rates) == test.rates);
  }
}

TEST_CASE("the view lists the arrays by name") {
  AnswerRateHistory history(3);
  history.record(0, {{"c.", 0, 0}, {"a.", 1, 0}, {"b.", 2, 0}});
  std::vector<std::string> names;
  for (const auto& array : history.view(1).arrays) names.push_back(array.name);
  CHECK(names == std::vector<std::string>{"a.", "b.", "c."});
}

arrays::Instance up_instance() {
  arrays::Instance out;
  out.id = 1;
  out.spec.address = *arrays::IpAddress::parse("192.0.2.1");
  out.health = arrays::Health::up;
  return out;
}

struct ArrayAt {
  const char* name;
  uint32_t slot;
};

std::shared_ptr<Snapshot> snapshot_with(const std::vector<ArrayAt>& arrays) {
  auto snapshot = test::query_zone_snapshot();
  for (const ArrayAt& array : arrays) {
    snapshot->arrays = snapshot->arrays->with(arrays::ArrayState::build(
        *zones::name_from_text(array.name), array.slot, {}, {up_instance()}, *snapshot->geo.regions));
  }
  return snapshot;
}

TEST_CASE("the sampler sums every worker's counts per array at the injected clock") {
  auto first = std::make_shared<counters::WorkerCounters>();
  auto second = std::make_shared<counters::WorkerCounters>();
  for (auto* worker : {first.get(), second.get()}) worker->array_answers.reserve(4);
  SnapshotPublisher publisher(snapshot_with({{"farm.example.test.", 0}, {"idle.example.test.", 1}}));
  int64_t now_ms = 1'000'000;
  AnswerRateSampler sampler({first, second}, publisher, {.interval = std::chrono::seconds(10), .capacity = 30, .now_ms = [&] { return now_ms; }});

  first->array_answers.add(0);  // before the first sample: the baseline
  sampler.sample();
  CHECK(sampler.rates().times_ms.empty());

  for (int i = 0; i < 30; ++i) first->array_answers.add(0);
  for (int i = 0; i < 20; ++i) second->array_answers.add(0);
  now_ms += 10'000;
  sampler.sample();
  AnswerRates rates = sampler.rates();
  CHECK(rates.interval_ms == 10'000);
  CHECK(rates.times_ms == std::vector<int64_t>{1'010'000});
  CHECK(by_name(rates) == std::map<std::string, Rates>{{"farm.example.test.", {5.0}}, {"idle.example.test.", {0.0}}});

  SUBCASE("a deleted array's slot taken by a new array does not carry its counts") {
    publisher.publish(snapshot_with({{"fresh.example.test.", 0}}));
    for (int i = 0; i < 10; ++i) first->array_answers.add(0);
    now_ms += 10'000;
    sampler.sample();
    for (int i = 0; i < 40; ++i) second->array_answers.add(0);
    now_ms += 10'000;
    sampler.sample();
    rates = sampler.rates();
    CHECK(rates.times_ms == std::vector<int64_t>{1'010'000, 1'020'000, 1'030'000});
    CHECK(by_name(rates) == std::map<std::string, Rates>{{"fresh.example.test.", {unknown, unknown, 4.0}}});
  }
  SUBCASE("a started sampler stops without waiting out its interval") {
    now_ms += 5'000;
    for (int i = 0; i < 10; ++i) second->array_answers.add(1);
    AnswerRateSampler threaded({first, second}, publisher,
                               {.interval = std::chrono::hours(1), .capacity = 30, .now_ms = [] { return int64_t{0}; }});
    threaded.start();
    threaded.stop();  // returns: the hour-long pause is woken
    sampler.sample();
    CHECK(by_name(sampler.rates())["idle.example.test."] == Rates{0.0, 2.0});
  }
}

}  // namespace
}  // namespace rotor::metrics

TEST_SUITE_END();
