// Cluster health verdicts end to end (issue 14): one etcd member and three
// rotor nodes on loopback, each probing from its own source address
// (probes.source_address 127.0.0.2, .3, .4), and HTTP backends that can
// refuse one node's probes. What is checked is what every node serves and
// reports: the quorum rules over the nodes' votes, a backend down for
// everyone going down everywhere in bounded time, a killed node's votes
// leaving with its lease, an abstaining node that cannot take instances
// down, one event per transition for the whole cluster, and nodes cut off
// from etcd deciding from their own probes after cluster.isolation_fallback,
// and a quorum changed through the API applied at once.

#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/backends.h"
#include "tests/support/etcd_cluster.h"
#include "tests/support/eventually.h"

namespace rotor::itest {
namespace {

using ::rotor::test::eventually;

using cluster::testing::EtcdCluster;
using nlohmann::json;
using probes::testing::HttpBackend;
using Clock = std::chrono::steady_clock;

constexpr auto kLeaseTtl = 2s;
constexpr auto kInterval = 500ms;
constexpr int kFall = 2;
// Beyond interval x fall: the node's 1 s hold of a down vote, its publish,
// the watch, the verdict, with room for a loaded 2-core machine.
constexpr auto kSlack = 5s;

// One rotor node probing from `source` (a 127.0.0.x of its own).
class HealthNode {
 public:
  // `cluster`: more keys of the cluster section (isolation_fallback).
  HealthNode(std::string name, const std::string& source, const EtcdCluster& etcd, const json& cluster = json::object())
      : name_(std::move(name)) {
    json config = declared_zone_config(dir_);
    config["cluster"] = {{"node", name_},
                         {"etcd", {{"endpoints", etcd.endpoints()}, {"lease_ttl", "2s"}}}};
    config["cluster"].update(cluster);
    config["probes"] = {{"source_address", source}};
    ::unsetenv("ROTOR_API_TOKEN");
    server_ = std::make_unique<RotorServer>(
        std::vector<std::string>{"--config", dir_.write("rotor.json", config.dump())});
    REQUIRE_MESSAGE(server_->ready(), name_);
    api_port_ = server_->api_port();
    REQUIRE_MESSAGE(api_port_ > 0, server_->process().stderr_text());
  }

  // SIGKILL: no lease revoked, its keys stay until the lease expires.
  void kill() {
    server_->process().signal(SIGKILL);
    CHECK(server_->process().wait_exit(10s).has_value());
  }

  const std::string& name() const { return name_; }
  httplib::Client api() const {
    httplib::Client client("127.0.0.1", api_port_);
    client.set_read_timeout(20s);
    client.set_write_timeout(5s);
    return client;
  }
  std::string log() const { return server_->process().stderr_text(); }

 private:
  std::string name_;
  TempDir dir_;
  std::unique_ptr<RotorServer> server_;
  int api_port_ = 0;
};

json check(uint16_t port, const std::string& quorum) {
  return {{"type", "http"}, {"port", port},       {"path", "/"},  {"interval", "500ms"},
          {"timeout", "200ms"}, {"rise", 1}, {"fall", kFall}, {"quorum", quorum}};
}

// Writes that raced a starting node's are retried, as a client would.
void write_or_fail(const std::function<httplib::Result()>& write) {
  for (int attempt = 0;; ++attempt) {
    httplib::Result result = write();
    REQUIRE(result);
    if (result->status / 100 == 2) return;
    REQUIRE_MESSAGE((result->status == 409 && attempt < 5), result->body);
    std::this_thread::sleep_for(100ms);
  }
}

void create_array(const HealthNode& node, const std::string& name, const json& check,
                  const std::vector<std::string>& addresses) {
  auto api = node.api();
  write_or_fail([&] {
    return api.Put("/v1/arrays/" + name, json{{"ttl", 30}, {"check", check}}.dump(), "application/json");
  });
  json instances = json::array();
  for (const std::string& address : addresses) instances.push_back({{"address", address}});
  write_or_fail([&] { return api.Put("/v1/arrays/" + name + "/instances", instances.dump(), "application/json"); });
}

// The array's instances as `node` reports them (GET .../health), by address.
std::map<std::string, json> instances(const HealthNode& node, const std::string& array) {
  auto reply = node.api().Get("/v1/arrays/" + array + "/health");
  std::map<std::string, json> out;
  if (!reply || reply->status != 200) return out;
  const json body = json::parse(reply->body);  // outlives the loop over its part
  for (const json& instance : body["instances"]) out[instance["address"]] = instance;
  return out;
}

std::string health(const HealthNode& node, const std::string& array, const std::string& address) {
  const auto all = instances(node, array);
  const auto it = all.find(address);
  return it == all.end() ? "" : it->second["health"].get<std::string>();
}

// How `node` decided the instance (GET .../health: quorum.decision).
std::string decision(const HealthNode& node, const std::string& array, const std::string& address) {
  const auto all = instances(node, array);
  const auto it = all.find(address);
  if (it == all.end() || !it->second["quorum"].is_object()) return "";
  return it->second["quorum"]["decision"].get<std::string>();
}

// "ns1=down ns2=up ..." of the observers `node` counts or lists for the instance.
std::string votes(const HealthNode& node, const std::string& array, const std::string& address) {
  const auto all = instances(node, array);
  const auto it = all.find(address);
  if (it == all.end() || !it->second.contains("observers")) return "";
  std::string out;
  for (const json& observer : it->second["observers"]) {
    if (!out.empty()) out += " ";
    out += observer["node"].get<std::string>() + "=" + observer["health"].get<std::string>();
    if (observer.value("abstaining", false)) out += "(abstaining)";
  }
  return out;
}

// Health events of `array` whose new value is `value`, from the cluster's log.
size_t health_events(const HealthNode& node, const std::string& array, const std::string& value) {
  auto reply = node.api().Get("/v1/events?since=0&limit=1000");
  REQUIRE(reply);
  size_t count = 0;
  const json body = json::parse(reply->body);
  for (const json& event : body["events"]) {
    if (event["kind"] == "health" && event["array"] == array && event["new"] == value) ++count;
  }
  return count;
}

// The health events of `array`, oldest first: "up down up".
std::string health_sequence(const HealthNode& node, const std::string& array) {
  auto reply = node.api().Get("/v1/events?since=0&limit=1000");
  REQUIRE(reply);
  const json body = json::parse(reply->body);
  std::string out;
  for (const json& event : body["events"]) {
    if (event["kind"] != "health" || event["array"] != array) continue;
    out += (out.empty() ? "" : " ") + event["new"].get<std::string>();
  }
  return out;
}

TEST_SUITE("integration/cluster_health") {
  TEST_CASE("a backend refusing one node stays up under majority and goes down under all then down for all goes down everywhere") {
    EtcdCluster etcd({.members = 1});
    auto backend = std::make_unique<HttpBackend>(HttpBackend::Reply{200, "ok", ""});
    backend->refuse_peer("127.0.0.2");  // ns1's probes only
    HealthNode a("ns1", "127.0.0.2", etcd), b("ns2", "127.0.0.3", etcd), c("ns3", "127.0.0.4", etcd);
    const std::string majority = "majority.lb.example.test.", all = "all.lb.example.test.";
    create_array(a, majority, check(backend->port(), "majority"), {"127.0.0.1"});
    create_array(b, all, check(backend->port(), "all"), {"127.0.0.1"});

    for (const HealthNode* node : {&a, &b, &c}) {
      for (const std::string& array : {majority, all}) {
        CHECK_MESSAGE(eventually([&] { return votes(*node, array, "127.0.0.1") == "ns1=down ns2=up ns3=up"; }, 20s),
                      (node->name() + " " + array + ": " + votes(*node, array, "127.0.0.1")));
      }
      CHECK(eventually([&] { return health(*node, majority, "127.0.0.1") == "up"; }, 3s));
      CHECK(eventually([&] { return health(*node, all, "127.0.0.1") == "down"; }, 3s));
    }
    // One record of each transition for the whole cluster, whichever nodes reached it.
    std::this_thread::sleep_for(1s);
    CHECK(health_events(c, all, "down") == 1);
    CHECK(health_events(c, majority, "down") == 0);
    CHECK(health_events(c, majority, "up") == 1);

    // Down for everyone: down on every node within interval x fall + slack.
    const auto stopped = Clock::now();
    backend.reset();
    for (const HealthNode* node : {&a, &b, &c}) {
      CHECK_MESSAGE(eventually([&] { return health(*node, majority, "127.0.0.1") == "down"; },
                               kInterval * kFall + kSlack),
                    (node->name() + ": " + votes(*node, majority, "127.0.0.1")));
    }
    MESSAGE("down on every node after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stopped).count() << " ms");
    std::this_thread::sleep_for(1s);
    CHECK(health_events(a, majority, "down") == 1);
  }

  TEST_CASE("a node killed with SIGKILL stops voting once its lease expires") {
    EtcdCluster etcd({.members = 1});
    HttpBackend backend(HttpBackend::Reply{200, "ok", ""});
    backend.refuse_peer("127.0.0.2");
    HealthNode a("ns1", "127.0.0.2", etcd), b("ns2", "127.0.0.3", etcd), c("ns3", "127.0.0.4", etcd);
    const std::string all = "all.lb.example.test.";
    create_array(b, all, check(backend.port(), "all"), {"127.0.0.1"});
    for (const HealthNode* node : {&b, &c}) {
      REQUIRE_MESSAGE(eventually([&] { return health(*node, all, "127.0.0.1") == "down"; }, 20s),
                      (node->name() + ": " + votes(*node, all, "127.0.0.1")));
    }

    const auto killed = Clock::now();
    a.kill();
    for (const HealthNode* node : {&b, &c}) {
      CHECK_MESSAGE(eventually([&] { return votes(*node, all, "127.0.0.1") == "ns2=up ns3=up"; },
                               kLeaseTtl + kSlack),
                    (node->name() + ": " + votes(*node, all, "127.0.0.1")));
      CHECK(eventually([&] { return health(*node, all, "127.0.0.1") == "up"; }, 3s));
    }
    MESSAGE("ns1's votes gone after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count() << " ms");
    // Each transition recorded once: up (ns2 and ns3 checked first; ns1's down
    // is held 1 s), down (ns1's vote), up (without ns1).
    std::this_thread::sleep_for(1s);
    CHECK(health_sequence(b, all) == "up down up");
  }

  TEST_CASE("a node whose probes all fail at once abstains and takes nothing down") {
    EtcdCluster etcd({.members = 1});
    // Four backends on one port, each on its own address, all refusing ns1.
    std::vector<std::unique_ptr<HttpBackend>> backends;
    std::vector<std::string> addresses;
    for (const char* address : {"127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"}) {
      const uint16_t port = backends.empty() ? 0 : backends.front()->port();
      backends.push_back(std::make_unique<HttpBackend>(HttpBackend::Reply{200, "ok", ""}, address, port));
      backends.back()->refuse_peer("127.0.0.2");
      addresses.emplace_back(address);
    }
    HealthNode a("ns1", "127.0.0.2", etcd), b("ns2", "127.0.0.3", etcd), c("ns3", "127.0.0.4", etcd);
    const std::string all = "all.lb.example.test.";
    // "all": without the abstain rule, ns1's down votes alone would take every instance down.
    create_array(a, all, check(backends.front()->port(), "all"), addresses);

    for (const HealthNode* node : {&a, &b, &c}) {
      for (const std::string& address : addresses) {
        CHECK_MESSAGE(eventually([&] { return votes(*node, all, address) == "ns1=down(abstaining) ns2=up ns3=up"; },
                                 20s),
                      (node->name() + " " + address + ": " + votes(*node, all, address)));
        CHECK(eventually([&] { return health(*node, all, address) == "up"; }, 3s));
      }
    }
    // Never down, not even for a moment: no down event was recorded.
    std::this_thread::sleep_for(1s);
    CHECK_MESSAGE(health_events(b, all, "down") == 0, b.api().Get("/v1/events?since=0&limit=1000")->body);
    CHECK(health_events(b, all, "up") == 4);
  }

  TEST_CASE("a quorum changed through the API applies on every node at once") {
    EtcdCluster etcd({.members = 1});
    HttpBackend backend(HttpBackend::Reply{200, "ok", ""});
    backend.refuse_peer("127.0.0.2");  // ns1's probes only
    HealthNode a("ns1", "127.0.0.2", etcd), b("ns2", "127.0.0.3", etcd), c("ns3", "127.0.0.4", etcd);
    const std::string array = "quorum.lb.example.test.";
    create_array(a, array, check(backend.port(), "all"), {"127.0.0.1"});
    for (const HealthNode* node : {&a, &b, &c}) {
      REQUIRE_MESSAGE(eventually([&] { return votes(*node, array, "127.0.0.1") == "ns1=down ns2=up ns3=up"; }, 20s),
                      (node->name() + ": " + votes(*node, array, "127.0.0.1")));
      REQUIRE(eventually([&] { return health(*node, array, "127.0.0.1") == "down"; }, 3s));
    }

    // Through ns2: "majority". Every node decides again on the change, well
    // before the verdicts' 10 s full pass.
    const auto changed = Clock::now();
    write_or_fail([&] {
      return b.api().Patch("/v1/arrays/" + array, json{{"check", check(backend.port(), "majority")}}.dump(),
                           "application/json");
    });
    for (const HealthNode* node : {&a, &b, &c}) {
      CHECK_MESSAGE(eventually([&] { return health(*node, array, "127.0.0.1") == "up"; }, 4s),
                    (node->name() + ": " + decision(*node, array, "127.0.0.1")));
    }
    MESSAGE("up on every node after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - changed).count() << " ms");
  }

  TEST_CASE("cut off from etcd past isolation_fallback each node decides by its own probes then returns to the shared verdict") {
    EtcdCluster etcd({.members = 1});
    // .10 goes down for everyone while etcd is gone; .11 refuses ns1's probes only.
    auto goes_down = std::make_unique<HttpBackend>(HttpBackend::Reply{200, "ok", ""}, "127.0.0.10");
    HttpBackend refuses_ns1(HttpBackend::Reply{200, "ok", ""}, "127.0.0.11", goes_down->port());
    refuses_ns1.refuse_peer("127.0.0.2");
    constexpr auto kFallback = 2s;
    const json cluster{{"isolation_fallback", "2s"}};
    HealthNode a("ns1", "127.0.0.2", etcd, cluster), b("ns2", "127.0.0.3", etcd, cluster),
        c("ns3", "127.0.0.4", etcd, cluster);
    const std::string majority = "majority.lb.example.test.";
    create_array(a, majority, check(goes_down->port(), "majority"), {"127.0.0.10", "127.0.0.11"});
    for (const HealthNode* node : {&a, &b, &c}) {
      REQUIRE_MESSAGE(eventually([&] { return votes(*node, majority, "127.0.0.11") == "ns1=down ns2=up ns3=up"; }, 20s),
                      (node->name() + ": " + votes(*node, majority, "127.0.0.11")));
      REQUIRE(eventually([&] { return health(*node, majority, "127.0.0.10") == "up"; }, 3s));
      REQUIRE(eventually([&] { return health(*node, majority, "127.0.0.11") == "up"; }, 3s));
    }

    // etcd gone (every member), then the backend: each node takes it out by its own probes.
    const auto cut = Clock::now();
    etcd.kill(0);
    goes_down.reset();
    for (const HealthNode* node : {&a, &b, &c}) {
      CHECK_MESSAGE(eventually([&] { return health(*node, majority, "127.0.0.10") == "down"; },
                               kFallback + kInterval * kFall + kSlack),
                    (node->name() + ": " + decision(*node, majority, "127.0.0.10")));
      CHECK_MESSAGE(decision(*node, majority, "127.0.0.10").starts_with("isolated from the store, own probes only"),
                    decision(*node, majority, "127.0.0.10"));
      CHECK(votes(*node, majority, "127.0.0.10") == node->name() + "=down");
    }
    MESSAGE("down on every node, cut off, after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - cut).count() << " ms");
    // Alone, ns1 takes down what only it cannot reach; the others keep it.
    CHECK(eventually([&] { return health(a, majority, "127.0.0.11") == "down"; }, 3s));
    CHECK(health(b, majority, "127.0.0.11") == "up");
    CHECK(health(c, majority, "127.0.0.11") == "up");
    CHECK(a.log().find("health from this node's probes alone") != std::string::npos);

    // etcd back: the shared verdict again on every node (ns1's down vote is outvoted).
    etcd.restart(0);
    for (const HealthNode* node : {&a, &b, &c}) {
      CHECK_MESSAGE(eventually([&] { return votes(*node, majority, "127.0.0.11") == "ns1=down ns2=up ns3=up"; },
                               kLeaseTtl + kSlack + 5s),
                    (node->name() + ": " + votes(*node, majority, "127.0.0.11")));
      CHECK(eventually([&] { return health(*node, majority, "127.0.0.11") == "up"; }, 3s));
      CHECK(eventually([&] { return votes(*node, majority, "127.0.0.10") == "ns1=down ns2=down ns3=down"; }, 5s));
      CHECK(health(*node, majority, "127.0.0.10") == "down");
      CHECK_FALSE(decision(*node, majority, "127.0.0.10").starts_with("isolated"));
    }
    CHECK(a.log().find("health from the shared observations") != std::string::npos);
  }
}

}  // namespace
}  // namespace rotor::itest
