// Per-worker counters through the query path, and their Prometheus rendering.
#include "server/metrics/metrics.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/arrays/array_state.h"
#include "server/net/worker_pool.h"
#include "server/query/responder.h"
#include "server/registry/registry.h"
#include "server/registry/sqlite_store.h"
#include "server/registry/snapshot_composer.h"
#include "tests/support/dns_client.h"
#include "tests/unit/server/query/query_snapshot.h"
#include "tests/unit/server/registry/registry_test_support.h"
#include "tests/unit/support/allocation_counter.h"
#include "tests/unit/support/listen_endpoint.h"
#include "zones/zone_file.h"

namespace rotor::metrics {
namespace {

using namespace std::chrono_literals;
using counters::ArraySlotCounters;

arrays::Instance up_instance(int64_t id, const std::string& address) {
  arrays::Instance out;
  out.id = id;
  out.spec.address = *arrays::IpAddress::parse(address);
  out.health = arrays::Health::up;
  return out;
}

struct MetricsArrayAt {
  const char* name;
  uint32_t slot;
};

// The query-path test zone with one array per entry, each with one instance.
std::shared_ptr<Snapshot> metrics_snapshot_with(const std::vector<MetricsArrayAt>& arrays,
                                        uint64_t generation = 1) {
  auto snapshot = test::query_zone_snapshot();
  const auto& regions = snapshot->geo.regions;
  for (const MetricsArrayAt& array : arrays) {
    snapshot->arrays = snapshot->arrays->with(arrays::ArrayState::build(
        *zones::name_from_text(array.name), array.slot, {}, {up_instance(1, "192.0.2.1")},
        *regions));
  }
  snapshot->generation = generation;
  return snapshot;
}

// Answers one message and returns the reply's length (0: dropped).
size_t ask(const Snapshot& snapshot, WorkerState& state, const std::vector<uint8_t>& query,
           Transport transport = Transport::udp) {
  static thread_local std::vector<uint8_t> out(kReplyBufferSize);
  return answer_query(snapshot, query, ClientInfo{nullptr, transport}, out, state);
}

size_t ask(const Snapshot& snapshot, WorkerState& state, const std::string& name,
           ldns_rr_type type, Transport transport = Transport::udp,
           const test::QueryOptions& options = {}) {
  return ask(snapshot, state, test::make_query(name, type, options), transport);
}

uint64_t queries(const WorkerCounters& counters, const char* qtype, Transport transport) {
  size_t type = 0;
  while (kQueryTypeNames[type] != qtype) ++type;
  return counters.queries[type][transport == Transport::tcp ? 1 : 0].value();
}

uint64_t responses(const WorkerCounters& counters, const char* rcode) {
  size_t index = 0;
  while (kRcodeNames[index] != rcode) ++index;
  return counters.responses[index].value();
}

// A mix of queries with known counts; every one answered, dropped or refused.
void ask_the_mix(const Snapshot& snapshot, WorkerState& state) {
  for (int i = 0; i < 3; ++i) ask(snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A);
  ask(snapshot, state, "farm.example.test.", LDNS_RR_TYPE_AAAA, Transport::tcp);
  ask(snapshot, state, "www.example.test.", LDNS_RR_TYPE_A, Transport::tcp);
  ask(snapshot, state, "nothere.example.test.", LDNS_RR_TYPE_MX);       // NXDOMAIN
  ask(snapshot, state, "www.example.org.", LDNS_RR_TYPE_TXT);           // REFUSED
  ask(snapshot, state, "www.example.test.", LDNS_RR_TYPE_NAPTR);        // other, NOERROR
  ask(snapshot, state, "www.example.test.", LDNS_RR_TYPE_A, Transport::udp,
      {.edns = true, .edns_version = 1});                                      // BADVERS
  std::vector<uint8_t> truncated_question = test::make_query("www.example.test.", LDNS_RR_TYPE_A);
  for (int i = 0; i < 3; ++i) truncated_question.pop_back();  // qtype and qclass cut short
  ask(snapshot, state, truncated_question);                               // FORMERR, other
  std::vector<uint8_t> response = test::make_query("www.example.test.", LDNS_RR_TYPE_A);
  response[2] |= 0x80;  // QR: a response sent to us
  ask(snapshot, state, response);                                         // dropped
  ask(snapshot, state, std::vector<uint8_t>{1, 2, 3});                    // dropped: short
}

// The value of the sample `line_start` ("name{labels}") in `text`, or -1.
double sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool is_name_char(char c) { return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

// Reads a metric or label name at `at`; empty when there is none.
std::string read_name(const std::string& line, size_t& at) {
  const size_t start = at;
  if (at < line.size() && is_name_start(line[at])) {
    while (at < line.size() && is_name_char(line[at])) ++at;
  }
  return line.substr(start, at - start);
}

// A sample line: name, optional {label="value",...}, a space, a number.
// Returns the metric name, or empty when the line is not a sample.
std::string sample_name(const std::string& line) {
  size_t at = 0;
  const std::string name = read_name(line, at);
  if (name.empty()) return {};
  if (at < line.size() && line[at] == '{') {
    ++at;
    while (at < line.size() && line[at] != '}') {
      if (read_name(line, at).empty() || line.compare(at, 2, "=\"") != 0) return {};
      at += 2;
      while (at < line.size() && line[at] != '"') at += line[at] == '\\' ? 2 : 1;
      if (at >= line.size()) return {};
      ++at;  // closing quote
      if (at < line.size() && line[at] == ',') ++at;
    }
    if (at >= line.size()) return {};
    ++at;  // '}'
  }
  if (at >= line.size() || line[at] != ' ') return {};
  const std::string value = line.substr(at + 1);
  if (value == "+Inf" || value == "-Inf" || value == "NaN") return name;
  char* end = nullptr;
  std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0') return {};
  return name;
}

// Checks `text` against the text exposition format (version 0.0.4): every
// line a HELP, a TYPE or a sample; every sample of a family whose HELP and
// TYPE came first; label values quoted. Returns the family types by name.
std::map<std::string, std::string> parse_exposition(const std::string& text) {
  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    CAPTURE(line);
    if (line.rfind("# HELP ", 0) == 0) {
      size_t at = 7;
      const std::string name = read_name(line, at);
      REQUIRE(!name.empty());
      CHECK(line.size() > at + 1);  // a space and some text
      helped.insert(name);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      size_t at = 7;
      const std::string name = read_name(line, at);
      const std::string type = line.substr(std::min(at + 1, line.size()));
      CHECK(helped.count(name) == 1);
      CHECK((type == "counter" || type == "gauge" || type == "histogram"));
      types[name] = type;
    } else {
      std::string family = sample_name(line);
      REQUIRE(!family.empty());
      for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
        if (types.count(family) == 0 && family.size() > suffix.size() &&
            family.compare(family.size() - suffix.size(), suffix.size(), suffix) == 0) {
          family.resize(family.size() - suffix.size());
        }
      }
      CHECK(types.count(family) == 1);
    }
  }
  return types;
}

TEST_SUITE("unit/server/metrics/metrics") {
  TEST_CASE("answer_query counts queries by type and transport - replies by rcode - arrays") {
    const auto snapshot = metrics_snapshot_with({{"farm.example.test.", 0}});
    WorkerState state;
    prepare_worker_state(*snapshot, state);
    ask_the_mix(*snapshot, state);
    const WorkerCounters& counters = *state.counters;

    CHECK(queries(counters, "A", Transport::udp) == 4);  // three for the array, one BADVERS
    CHECK(queries(counters, "A", Transport::tcp) == 1);
    CHECK(queries(counters, "AAAA", Transport::tcp) == 1);
    CHECK(queries(counters, "AAAA", Transport::udp) == 0);
    CHECK(queries(counters, "MX", Transport::udp) == 1);
    CHECK(queries(counters, "TXT", Transport::udp) == 1);
    CHECK(queries(counters, "other", Transport::udp) == 2);  // NAPTR and the broken question
    CHECK(counters.total_queries() == 10);

    CHECK(responses(counters, "NOERROR") == 6);
    CHECK(responses(counters, "NXDOMAIN") == 1);
    CHECK(responses(counters, "REFUSED") == 1);
    CHECK(responses(counters, "BADVERS") == 1);
    CHECK(responses(counters, "FORMERR") == 1);
    CHECK(counters.malformed.value() == 1);
    CHECK(counters.dropped.value() == 2);

    CHECK(counters.array_answers.value(0) == 4);  // three A, one AAAA
  }

  TEST_CASE("counting keeps answer_query allocation-free") {
    const auto snapshot = metrics_snapshot_with({{"farm.example.test.", 3}});
    WorkerState state;
    prepare_worker_state(*snapshot, state);
    const auto array_query = test::make_query("farm.example.test.", LDNS_RR_TYPE_A);
    const auto zone_query = test::make_query("nothere.example.test.", LDNS_RR_TYPE_MX);
    std::vector<uint8_t> out(kReplyBufferSize);
    size_t allocations = 0;
    {
      test::AllocationCounter counter;
      for (int i = 0; i < 100; ++i) {
        answer_query(*snapshot, array_query, ClientInfo{nullptr, Transport::tcp}, out, state);
        answer_query(*snapshot, zone_query, ClientInfo{}, out, state);
      }
      allocations = counter.allocations();
    }
    CHECK(allocations == 0);
    CHECK(state.counters->array_answers.value(3) == 100);
    CHECK(state.counters->total_queries() == 200);
  }

  TEST_CASE("an array slot beyond what was prepared is answered but not counted") {
    const auto snapshot = metrics_snapshot_with({{"farm.example.test.", 5000}});
    WorkerState state;  // not prepared: the slot has no counter yet
    CHECK(ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A) > 0);
    CHECK(state.counters->array_answers.value(5000) == 0);
    prepare_worker_state(*snapshot, state);
    ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A);
    CHECK(state.counters->array_answers.value(5000) == 1);
    CHECK(state.counters->array_answers.value(ArraySlotCounters::kMaxSlots + 1) == 0);
  }

  TEST_CASE("render writes the counters as Prometheus text") {
    const auto snapshot = metrics_snapshot_with({{"farm.example.test.", 0}, {"idle.example.test.", 1}}, 42);
    SnapshotPublisher publisher(snapshot);
    WorkerState state;
    prepare_worker_state(*snapshot, state);
    ask_the_mix(*snapshot, state);
    state.counters->rrl_dropped.add(3);  // as the UDP responder counts them
    state.counters->rrl_slipped.add(2);
    const MetricsCollector collector({.workers = {state.counters}, .publisher = &publisher});
    const std::string text = collector.render();
    CAPTURE(text);

    const auto types = parse_exposition(text);
    CHECK(types.at("rotor_dns_queries_total") == "counter");
    CHECK(types.at("rotor_dns_responses_total") == "counter");
    CHECK(types.at("rotor_dns_dropped_total") == "counter");
    CHECK(types.at("rotor_dns_malformed_total") == "counter");
    CHECK(types.at("rotor_array_answers_total") == "counter");
    CHECK(types.at("rotor_snapshot_generation") == "gauge");
    CHECK(types.at("rotor_tcp_connections") == "gauge");
    CHECK(types.at("rotor_tcp_connections_total") == "counter");
    CHECK(types.at("rotor_rrl_responses_total") == "counter");
    CHECK(types.count("rotor_probe_checks_total") == 0);  // no prober given

    CHECK(text.find("\nrotor_dns_queries_total{qtype=\"A\",transport=\"udp\"} 4\n") !=
          std::string::npos);
    CHECK(sample(text, R"(rotor_dns_queries_total{qtype="AAAA",transport="tcp"})") == 1);
    CHECK(sample(text, R"(rotor_dns_queries_total{qtype="SVCB",transport="udp"})") == 0);
    CHECK(sample(text, R"(rotor_dns_queries_total{qtype="other",transport="udp"})") == 2);
    CHECK(sample(text, R"(rotor_dns_responses_total{rcode="NXDOMAIN"})") == 1);
    CHECK(sample(text, R"(rotor_dns_responses_total{rcode="SERVFAIL"})") == 0);
    CHECK(sample(text, "rotor_dns_dropped_total") == 2);
    CHECK(sample(text, "rotor_dns_malformed_total") == 1);
    CHECK(sample(text, R"(rotor_rrl_responses_total{action="dropped"})") == 3);
    CHECK(sample(text, R"(rotor_rrl_responses_total{action="slipped"})") == 2);
    CHECK(sample(text, "rotor_dns_dropped_total") == 2);  // not counted there too
    CHECK(sample(text, R"(rotor_array_answers_total{array="farm.example.test."})") == 4);
    CHECK(sample(text, R"(rotor_array_answers_total{array="idle.example.test."})") == 0);
    CHECK(sample(text, "rotor_snapshot_generation") == 42);
    CHECK(sample(text, "rotor_tcp_connections") == 0);
  }

  TEST_CASE("render sums the counters of every worker") {
    const auto snapshot = metrics_snapshot_with({{"farm.example.test.", 7}});
    SnapshotPublisher publisher(snapshot);
    WorkerState first, second;
    prepare_worker_state(*snapshot, first);
    prepare_worker_state(*snapshot, second);
    ask_the_mix(*snapshot, first);
    ask_the_mix(*snapshot, second);
    ask(*snapshot, second, "farm.example.test.", LDNS_RR_TYPE_A, Transport::tcp);
    const MetricsCollector collector(
        {.workers = {first.counters, second.counters}, .publisher = &publisher});
    const std::string text = collector.render();
    CAPTURE(text);
    CHECK(sample(text, R"(rotor_dns_queries_total{qtype="A",transport="udp"})") == 8);
    CHECK(sample(text, R"(rotor_dns_queries_total{qtype="A",transport="tcp"})") == 3);
    CHECK(sample(text, R"(rotor_dns_responses_total{rcode="NOERROR"})") == 13);
    CHECK(sample(text, "rotor_dns_dropped_total") == 4);
    CHECK(sample(text, R"(rotor_array_answers_total{array="farm.example.test."})") == 9);
  }

  TEST_CASE("a new array in a reused slot starts counting from zero") {
    auto snapshot = metrics_snapshot_with({{"farm.example.test.", 0}});
    SnapshotPublisher publisher(snapshot);
    WorkerState state;
    prepare_worker_state(*snapshot, state);
    const MetricsCollector collector({.workers = {state.counters}, .publisher = &publisher});
    ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A);
    ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A);
    CHECK(sample(collector.render(), R"(rotor_array_answers_total{array="farm.example.test."})") ==
          2);

    snapshot = metrics_snapshot_with({{"other.example.test.", 0}}, 2);  // farm deleted, its slot reused
    publisher.publish(snapshot);
    std::string text = collector.render();
    CHECK(sample(text, R"(rotor_array_answers_total{array="farm.example.test."})") == -1);
    CHECK(sample(text, R"(rotor_array_answers_total{array="other.example.test."})") == 0);
    ask(*snapshot, state, "other.example.test.", LDNS_RR_TYPE_A);
    text = collector.render();
    CHECK(sample(text, R"(rotor_array_answers_total{array="other.example.test."})") == 1);
  }

  TEST_CASE("a scrape while a worker answers and grows its counters is race-free") {
    // One thread plays the worker (answers, takes snapshots with new slots),
    // another scrapes; ThreadSanitizer checks the pair.
    const auto small = metrics_snapshot_with({{"farm.example.test.", 0}});
    const auto large = metrics_snapshot_with({{"farm.example.test.", 0}, {"far.example.test.", 9000}});
    SnapshotPublisher publisher(large);
    WorkerState state;
    const MetricsCollector collector({.workers = {state.counters}, .publisher = &publisher});
    constexpr int kRounds = 2000;
    std::atomic<bool> done{false};
    std::atomic<int> scrapes{0};
    std::thread worker([&] {
      prepare_worker_state(*small, state);
      // Starts once the scrapes have, so that the two overlap (bounded wait).
      for (int i = 0; i < 100'000 && scrapes == 0; ++i) std::this_thread::yield();
      for (int round = 0; round < kRounds; ++round) {
        ask(*small, state, "farm.example.test.", LDNS_RR_TYPE_A);
        if (round == kRounds / 2) prepare_worker_state(*large, state);
        if (round >= kRounds / 2) ask(*large, state, "far.example.test.", LDNS_RR_TYPE_A);
      }
      done = true;
    });
    double last = 0;
    while (!done || scrapes == 0) {
      const double seen =
          sample(collector.render(), R"(rotor_dns_queries_total{qtype="A",transport="udp"})");
      CHECK(seen >= last);  // counters never go back
      last = seen;
      ++scrapes;
    }
    worker.join();
    const std::string text = collector.render();
    CHECK(sample(text, R"(rotor_dns_queries_total{qtype="A",transport="udp"})") ==
          kRounds + kRounds / 2);
    CHECK(sample(text, R"(rotor_array_answers_total{array="farm.example.test."})") == kRounds);
    CHECK(sample(text, R"(rotor_array_answers_total{array="far.example.test."})") == kRounds / 2);
  }

  TEST_CASE("render reports instance health - probe statistics and publish latency") {
    registry::test::ScratchDir dir;
    SnapshotPublisher publisher(std::make_shared<const Snapshot>());
    registry::SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    const auto registry = registry::Registry::open(std::make_unique<registry::SqliteStore>(dir.file("rotor.db")), composer);
    const registry::SyntheticZoneSpec zone{"lb.example.com.",
                                           {{"ns1.lb.example.com.", {"192.0.2.53"}}}};
    registry->set_synthetic_zones({zone});
    registry->upsert_array("web.lb.example.com.", {});
    const auto a = registry->add_instance("web.lb.example.com.", registry::test::instance("192.0.2.1"));
    const auto b = registry->add_instance("web.lb.example.com.", registry::test::instance("192.0.2.2"));
    registry->add_instance("web.lb.example.com.", registry::test::instance("192.0.2.3"));
    auto disabled = registry::test::instance("192.0.2.4");
    disabled.state = arrays::AdminState::disabled;
    registry->add_instance("web.lb.example.com.", disabled);
    registry->set_health(a.id, arrays::Health::up, "test");
    registry->set_health(b.id, arrays::Health::down, "test");

    probes::ProberStats stats;
    stats.checks_finished = 12;
    stats.in_flight = 3;
    stats.transitions = 2;
    stats.damped = 1;
    stats.latency_histogram[0] = 4;                             // <= 1 ms
    stats.latency_histogram[2] = 6;                             // <= 5 ms
    stats.latency_histogram[stats.latency_histogram.size() - 1] = 2;  // above every bound
    stats.latency_sum_us = 12'500'000;
    stats.lateness_histogram[1] = 5;

    const MetricsCollector collector({.workers = {},
                                      .publisher = &publisher,
                                      .composer = &composer,
                                      .registry = registry.get(),
                                      .prober_stats = [&] { return stats; },
                                      .instance_check_counts = [&] {
                                        std::vector<std::pair<int64_t, probes::CheckHistory>> counts;
                                        counts.push_back({a.id, {.transitions = 5, .damping_starts = 2}});
                                        counts.push_back({9999, {.transitions = 1}});  // removed since
                                        return counts;
                                      }});
    const std::string text = collector.render();
    CAPTURE(text);
    const auto types = parse_exposition(text);
    CHECK(types.at("rotor_instance_health_transitions_total") == "counter");
    const std::string labels =
        R"({array="web.lb.example.com.",instance=")" + std::to_string(a.id) + R"(",address="192.0.2.1"})";
    CHECK(sample(text, "rotor_instance_health_transitions_total" + labels) == 5);
    CHECK(sample(text, "rotor_instance_damping_starts_total" + labels) == 2);
    CHECK(text.find("instance=\"9999\"") == std::string::npos);
    CHECK(types.at("rotor_array_instances") == "gauge");
    CHECK(types.at("rotor_probe_latency_seconds") == "histogram");
    CHECK(types.at("rotor_probe_start_lateness_seconds") == "histogram");
    CHECK(types.at("rotor_snapshot_publish_seconds") == "histogram");

    CHECK(sample(text, R"(rotor_array_instances{array="web.lb.example.com.",health="up"})") == 1);
    CHECK(sample(text, R"(rotor_array_instances{array="web.lb.example.com.",health="down"})") == 1);
    CHECK(sample(text, R"(rotor_array_instances{array="web.lb.example.com.",health="unknown"})") ==
          1);
    CHECK(sample(text, "rotor_probe_checks_total") == 12);
    CHECK(sample(text, "rotor_probe_in_flight") == 3);
    CHECK(sample(text, "rotor_health_transitions_total") == 2);
    CHECK(types.at("rotor_damped_instances") == "gauge");
    CHECK(sample(text, "rotor_damped_instances") == 1);
    CHECK(sample(text, R"(rotor_probe_latency_seconds_bucket{le="0.001"})") == 4);
    CHECK(sample(text, R"(rotor_probe_latency_seconds_bucket{le="0.002"})") == 4);
    CHECK(sample(text, R"(rotor_probe_latency_seconds_bucket{le="0.005"})") == 10);
    CHECK(sample(text, R"(rotor_probe_latency_seconds_bucket{le="5"})") == 10);
    CHECK(sample(text, R"(rotor_probe_latency_seconds_bucket{le="+Inf"})") == 12);
    CHECK(sample(text, "rotor_probe_latency_seconds_count") == 12);
    CHECK(sample(text, "rotor_probe_latency_seconds_sum") == doctest::Approx(12.5));
    CHECK(sample(text, R"(rotor_probe_start_lateness_seconds_bucket{le="0.002"})") == 5);

    // Every mutation above published synchronously: each waited a little.
    const double published = sample(text, "rotor_snapshot_publish_seconds_count");
    CHECK(published == static_cast<double>(composer.published_count()));
    CHECK(published >= 6);
    CHECK(sample(text, R"(rotor_snapshot_publish_seconds_bucket{le="+Inf"})") == published);
    CHECK(sample(text, "rotor_snapshot_publish_seconds_sum") > 0);
    CHECK(sample(text, "rotor_snapshot_generation") ==
          static_cast<double>(publisher.current()->generation));
  }

  TEST_CASE("a batched publish is timed from the first change it carries") {
    SnapshotPublisher publisher(std::make_shared<const Snapshot>());
    registry::SnapshotComposer composer(publisher, {.publish_interval = 0ms});
    const auto regions = geo::RegionTable::build({});
    {
      registry::SnapshotComposer::Batch batch(composer);
      composer.put_array(arrays::ArrayState::build(*zones::name_from_text("a.example.test."), 0, {},
                                                   {}, *regions));
      std::this_thread::sleep_for(20ms);
      composer.put_array(arrays::ArrayState::build(*zones::name_from_text("b.example.test."), 1, {},
                                                   {}, *regions));
    }
    const DurationHistogram latency = composer.publish_latency();
    CHECK(latency.count() == 1);
    CHECK(latency.sum_seconds() >= 0.020);
  }

  TEST_CASE("the worker pool hands out the counters of its workers - TCP connections are counted") {
    SnapshotPublisher publisher(std::make_shared<const Snapshot>());
    net::NetworkOptions options;
    options.listen = {test::listen_endpoint("127.0.0.1:0")};
    options.threads = 2;
    net::WorkerPool pool(options, publisher);
    pool.start();
    const auto counters = pool.counters();
    // Two workers' blocks (TCP, on their loops) and one per UDP socket's thread.
    REQUIRE(counters.size() == 4);
    const MetricsCollector collector({.workers = counters, .publisher = &publisher});
    // Polls the scrape until `series` reads `value` (bounded: 2 s).
    const auto reaches = [&](const char* series, double value) {
      for (int i = 0; i < 400; ++i) {
        if (sample(collector.render(), series) == value) return true;
        std::this_thread::sleep_for(5ms);
      }
      return false;
    };
    {
      test::TcpClient client(pool.bound().at(0).address);
      REQUIRE(client.connected());
      REQUIRE(client.send(test::tcp_frame(test::make_query("example.com.", LDNS_RR_TYPE_A, {.id = 7}))));
      REQUIRE(client.receive());
      CHECK(reaches("rotor_tcp_connections", 1));
      CHECK(reaches("rotor_tcp_connections_total", 1));
      CHECK(reaches(R"(rotor_dns_queries_total{qtype="A",transport="tcp"})", 1));
      CHECK(reaches(R"(rotor_dns_responses_total{rcode="REFUSED"})", 1));
    }
    CHECK(reaches("rotor_tcp_connections", 0));
    // A UDP query is counted in its UDP thread's block, which the scrape sums too.
    test::UdpClient udp(pool.bound().at(0).address);
    REQUIRE(udp.exchange(test::make_query("example.com.", LDNS_RR_TYPE_A, {.id = 8})));
    CHECK(reaches(R"(rotor_dns_queries_total{qtype="A",transport="udp"})", 1));
    pool.stop();
    // The blocks outlive the workers: a scrape after stop still reads them.
    CHECK(sample(collector.render(), "rotor_tcp_connections_total") == 1);
  }
}

}  // namespace
}  // namespace rotor::metrics
