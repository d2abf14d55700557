// GET /v1/cluster/nodes end to end: one etcd member and two rotor nodes in
// regions eu and us on loopback. Each node lists both, with their regions,
// leases and applied revisions (another node's as it published it at its
// last keepalive), itself marked self; a node killed with SIGKILL leaves the
// other's list once its lease (2 s) expires.

#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/etcd_cluster.h"
#include "tests/support/eventually.h"

namespace rotor::itest {
namespace {

using ::rotor::test::eventually;

using cluster::testing::EtcdCluster;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

class NodesNode {
 public:
  NodesNode(std::string name, const std::string& region, const EtcdCluster& etcd) : name_(std::move(name)) {
    json config = declared_zone_config(dir_);
    config["cluster"] = {{"node", name_},
                         {"region", region},
                         {"etcd", {{"endpoints", etcd.endpoints()}, {"lease_ttl", "2s"}}}};
    ::unsetenv("ROTOR_API_TOKEN");
    server_ = std::make_unique<RotorServer>(
        std::vector<std::string>{"--config", dir_.write("rotor.json", config.dump())});
    REQUIRE_MESSAGE(server_->ready(), name_);
    api_port_ = server_->api_port();
    REQUIRE_MESSAGE(api_port_ > 0, server_->process().stderr_text());
  }

  // No lease revoked: its keys stay until the lease expires.
  void kill() {
    server_->process().signal(SIGKILL);
    CHECK(server_->process().wait_exit(10s).has_value());
  }

  // The route's body; null when it did not answer 200.
  json nodes() const {
    httplib::Client client("127.0.0.1", api_port_);
    client.set_read_timeout(10s);
    const httplib::Result result = client.Get("/v1/cluster/nodes");
    if (!result || result->status != 200) return nullptr;
    return json::parse(result->body);
  }

 private:
  std::string name_;
  TempDir dir_;
  std::unique_ptr<RotorServer> server_;
  int api_port_ = 0;
};

// Both listed, each with the revision it published.
bool lists_both(const json& body) {
  if (!body.is_object() || body["nodes"].size() != 2) return false;
  for (const json& node : body["nodes"]) {
    if (!node["revision_applied"].is_number_integer() || node["revision_applied"].get<int64_t>() <= 0) return false;
  }
  return true;
}

TEST_SUITE("integration/cluster_nodes") {
  TEST_CASE("both nodes are listed with region lease and revision and a killed node leaves with its lease") {
    EtcdCluster etcd({.members = 1});
    NodesNode a("ns1", "eu", etcd);
    auto b = std::make_unique<NodesNode>("ns2", "us", etcd);

    for (const NodesNode* node : {&a, b.get()}) {
      REQUIRE_MESSAGE(eventually([&] { return lists_both(node->nodes()); }, 20s), node->nodes().dump());
    }
    const json from_a = a.nodes();
    CHECK(from_a["mode"] == "cluster");
    CHECK(from_a["node"] == "ns1");
    const json& ns1 = from_a["nodes"][0];
    const json& ns2 = from_a["nodes"][1];
    CHECK(ns1["name"] == "ns1");
    CHECK(ns1["self"] == true);
    CHECK(ns1["region"] == "eu");
    CHECK(ns1["lease"]["ttl_seconds"] == 2);
    CHECK(ns1["watch_lag_ms"].is_number_integer());
    CHECK(ns2["name"] == "ns2");
    CHECK(ns2["self"] == false);
    CHECK(ns2["region"] == "us");
    CHECK(ns2["lease"]["id"].is_string());
    CHECK(ns2["lease"]["id"] != ns1["lease"]["id"]);
    CHECK(ns2["watch_lag_ms"].is_number_integer());
    CHECK(b->nodes()["nodes"][1]["self"] == true);

    b->kill();
    const auto killed = Clock::now();
    CHECK_MESSAGE(eventually([&] { return a.nodes()["nodes"].size() == 1; }, 15s), a.nodes().dump());
    CHECK(a.nodes()["nodes"][0]["name"] == "ns1");
    MESSAGE("ns2 left the list "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count()
            << " ms after it was killed");
  }
}

}  // namespace
}  // namespace rotor::itest
