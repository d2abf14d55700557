// Issue 15's health logic end to end: the rotor binary probing HTTP backends
// the test starts on 127.0.0.31-34, answered through real DNS packets, with
// explain, the metrics and the event log read over the API. Panic mode
// (min_healthy 0.5) answers all four instances once only one of them is up,
// and says so everywhere; two of four up is the threshold itself. Slow start
// (3 s, 127.0.0.57-58) gives an instance that comes back a share of the
// answers that grows with its ramp, seen in the answers over time.

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/backends.h"

TEST_SUITE_BEGIN("integration/health_logic");

namespace rotor::itest {
namespace {

using nlohmann::json;
using probes::testing::HttpBackend;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kAddresses{"127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34"};

// Checks every 100 ms, down after one failure, up after one pass.
json check_on(uint16_t port) {
  return json{{"type", "http"}, {"port", port},  {"path", "/health"}, {"interval", "100ms"},
              {"timeout", "80ms"}, {"rise", 1}, {"fall", 1}};
}

json config_with(const TempDir& dir, json array) {
  json config = declared_zone_config(dir);
  config["publish_interval"] = "0ms";
  config["api"] = {{"listen", "127.0.0.1:0"}};
  config["arrays"] = json::array({std::move(array)});
  return config;
}

// The A records of one answer; empty when no usable reply came.
std::vector<std::string> answer_once(const Endpoint& server, const std::string& name) {
  std::vector<std::string> addresses;
  std::optional<Reply> response = exchange_udp(server, make_query(name, "A", resolver_options()));
  if (!response || !response->packet) return addresses;
  const ldns_rr_list* answer = ldns_pkt_answer(response->packet.get());
  for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_A) continue;
    char* text = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    addresses.push_back(text != nullptr ? text : "?");
    std::free(text);
  }
  return addresses;
}

std::set<std::string> answered_set(const Endpoint& server, const std::string& name) {
  const std::vector<std::string> addresses = answer_once(server, name);
  return {addresses.begin(), addresses.end()};
}

// Polls (every 20 ms, at most 5 s) until the answer is `wanted`.
bool answers_become(const Endpoint& server, const std::string& name,
                    const std::set<std::string>& wanted) {
  const auto start = Clock::now();
  while (Clock::now() - start < 5s) {
    if (answered_set(server, name) == wanted) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

json get_json(httplib::Client& api, const std::string& path) {
  auto reply = api.Get(path);
  REQUIRE(reply);
  REQUIRE_MESSAGE(reply->status == 200, reply->body);
  return json::parse(reply->body);
}

std::string metrics_line(httplib::Client& api, const std::string& prefix) {
  auto reply = api.Get("/metrics");
  REQUIRE(reply);
  const size_t at = reply->body.find("\n" + prefix);
  if (at == std::string::npos) return "";
  return reply->body.substr(at + 1, reply->body.find('\n', at + 1) - at - 1);
}

TEST_CASE("panic mode at 1 of 4 up with min_healthy 0.5 answers all four - and says so") {
  ::unsetenv("ROTOR_API_TOKEN");
  const HttpBackend::Reply ok{200, "ok", ""};
  std::vector<std::unique_ptr<HttpBackend>> backends;
  backends.push_back(std::make_unique<HttpBackend>(ok, kAddresses[0]));
  const uint16_t port = backends[0]->port();
  for (size_t i = 1; i < kAddresses.size(); ++i) {
    backends.push_back(std::make_unique<HttpBackend>(ok, kAddresses[i], port));
  }
  json instances = json::array();
  for (const std::string& address : kAddresses) instances.push_back({{"address", address}});
  const std::string name = "web.lb.example.test.";
  TempDir dir;
  const json config = config_with(dir, {{"name", name}, {"min_healthy", 0.5}, {"max_answers", 0},
                                        {"check", check_on(port)}, {"instances", instances}});
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());
  const int api_port = rotor.api_port();
  REQUIRE(api_port > 0);
  httplib::Client api("127.0.0.1", api_port);
  api.set_read_timeout(5s);
  const std::set<std::string> all(kAddresses.begin(), kAddresses.end());
  CHECK(answers_become(rotor.endpoint(), name, all));

  // Two of four down: the threshold itself, no panic; the two down ones leave.
  backends[2].reset();
  backends[3].reset();
  CHECK(answers_become(rotor.endpoint(), name, {kAddresses[0], kAddresses[1]}));
  CHECK(metrics_line(api, "rotor_array_panic{") == "rotor_array_panic{array=\"" + name + "\"} 0");

  // A third down: 1 of 4 healthy, below 0.5: every enabled instance answers.
  backends[1].reset();
  const auto panic_start = Clock::now();
  bool panicked = false;
  while (!panicked && Clock::now() - panic_start < 5s) {
    const json explain = get_json(api, "/v1/explain?name=" + name + "&type=A");
    panicked = explain["array"]["panic"] == true;
    if (!panicked) std::this_thread::sleep_for(20ms);
  }
  REQUIRE(panicked);
  for (int i = 0; i < 8; ++i) CHECK(answered_set(rotor.endpoint(), name) == all);
  const json explain = get_json(api, "/v1/explain?name=" + name + "&type=A");
  CAPTURE(explain.dump());
  CHECK(explain["answer"]["addresses"].size() == 4);
  CHECK(explain["array"]["instances"][1]["health"] == "down");
  CHECK(explain["array"]["instances"][1]["reason"] ==
        "panic mode: 1 of 4 enabled instances healthy, below min_healthy 0.5: every enabled one is "
        "answered");
  CHECK(metrics_line(api, "rotor_array_panic{") == "rotor_array_panic{array=\"" + name + "\"} 1");

  // One back: 2 of 4, panic over, the answers are the two healthy ones.
  backends[1] = std::make_unique<HttpBackend>(ok, kAddresses[1], port);
  CHECK(answers_become(rotor.endpoint(), name, {kAddresses[0], kAddresses[1]}));
  CHECK(metrics_line(api, "rotor_array_panic{") == "rotor_array_panic{array=\"" + name + "\"} 0");
  const json events = get_json(api, "/v1/events?kind=panic");
  CAPTURE(events.dump());
  REQUIRE(events["events"].size() == 2);
  CHECK(events["events"][0]["new"] == "on");
  CHECK(events["events"][0]["reason"] ==
        "1 of 4 enabled IPv4 instances healthy, below min_healthy 0.5: answering every enabled one");
  CHECK(events["events"][1]["new"] == "off");
}

TEST_CASE("a fallback array answers while the primary has nothing healthy - and leaves when one is back") {
  ::unsetenv("ROTOR_API_TOKEN");
  const HttpBackend::Reply ok{200, "ok", ""};
  auto primary = std::make_unique<HttpBackend>(ok, "127.0.0.35");
  const uint16_t port = primary->port();
  HttpBackend backup(ok, "127.0.0.36", port);
  TempDir dir;
  json config = config_with(dir, {{"name", "web.lb.example.test."},
                                  {"fallback", "backup.lb.example.test."},
                                  {"check", check_on(port)},
                                  {"instances", {{{"address", "127.0.0.35"}}}}});
  config["arrays"].push_back({{"name", "backup.lb.example.test."}, {"degraded_ttl", 3},
                              {"check", check_on(port)}, {"instances", {{{"address", "127.0.0.36"}}}}});
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());
  const int api_port = rotor.api_port();
  REQUIRE(api_port > 0);
  httplib::Client api("127.0.0.1", api_port);
  api.set_read_timeout(5s);
  const std::string name = "web.lb.example.test.";
  CHECK(answers_become(rotor.endpoint(), name, {"127.0.0.35"}));

  primary.reset();  // the primary's only instance goes down: the backup answers for web
  REQUIRE(answers_become(rotor.endpoint(), name, {"127.0.0.36"}));
  const std::optional<Reply> reply = exchange_udp(rotor.endpoint(), make_query(name, "A", resolver_options()));
  REQUIRE(reply);
  REQUIRE(reply->packet);
  const ldns_rr* record = ldns_rr_list_rr(ldns_pkt_answer(reply->packet.get()), 0);
  CHECK(ldns_rr_ttl(record) == 3);  // the fallback's degraded TTL
  const json explain = get_json(api, "/v1/explain?name=" + name + "&type=A");
  CAPTURE(explain.dump());
  CHECK(explain["array"]["fallback"] == "backup.lb.example.test.");
  CHECK(explain["answered_from_fallback"]["name"] == "backup.lb.example.test.");
  CHECK(explain["answered_from_fallback"]["hops"] == 1);

  primary = std::make_unique<HttpBackend>(ok, "127.0.0.35", port);  // back: the primary answers again
  CHECK(answers_become(rotor.endpoint(), name, {"127.0.0.35"}));
  CHECK(get_json(api, "/v1/explain?name=" + name + "&type=A")["answered_from_fallback"].is_null());
}

// The share of leads the returning instance should have `elapsed_ms` into
// a ramp of `ramp_ms` under round robin against one other instance: its
// weight grows 1..100 (array_state.cc's slow_start_weight), the other's is 100.
double ramp_share(int64_t elapsed_ms, int64_t ramp_ms) {
  const int64_t weight = elapsed_ms >= ramp_ms ? 100 : std::max<int64_t>(1, 100 * std::max<int64_t>(0, elapsed_ms) / ramp_ms);
  return static_cast<double>(weight) / static_cast<double>(100 + weight);
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One block of queries in a row: when it ran and how many the instance led.
struct Block {
  int64_t first_ms = 0, last_ms = 0;  // unix ms of its first and last query
  int queries = 0, led = 0;
};

Block lead_block(const Endpoint& server, const std::string& name, const std::string& address,
                 int queries) {
  Block block;
  block.first_ms = unix_ms();
  for (int i = 0; i < queries; ++i) {
    const std::vector<std::string> addresses = answer_once(server, name);
    if (addresses.empty()) continue;
    ++block.queries;
    block.led += addresses[0] == address;
  }
  block.last_ms = unix_ms();
  return block;
}

TEST_CASE("slow start ramps an instance that comes back up over 3 s - seen in the answers") {
  ::unsetenv("ROTOR_API_TOKEN");
  const HttpBackend::Reply ok{200, "ok", ""};
  const std::string a = "127.0.0.57", b = "127.0.0.58";
  auto backend_a = std::make_unique<HttpBackend>(ok, a);
  const uint16_t port = backend_a->port();
  auto backend_b = std::make_unique<HttpBackend>(ok, b, port);
  const std::string name = "ramp.lb.example.test.";
  constexpr int64_t kRampMs = 3000;
  TempDir dir;
  json config = config_with(dir, {{"name", name}, {"policy", "round_robin"}, {"max_answers", 1},
                                  {"slow_start", "3s"}, {"check", check_on(port)},
                                  {"instances", {{{"address", a}}, {{"address", b}}}}});
  config["threads"] = 1;  // one rotation counter: the lead alternates query by query
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());
  const int api_port = rotor.api_port();
  REQUIRE(api_port > 0);
  httplib::Client api("127.0.0.1", api_port);
  api.set_read_timeout(5s);
  const auto explained = [&](size_t index) {
    return get_json(api, "/v1/explain?name=" + name + "&type=A")["array"]["instances"][index];
  };
  // Both up at rotor's start (unknown -> up is no comeback): no ramp, an equal share.
  bool both_up = false;
  for (int i = 0; i < 250 && !both_up; ++i) {
    both_up = explained(0)["health"] == "up" && explained(1)["health"] == "up";
    if (!both_up) std::this_thread::sleep_for(20ms);
  }
  REQUIRE(both_up);
  CHECK(explained(1)["slow_start"].is_null());
  CHECK(explained(1)["effective_weight"] == 100);
  // Two instances of equal weight alternate the lead: half of them, to one query.
  const Block settled = lead_block(rotor.endpoint(), name, b, 100);
  CHECK(std::abs(settled.led - settled.queries / 2) <= 1);

  // B down, then back: from its health change on, its share follows the ramp.
  const auto health_becomes = [&](const char* health) {
    json seen;
    for (const auto start = Clock::now(); Clock::now() - start < 5s; std::this_thread::sleep_for(10ms)) {
      seen = explained(1);
      if (seen["health"] == health) break;
    }
    return seen;
  };
  backend_b.reset();
  REQUIRE(health_becomes("down")["health"] == "down");
  const Block without_b = lead_block(rotor.endpoint(), name, b, 20);
  CHECK(without_b.led == 0);
  backend_b = std::make_unique<HttpBackend>(ok, b, port);
  const json ramping = health_becomes("up");
  CAPTURE(ramping.dump());
  REQUIRE(ramping["health"] == "up");
  REQUIRE(ramping["slow_start"].is_object());
  const int64_t since = ramping["slow_start"]["since_ms"].get<int64_t>();
  CHECK(ramping["slow_start"]["remaining_ms"].get<int64_t>() <= kRampMs);
  CHECK(ramping["effective_weight"].get<int>() < 100);

  // Blocks of 200 queries until half a second past the ramp's end. The
  // snapshot a query reads was built at most one ramp step (250 ms) before,
  // plus the ramp thread's scheduling (allowed another 250 ms): B's expected
  // leads in a block lie between the ramp's share at each query's time less
  // 500 ms and at its time. Around that band, leads vary at most as a sum of
  // independent Bernoulli trials would (the selector's smooth rotation varies
  // less): 4 standard deviations of that sum, plus one for rounding.
  std::vector<Block> blocks;
  while (unix_ms() < since + kRampMs + 500) {
    blocks.push_back(lead_block(rotor.endpoint(), name, b, 200));
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(blocks.size() >= 4);
  std::string trace;
  for (const Block& block : blocks) {
    const int64_t at = (block.first_ms + block.last_ms) / 2 - since;
    const double share = static_cast<double>(block.led) / std::max(block.queries, 1);
    trace += std::to_string(at) + "ms:" + std::to_string(share).substr(0, 5) + " ";
  }
  MESSAGE("share of the returning instance, by ms into its ramp: " << trace);
  constexpr int64_t kLagMs = 500;
  for (const Block& block : blocks) {
    CAPTURE(block.first_ms - since);
    CAPTURE(block.last_ms - since);
    CAPTURE(block.led);
    REQUIRE(block.queries > 100);
    // Queries spread evenly over the block's time (each is one round trip).
    double low = 0, high = 0, variance = 0;
    for (int i = 0; i < block.queries; ++i) {
      const int64_t at =
          block.first_ms + (block.last_ms - block.first_ms) * i / std::max(block.queries - 1, 1) - since;
      const double late = ramp_share(at - kLagMs, kRampMs), now = ramp_share(at, kRampMs);
      low += late;
      high += now;
      const double mid = (late + now) / 2;
      variance += mid * (1 - mid);
    }
    const double spread = 4 * std::sqrt(variance) + 1;
    CHECK(block.led >= low - spread);
    CHECK(block.led <= high + spread);
  }
  // The share grew: the first block is well under the last one's half.
  const Block& first = blocks.front();
  const Block& last = blocks.back();
  CHECK(first.led * 2 * last.queries < last.led * first.queries);
  CHECK(explained(1)["slow_start"].is_null());
  CHECK(explained(1)["effective_weight"] == 100);
  const Block after = lead_block(rotor.endpoint(), name, b, 100);
  CHECK(std::abs(after.led - after.queries / 2) <= 1);
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
