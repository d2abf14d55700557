// Issue 15's weight and drain reported by the backend, end to end: the rotor
// binary probing two HTTP backends the test starts on 127.0.0.71-72 with
// check.weight_from_response, answered through real DNS packets and read
// back through explain and the check history. A backend answering its check
// with `Rotor-Weight: 25` leads a quarter as often as its configured share;
// `Rotor-State: draining` takes it out of the answers, `up` brings it back.

#include <httplib.h>

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

TEST_SUITE_BEGIN("integration/backend_weight");

namespace rotor::itest {
namespace {

using nlohmann::json;
using probes::testing::HttpBackend;
using Clock = std::chrono::steady_clock;

const std::string kLoaded = "127.0.0.71";  // reports its load
const std::string kPlain = "127.0.0.72";   // reports nothing

// The A records of one answer, in the order sent (the first leads); empty
// when no usable reply came.
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

json get_json(httplib::Client& api, const std::string& path) {
  auto reply = api.Get(path);
  REQUIRE(reply);
  REQUIRE_MESSAGE(reply->status == 200, reply->body);
  return json::parse(reply->body);
}

// The explain entry of `address`.
json explained(httplib::Client& api, const std::string& name, const std::string& address) {
  const json explain = get_json(api, "/v1/explain?name=" + name + "&type=A");
  for (const json& instance : explain["array"]["instances"]) {
    if (instance["address"] == address) return instance;
  }
  return nullptr;
}

// Polls explain (every 20 ms, at most 5 s) until `address` has this effective weight.
bool effective_weight_becomes(httplib::Client& api, const std::string& name, const std::string& address,
                              int weight) {
  const auto start = Clock::now();
  while (Clock::now() - start < 5s) {
    const json instance = explained(api, name, address);
    if (instance.is_object() && instance["effective_weight"] == weight) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

bool answers_become(const Endpoint& server, const std::string& name, const std::set<std::string>& wanted) {
  const auto start = Clock::now();
  while (Clock::now() - start < 5s) {
    const std::vector<std::string> addresses = answer_once(server, name);
    if (std::set<std::string>(addresses.begin(), addresses.end()) == wanted) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

HttpBackend::Reply reporting(const std::string& headers) { return {200, "ok", headers}; }

TEST_CASE("a backend reporting Rotor-Weight 25 leads a quarter of its share - and drains itself and comes back") {
  ::unsetenv("ROTOR_API_TOKEN");
  auto loaded = std::make_unique<HttpBackend>(reporting("Rotor-Weight: 25\r\n"), kLoaded);
  const uint16_t port = loaded->port();
  HttpBackend plain(reporting(""), kPlain, port);

  const std::string name = "web.lb.example.test.";
  TempDir dir;
  json config = declared_zone_config(dir);
  config["publish_interval"] = "0ms";
  config["api"] = {{"listen", "127.0.0.1:0"}};
  // Every 100 ms; fall 3 rides out the moment a backend is restarted with other headers.
  const json check{{"type", "http"}, {"port", port},  {"path", "/health"}, {"interval", "100ms"},
                   {"timeout", "80ms"}, {"rise", 1}, {"fall", 3}, {"weight_from_response", true}};
  config["arrays"] = json::array({{{"name", name},
                                   {"policy", "weighted"},
                                   {"max_answers", 0},
                                   {"check", check},
                                   {"instances", {{{"address", kLoaded}}, {{"address", kPlain}}}}}});
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());
  REQUIRE(rotor.api_port() > 0);
  httplib::Client api("127.0.0.1", rotor.api_port());
  api.set_read_timeout(5s);

  REQUIRE(effective_weight_becomes(api, name, kLoaded, 25));
  const json instance = explained(api, name, kLoaded);
  CAPTURE(instance.dump());
  CHECK(instance["weight"] == 100);
  CHECK(instance["weight_reason"] == "configured 100 x 25% reported by the backend (Rotor-Weight) = 25");
  CHECK(explained(api, name, kPlain)["effective_weight"] == 100);

  // Leads (the first address of each answer) over N queries. Configured
  // 100:100 the loaded backend's share would be 1/2; reporting 25% it is
  // p = 25 / (25 + 100) = 0.2. Counted as N draws of a binomial(N, p), the
  // count's spread is sigma = sqrt(N p (1 - p)) (about 13.9 for N = 1200);
  // the count must lie within 5 sigma of N p = 240. The rotation is in fact
  // deterministic (smooth weighted round robin, lead period 5), so a correct
  // server lands within a few leads of 240; half its share (p = 0.5, 600)
  // or no report at all lies over 25 sigma away.
  constexpr int kQueries = 1200;
  constexpr double kShare = 25.0 / (25.0 + 100.0);
  const double mean = kQueries * kShare;
  const double sigma = std::sqrt(kQueries * kShare * (1.0 - kShare));
  int led = 0;
  int answered = 0;
  for (int i = 0; i < kQueries; ++i) {
    const std::vector<std::string> addresses = answer_once(rotor.endpoint(), name);
    if (addresses.size() != 2) continue;
    ++answered;
    if (addresses.front() == kLoaded) ++led;
  }
  CAPTURE(led);
  CAPTURE(sigma);
  REQUIRE(answered == kQueries);
  CHECK(std::abs(led - mean) <= 5 * sigma);

  // The check history has the reported weight of each check.
  const json array = get_json(api, "/v1/arrays/" + name);
  int64_t loaded_id = 0;
  for (const json& entry : array["instances"]) {
    if (entry["address"] == kLoaded) loaded_id = entry["id"];
  }
  REQUIRE(loaded_id != 0);
  const std::string checks_path = "/v1/arrays/" + name + "/instances/" + std::to_string(loaded_id) + "/checks";
  json checks = get_json(api, checks_path);
  REQUIRE(!checks["checks"].empty());
  CHECK(checks["checks"][0]["reported_weight"] == 25);
  CHECK(checks["checks"][0]["reported_state"] == "up");
  CHECK(checks["checks"][0]["report_ignored"] == nullptr);

  // Draining: it leaves the answers like a drained instance, and explain says why.
  loaded.reset();  // the port is free again before the restarted backend takes it
  loaded = std::make_unique<HttpBackend>(reporting("Rotor-State: draining\r\n"), kLoaded, port);
  CHECK(answers_become(rotor.endpoint(), name, {kPlain}));
  for (int i = 0; i < 20; ++i) CHECK(answer_once(rotor.endpoint(), name) == std::vector<std::string>{kPlain});
  const json drained = explained(api, name, kLoaded);
  CAPTURE(drained.dump());
  CHECK(drained["candidate"] == false);
  CHECK(drained["reason"] == "draining: the backend reports Rotor-State: draining");
  CHECK(drained["effective_weight"] == nullptr);

  // Up again, with a weight it may not ask for: the state is taken, the
  // weight ignored (the last valid one, 100 since no header, stays) and the
  // reason kept in the check history.
  loaded.reset();
  loaded = std::make_unique<HttpBackend>(reporting("Rotor-State: up\r\nRotor-Weight: 150\r\n"), kLoaded, port);
  CHECK(answers_become(rotor.endpoint(), name, {kLoaded, kPlain}));
  CHECK(explained(api, name, kLoaded)["effective_weight"] == 100);
  checks = get_json(api, checks_path);
  CAPTURE(checks.dump());
  REQUIRE(!checks["checks"].empty());
  CHECK(checks["checks"][0]["reported_weight"] == nullptr);
  CHECK(checks["checks"][0]["reported_state"] == "up");
  CHECK(checks["checks"][0]["report_ignored"] == "Rotor-Weight \"150\": above 100");
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
