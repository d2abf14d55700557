// remove_after end to end (issue 15): the rotor binary probing HTTP backends
// the test starts on 127.0.0.61-64, answered through real DNS packets, with
// the array's instances and the event log read over the API. Instances
// registered through the API that stay down for remove_after (2s here) leave
// the answers and the API, each with an "instance removed" event that keeps
// its last record; the one the config lists and a disabled one stay.

#include <httplib.h>

#include <chrono>
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

TEST_SUITE_BEGIN("integration/remove_after");

namespace rotor::itest {
namespace {

using nlohmann::json;
using probes::testing::HttpBackend;
using Clock = std::chrono::steady_clock;

const std::string kRemoveAfterArray = "web.lb.example.test.";

std::set<std::string> answered_set(const Endpoint& server) {
  std::set<std::string> addresses;
  std::optional<Reply> response = exchange_udp(server, make_query(kRemoveAfterArray, "A", resolver_options()));
  if (!response || !response->packet) return addresses;
  const ldns_rr_list* answer = ldns_pkt_answer(response->packet.get());
  for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_A) continue;
    char* text = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    addresses.insert(text != nullptr ? text : "?");
    std::free(text);
  }
  return addresses;
}

// Polls (every 20 ms, at most `limit`) until the answer is `wanted`.
bool answers_become(const Endpoint& server, const std::set<std::string>& wanted,
                    std::chrono::seconds limit = 5s) {
  const auto start = Clock::now();
  while (Clock::now() - start < limit) {
    if (answered_set(server) == wanted) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

json remove_after_json(httplib::Client& api, const std::string& path) {
  auto reply = api.Get(path);
  REQUIRE(reply);
  REQUIRE_MESSAGE(reply->status == 200, reply->body);
  return json::parse(reply->body);
}

std::set<std::string> api_addresses(httplib::Client& api) {
  std::set<std::string> addresses;
  for (const json& instance : remove_after_json(api, "/v1/arrays/" + kRemoveAfterArray + "/instances")) {
    addresses.insert(instance["address"].get<std::string>());
  }
  return addresses;
}

TEST_CASE("instances down for remove_after leave the answers and the API - with an event each") {
  ::unsetenv("ROTOR_API_TOKEN");
  const HttpBackend::Reply ok{200, "ok", ""};
  auto first = std::make_unique<HttpBackend>(ok, "127.0.0.61");
  const uint16_t port = first->port();
  auto second = std::make_unique<HttpBackend>(ok, "127.0.0.62", port);
  // 127.0.0.63 (listed in the config) and 127.0.0.64 (disabled) have no backend: down.
  TempDir dir;
  json config = declared_zone_config(dir);
  config["publish_interval"] = "0ms";
  config["api"] = {{"listen", "127.0.0.1:0"}};
  config["arrays"] = json::array({{{"name", kRemoveAfterArray},
                                   {"remove_after", "2s"},
                                   {"check",
                                    {{"type", "http"}, {"port", port}, {"path", "/health"}, {"interval", "100ms"},
                                     {"timeout", "80ms"}, {"rise", 1}, {"fall", 1}}},
                                   {"instances", {{{"address", "127.0.0.63"}}}}}});
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());
  const int api_port = rotor.api_port();
  REQUIRE(api_port > 0);
  httplib::Client api("127.0.0.1", api_port);
  api.set_read_timeout(5s);
  CHECK(remove_after_json(api, "/v1/arrays/" + kRemoveAfterArray)["remove_after"] == "2s");
  for (const char* body : {R"({"address": "127.0.0.61"})", R"({"address": "127.0.0.62"})",
                           R"({"address": "127.0.0.64", "state": "disabled"})"}) {
    auto added = api.Post("/v1/arrays/" + kRemoveAfterArray + "/instances", body, "application/json");
    REQUIRE(added);
    REQUIRE_MESSAGE(added->status == 201, added->body);
  }
  CHECK(answers_become(rotor.endpoint(), {"127.0.0.61", "127.0.0.62"}));

  // Every backend gone: none healthy, so every enabled instance answers
  // (when_all_down all) until remove_after takes the API's two away.
  const auto down_at = Clock::now();
  first.reset();
  second.reset();
  CHECK(answers_become(rotor.endpoint(), {"127.0.0.61", "127.0.0.62", "127.0.0.63"}));
  REQUIRE(answers_become(rotor.endpoint(), {"127.0.0.63"}, 15s));
  CHECK(Clock::now() - down_at >= 2s);  // not before remove_after
  CHECK(api_addresses(api) == std::set<std::string>{"127.0.0.63", "127.0.0.64"});

  const json events = remove_after_json(api, "/v1/events?kind=admin&array=" + kRemoveAfterArray);
  CAPTURE(events.dump());
  std::set<std::string> removed;
  for (const json& event : events["events"]) {
    if (!event["reason"].get<std::string>().starts_with("instance removed")) continue;
    removed.insert(event["address"].get<std::string>());
    CHECK(event["source"] == "remove_after");
    CHECK(event["reason"].get<std::string>().starts_with("instance removed: remove_after 2s: down for "));
    const json last = json::parse(event["old"].get<std::string>());
    CHECK(last["address"] == event["address"]);
    CHECK(last["state"] == "enabled");
    CHECK(last["health"] == "down");
    CHECK(last.contains("health_reason"));
    CHECK(last.contains("health_changed"));
    CHECK(event["new"] == "");
  }
  CHECK(removed == std::set<std::string>{"127.0.0.61", "127.0.0.62"});
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
