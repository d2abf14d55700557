// The quickstart's story as a test: three web servers, an array declared in
// the config with its health check, instances registered through the API,
// and real DNS packets showing rotation, a failover when one server stops, its
// return, a drain through the API, and the event log and metrics that tell it.

#include <httplib.h>
#include <stdlib.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/backends.h"

TEST_SUITE_BEGIN("integration/quickstart_story");

namespace rotor::itest {
namespace {

using nlohmann::json;
using probes::testing::HttpBackend;
using Clock = std::chrono::steady_clock;

constexpr const char* kArray = "web.lb.example.test";
const std::vector<std::string> kStoryAddresses{"127.0.0.11", "127.0.0.12", "127.0.0.13"};

// Polls `done` every 20 ms for at most `limit`; the time it took, or nullopt.
template <typename Done>
std::optional<std::chrono::milliseconds> within(std::chrono::milliseconds limit, Done done) {
  const auto start = Clock::now();
  while (true) {
    if (done()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (Clock::now() - start > limit) return std::nullopt;
    std::this_thread::sleep_for(20ms);
  }
}

// Every address over six queries: rotation shows each in turn.
std::set<std::string> rotation(const Endpoint& server) {
  std::set<std::string> all;
  for (int i = 0; i < 6; ++i) {
    const auto some = answered_addresses(server, kArray);
    all.insert(some.begin(), some.end());
  }
  return all;
}

std::string health_of(httplib::Client& api, const std::string& address) {
  const auto reply = api.Get(std::string("/v1/arrays/") + kArray + "/health");
  if (!reply || reply->status != 200) return "no reply";
  const json health = json::parse(reply->body);
  for (const json& instance : health["instances"]) {
    if (instance["address"] == address) return instance["health"].get<std::string>();
  }
  return "absent";
}

TEST_CASE("the quickstart story through the API and real DNS packets") {
  ::unsetenv("ROTOR_API_TOKEN");
  const HttpBackend::Reply ok{200, "hello", ""};
  std::vector<std::unique_ptr<HttpBackend>> web;
  web.push_back(std::make_unique<HttpBackend>(ok, kStoryAddresses[0]));
  const uint16_t port = web[0]->port();
  web.push_back(std::make_unique<HttpBackend>(ok, kStoryAddresses[1], port));
  web.push_back(std::make_unique<HttpBackend>(ok, kStoryAddresses[2], port));

  TempDir dir;
  const json config{
      {"db", (dir.path() / "rotor.db").string()},
      {"publish_interval", "0ms"},
      {"threads", 1},  // one rotation counter, so three queries show three leaders
      {"zones",
       {{{"name", "lb.example.test"},
         {"name_servers", {{{"name", "ns1.lb.example.test"}, {"addresses", {"127.0.0.1"}}}}}}}},
      {"arrays",
       {{{"name", kArray},
         {"degraded_ttl", 5},
         {"check",
          {{"type", "http"}, {"port", port}, {"interval", "200ms"}, {"timeout", "100ms"},
           {"rise", 2}, {"fall", 2}}}}}}};
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump())});
  REQUIRE(rotor.ready());
  const int api_port = rotor.api_port();
  REQUIRE(api_port > 0);
  httplib::Client api("127.0.0.1", api_port);
  api.set_read_timeout(5s);

  // No instances yet: NODATA.
  CHECK(answered_addresses(rotor.endpoint(), kArray).empty());

  // A deploy script registers the farm.
  std::vector<int64_t> ids;
  for (const std::string& address : kStoryAddresses) {
    const auto added = api.Post(std::string("/v1/arrays/") + kArray + "/instances",
                                json{{"address", address}}.dump(), "application/json");
    REQUIRE(added);
    REQUIRE(added->status == 201);
    ids.push_back(json::parse(added->body)["id"].get<int64_t>());
  }
  // Checked at once, up after their first passes; answered in rotation.
  for (const std::string& address : kStoryAddresses) {
    CAPTURE(address);
    CHECK(within(3s, [&] { return health_of(api, address) == "up"; }));
  }
  const std::set<std::string> all(kStoryAddresses.begin(), kStoryAddresses.end());
  CHECK(rotation(rotor.endpoint()) == all);
  std::set<std::string> leaders;
  for (int i = 0; i < 3; ++i) {
    const auto reply = exchange_udp(rotor.endpoint(), make_query(kArray, "A", resolver_options()));
    REQUIRE(reply);
    REQUIRE(reply->packet);
    const auto records = canonical_section_text(*reply->packet, LDNS_SECTION_ANSWER);
    REQUIRE(records.size() == 3);
    // canonical_section_text sorts; the reply's own first record is the rotation's leader.
    char* first = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(reply->packet.get()), 0), 0));
    leaders.insert(first);
    free(first);
  }
  CHECK(leaders.size() == 3);  // each instance leads in turn

  // A server dies: gone from every answer within interval x fall + 1 s.
  web[1].reset();
  const auto gone = within(1400ms, [&] {
    return rotation(rotor.endpoint()) == std::set<std::string>{"127.0.0.11", "127.0.0.13"};
  });
  CHECK(gone);
  CHECK(health_of(api, "127.0.0.12") == "down");

  // It comes back: answered again within interval x rise + 1 s.
  web[1] = std::make_unique<HttpBackend>(ok, kStoryAddresses[1], port);
  CHECK(within(1400ms, [&] { return rotation(rotor.endpoint()) == all; }));

  // Draining through the API takes it out of the answers within 100 ms.
  const auto drained = api.Patch(std::string("/v1/arrays/") + kArray + "/instances/" + std::to_string(ids[2]),
                                 R"({"state": "draining"})", "application/json");
  REQUIRE(drained);
  CHECK(drained->status == 200);
  CHECK(within(100ms, [&] {
    return rotation(rotor.endpoint()) == std::set<std::string>{"127.0.0.11", "127.0.0.12"};
  }));

  // The event log tells the story of 127.0.0.12: down, then up.
  const auto events = api.Get("/v1/events?since=0&limit=100");
  REQUIRE(events);
  REQUIRE(events->status == 200);
  std::vector<std::string> story;
  const json log = json::parse(events->body);
  for (const json& event : log["events"]) {
    if (event["address"] == "127.0.0.12" && event["kind"] == "health") {
      story.push_back(event["new"].get<std::string>() + ": " + event["reason"].get<std::string>());
    }
  }
  REQUIRE(story.size() >= 3);
  CHECK(story[story.size() - 2] == "down: connection refused");
  CHECK(story.back() == "up: rise: 2 passes");

  // Dashboards see the same through /metrics (enabled instances only: .13 drains).
  const auto metrics = api.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->body.find("rotor_array_instances{array=\"web.lb.example.test.\",health=\"up\"} 2\n") !=
        std::string::npos);
  CHECK(metrics->body.find("rotor_dns_queries_total{qtype=\"A\",transport=\"udp\"} ") != std::string::npos);
  CHECK(metrics->body.find("rotor_health_transitions_total ") != std::string::npos);
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
