// Two rotor nodes sharing their arrays through one etcd member on loopback
// (issue 14): a write through node A's API is answered by node B; with etcd
// gone, writes are 503 JSON, reads say how stale they are, DNS keeps
// answering, and a node restarted meanwhile answers from its cache. An API
// change is one event for the whole cluster, naming its node and API token.

#include <httplib.h>
#include <stdlib.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/etcd_cluster.h"

namespace rotor::itest {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using cluster::testing::EtcdCluster;

const std::set<std::string> kBoth = {"192.0.2.10", "192.0.2.11"};

std::string node_config(const TempDir& dir, const EtcdCluster& etcd, const std::string& node) {
  json config = declared_zone_config(dir);
  config["api"] = {{"listen", "127.0.0.1:0"}};
  config["cluster"] = {{"node", node}, {"etcd", {{"endpoints", etcd.endpoints()}}}};
  return dir.write("rotor.json", config.dump());
}

std::set<std::string> answered_within(const Endpoint& server, const std::set<std::string>& expected,
                                      std::chrono::milliseconds limit) {
  std::set<std::string> seen;
  for (auto deadline = Clock::now() + limit; Clock::now() < deadline;
       std::this_thread::sleep_for(std::chrono::milliseconds(20))) {
    seen = answered_addresses(server, "web.lb.example.test");
    if (seen == expected) break;
  }
  return seen;
}

// The SHA-256 of kEventsSecret: the config's api.tokens entry "ci".
constexpr const char* kEventsSecret = "events-test-secret";
constexpr const char* kEventsSecretSha256 = "9bc1bb9c688e8537b847c9d7456025968a8285e83b2f258889820feb657fd6c8";

TEST_SUITE("integration/cluster_store") {
  TEST_CASE("API changes through node B are events for the whole cluster naming node b and its token") {
    ::unsetenv("ROTOR_API_TOKEN");
    ::unsetenv("ROTOR_ETCD_PASSWORD");
    EtcdCluster etcd;
    TempDir dir_a;
    TempDir dir_b;
    const json tokens = json::array({{{"name", "ci"}, {"scope", "write"}, {"sha256", kEventsSecretSha256}}});
    json config = json::parse(read_file(node_config(dir_a, etcd, "a")));
    config["api"]["tokens"] = tokens;
    RotorServer a({"--config", dir_a.write("rotor.json", config.dump())});
    config = json::parse(read_file(node_config(dir_b, etcd, "b")));
    config["api"]["tokens"] = tokens;
    RotorServer b({"--config", dir_b.write("rotor.json", config.dump())});
    REQUIRE(a.ready());
    REQUIRE(b.ready());
    httplib::Client api_a("127.0.0.1", a.api_port());
    httplib::Client api_b("127.0.0.1", b.api_port());
    for (httplib::Client* api : {&api_a, &api_b}) {
      api->set_read_timeout(std::chrono::seconds(10));
      api->set_bearer_token_auth(kEventsSecret);
    }

    // Both nodes bump the zone serial as they start: a 409 says retry.
    auto created = api_b.Put("/v1/arrays/web.lb.example.test", R"({"ttl": 30})", "application/json");
    for (int attempt = 0; attempt < 5 && created && created->status == 409; ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      created = api_b.Put("/v1/arrays/web.lb.example.test", R"({"ttl": 30})", "application/json");
    }
    REQUIRE(created);
    REQUIRE_MESSAGE(created->status == 201, created->body);
    auto added = api_b.Post("/v1/arrays/web.lb.example.test/instances", R"({"address": "192.0.2.10"})",
                            "application/json");
    REQUIRE(added);
    REQUIRE_MESSAGE(added->status == 201, added->body);
    CHECK(answered_within(a.endpoint(), {"192.0.2.10"}, std::chrono::seconds(5)) ==
          std::set<std::string>{"192.0.2.10"});

    // Read through either node: the two events, made by b with the token ci.
    for (httplib::Client* api : {&api_a, &api_b}) {
      auto events = api->Get("/v1/events?since=0&limit=1000");
      REQUIRE(events);
      REQUIRE(events->status == 200);
      std::vector<json> admin;
      const json body = json::parse(events->body);  // outlives the loop over its part
      for (const json& event : body["events"]) {
        if (event["kind"] == "admin") admin.push_back(event);
      }
      REQUIRE_MESSAGE(admin.size() == 2, events->body);
      CHECK(admin[0]["reason"] == "array created");
      CHECK(admin[1]["reason"] == "instance added");
      CHECK(admin[1]["address"] == "192.0.2.10");
      for (const json& event : admin) {
        CHECK(event["node"] == "b");
        CHECK(event["source"] == "api");
        CHECK(event["token"] == "ci");
      }
    }
  }


  TEST_CASE("a write through node A is answered by node B - and both survive etcd going away") {
    ::unsetenv("ROTOR_API_TOKEN");
    ::unsetenv("ROTOR_ETCD_PASSWORD");
    EtcdCluster etcd;
    TempDir dir_a;
    TempDir dir_b;
    const std::string config_a = node_config(dir_a, etcd, "a");
    const std::string config_b = node_config(dir_b, etcd, "b");
    RotorServer a({"--config", config_a});
    auto b = std::make_unique<RotorServer>(std::vector<std::string>{"--config", config_b});
    REQUIRE(a.ready());
    REQUIRE(b->ready());
    httplib::Client api_a("127.0.0.1", a.api_port());
    api_a.set_read_timeout(std::chrono::seconds(10));

    auto created = api_a.Put("/v1/arrays/web.lb.example.test", R"({"ttl": 30})", "application/json");
    REQUIRE(created);
    REQUIRE(created->status == 201);
    for (const char* address : {"192.0.2.10", "192.0.2.11"}) {
      auto added = api_a.Post("/v1/arrays/web.lb.example.test/instances",
                              json{{"address", address}}.dump(), "application/json");
      REQUIRE(added);
      REQUIRE(added->status == 201);
    }
    CHECK(answered_within(b->endpoint(), kBoth, std::chrono::seconds(5)) == kBoth);
    CHECK(answered_within(a.endpoint(), kBoth, std::chrono::seconds(1)) == kBoth);

    // etcd gone: B restarts and answers from its cache; writes are 503; reads say stale.
    etcd.kill(0);
    b.reset();
    b = std::make_unique<RotorServer>(std::vector<std::string>{"--config", config_b});
    REQUIRE(b->ready());
    CHECK(answered_within(b->endpoint(), kBoth, std::chrono::seconds(2)) == kBoth);

    auto refused = api_a.Post("/v1/arrays/web.lb.example.test/instances",
                              json{{"address", "192.0.2.12"}}.dump(), "application/json");
    REQUIRE(refused);
    CHECK(refused->status == 503);
    CHECK(json::parse(refused->body)["error"]["code"] == 503);
    CHECK(answered_within(a.endpoint(), kBoth, std::chrono::seconds(1)) == kBoth);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    auto stale = api_a.Get("/v1/arrays/web.lb.example.test");
    REQUIRE(stale);
    CHECK(stale->status == 200);
    REQUIRE(stale->has_header("Rotor-Stale-Seconds"));
    CHECK(std::stoi(stale->get_header_value("Rotor-Stale-Seconds")) >= 1);

    // etcd back: writes work again and reach the other node.
    etcd.restart(0);
    bool written = false;
    for (auto deadline = Clock::now() + std::chrono::seconds(10); !written && Clock::now() < deadline;
         std::this_thread::sleep_for(std::chrono::milliseconds(200))) {
      auto added = api_a.Post("/v1/arrays/web.lb.example.test/instances",
                              json{{"address", "192.0.2.12"}}.dump(), "application/json");
      written = added && added->status == 201;
    }
    REQUIRE(written);
    const std::set<std::string> three = {"192.0.2.10", "192.0.2.11", "192.0.2.12"};
    CHECK(answered_within(b->endpoint(), three, std::chrono::seconds(5)) == three);
    auto fresh = api_a.Get("/v1/arrays/web.lb.example.test");
    REQUIRE(fresh);
    CHECK_FALSE(fresh->has_header("Rotor-Stale-Seconds"));
  }
}

}  // namespace
}  // namespace rotor::itest
