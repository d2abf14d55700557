// A rotor cluster end to end (issue 14): a real three-member etcd cluster and
// three rotor nodes on loopback, each with its own database (its cache).
// What is checked is what an operator sees: a write through one node's API
// answered by every node, the same SOA serial everywhere, writes refused with
// 503 and DNS answering every query while etcd has no quorum, and nodes that
// (etcd coming back, and a node restarting from its cache while etcd is
// down, are in cluster_store.cc).

#include <httplib.h>
#include <stdlib.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
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

using cluster::testing::EtcdCluster;
using cluster::testing::EtcdClusterOptions;
using nlohmann::json;

constexpr const char* kArray = "web.lb.example.test";

// One rotor node: its directory (config, database = the node's cache) outlives
// restarts of the process.
class Node {
 public:
  Node(std::string name, const EtcdCluster& etcd) : name_(std::move(name)) {
    json config = declared_zone_config(dir_);
    config["cluster"] = {{"node", name_},
                         {"etcd", {{"endpoints", etcd.endpoints()}, {"lease_ttl", "3s"}}}};
    config_path_ = dir_.write("rotor.json", config.dump());
    start();
  }

  void start() {
    ::unsetenv("ROTOR_API_TOKEN");
    server_ = std::make_unique<RotorServer>(std::vector<std::string>{"--config", config_path_});
    REQUIRE_MESSAGE(server_->ready(), name_);
    api_port_ = server_->api_port();
    REQUIRE_MESSAGE(api_port_ > 0, server_->process().stderr_text());
  }
  // A node without an etcd quorum may wait out requests in flight (5 s
  // each) before it exits: `limit` for those.
  void stop(std::chrono::milliseconds limit = 10s) {
    server_->process().signal(SIGTERM);
    CHECK(server_->process().wait_exit(limit) == 0);
    server_.reset();
  }

  const Endpoint& dns() const { return server_->endpoint(); }
  httplib::Client api() const {
    httplib::Client client("127.0.0.1", api_port_);
    client.set_read_timeout(20s);
    client.set_write_timeout(5s);
    return client;
  }
  RotorServer& server() { return *server_; }

 private:
  std::string name_;
  TempDir dir_;
  std::string config_path_;
  std::unique_ptr<RotorServer> server_;
  int api_port_ = 0;
};

// Waits until `node` answers `name` with exactly `expected` (bounded).
bool answers_within(const Node& node, const std::set<std::string>& expected,
                    std::chrono::milliseconds limit, const std::string& name = kArray) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (answered_addresses(node.dns(), name) == expected) return true;
    std::this_thread::sleep_for(10ms);
  }
  return answered_addresses(node.dns(), name) == expected;
}

std::optional<uint32_t> soa_serial(const Node& node) {
  const auto reply =
      exchange_udp(node.dns(), make_query("lb.example.test", "SOA", resolver_options()));
  if (!reply || !reply->packet) return std::nullopt;
  const ldns_rr_list* answer = ldns_pkt_answer(reply->packet.get());
  for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* record = ldns_rr_list_rr(answer, i);
    if (ldns_rr_get_type(record) == LDNS_RR_TYPE_SOA) {
      return ldns_rdf2native_int32(ldns_rr_rdf(record, 2));
    }
  }
  return std::nullopt;
}

// A write that raced another node's (nodes bump the zone serial as they
// start) is a 409 that says "retry", as a client would.
httplib::Result write_retrying(const std::function<httplib::Result()>& write) {
  for (int attempt = 0;; ++attempt) {
    httplib::Result result = write();
    if (!result || result->status != 409 || attempt == 5 ||
        result->body.find("changed concurrently") == std::string::npos) {
      return result;
    }
    std::this_thread::sleep_for(100ms);
  }
}

void create_array(Node& node, const std::vector<std::string>& addresses) {
  auto api = node.api();
  auto created = write_retrying([&] {
    return api.Put(std::string("/v1/arrays/") + kArray, R"({"ttl": 30})", "application/json");
  });
  REQUIRE(created);
  REQUIRE_MESSAGE(created->status / 100 == 2, created->body);
  for (const std::string& address : addresses) {
    auto added = write_retrying([&] {
      return api.Post(std::string("/v1/arrays/") + kArray + "/instances",
                      json{{"address", address}}.dump(), "application/json");
    });
    REQUIRE(added);
    REQUIRE_MESSAGE(added->status == 201, added->body);
  }
}

// Adds `address` through `node`, again while etcd answers 503 (a member
// lost: a new leader is being elected) or 409 "retry", up to `limit`; the
// last status and body.
std::pair<int, std::string> add_until_committed(const Node& node, const std::string& address,
                                                std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  std::string body;
  while (status != 201 && std::chrono::steady_clock::now() < deadline) {
    auto added = write_retrying([&] {
      return node.api().Post(std::string("/v1/arrays/") + kArray + "/instances",
                             json{{"address", address}}.dump(), "application/json");
    });
    status = added ? added->status : 0;
    body = added ? added->body : std::string();
    if (status != 201) std::this_thread::sleep_for(500ms);
  }
  return {status, body};
}

TEST_SUITE("integration/cluster") {
  TEST_CASE("a write through one node is answered by every node with one serial") {
    EtcdCluster etcd({.members = 3});
    Node a("ns1", etcd), b("ns2", etcd), c("ns3", etcd);

    create_array(a, {"192.0.2.10", "192.0.2.11"});
    const std::set<std::string> both{"192.0.2.10", "192.0.2.11"};
    for (const Node* node : {&a, &b, &c}) CHECK(answers_within(*node, both, 5s));

    // A write through another node reaches the first.
    auto api = c.api();
    auto added = write_retrying([&] {
      return api.Post(std::string("/v1/arrays/") + kArray + "/instances",
                      json{{"address", "192.0.2.12"}}.dump(), "application/json");
    });
    REQUIRE(added);
    CHECK(added->status == 201);
    const std::set<std::string> three{"192.0.2.10", "192.0.2.11", "192.0.2.12"};
    for (const Node* node : {&a, &b, &c}) CHECK(answers_within(*node, three, 5s));

    // Same data, same serial.
    const auto serial = soa_serial(a);
    REQUIRE(serial.has_value());
    CHECK(soa_serial(b) == serial);
    CHECK(soa_serial(c) == serial);

    // The same array read through any node is the same array.
    auto from_a = a.api().Get(std::string("/v1/arrays/") + kArray);
    auto from_b = b.api().Get(std::string("/v1/arrays/") + kArray);
    REQUIRE(from_a);
    REQUIRE(from_b);
    CHECK(json::parse(from_a->body)["instances"] == json::parse(from_b->body)["instances"]);
  }

  TEST_CASE("a network written through one node places clients on the other") {
    EtcdCluster etcd({.members = 1});
    Node a("ns1", etcd), b("ns2", etcd);
    auto api_a = a.api();
    auto created = write_retrying([&] {
      return api_a.Put(std::string("/v1/arrays/") + kArray, R"({"policy": "geo"})", "application/json");
    });
    REQUIRE(created);
    REQUIRE_MESSAGE(created->status / 100 == 2, created->body);
    auto listed = write_retrying([&] {
      return api_a.Put(std::string("/v1/arrays/") + kArray + "/instances",
                       R"([{"address": "192.0.2.10", "region": "eu"}, {"address": "192.0.2.20", "region": "us"}])",
                       "application/json");
    });
    REQUIRE(listed);
    REQUIRE_MESSAGE(listed->status == 200, listed->body);

    // The first address `node` answers a client in 10.2.9.0/24 (ECS), once it is `expected`.
    const auto first_within = [](const Node& node, const std::string& expected) {
      QueryOptions options = resolver_options();
      options.client_subnet = ClientSubnet{.family = 1, .source_prefix = 24, .scope_prefix = 0, .address = {10, 2, 9}};
      std::string first;
      const auto deadline = std::chrono::steady_clock::now() + 5s;
      while (first != expected && std::chrono::steady_clock::now() < deadline) {
        const auto reply = exchange_udp(node.dns(), make_query(kArray, "A", options));
        first.clear();
        if (reply && reply->packet && ldns_rr_list_rr_count(ldns_pkt_answer(reply->packet.get())) == 2) {
          char* text = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(reply->packet.get()), 0), 0));
          first = text != nullptr ? text : "";
          std::free(text);
        }
        if (first != expected) std::this_thread::sleep_for(20ms);
      }
      return first;
    };
    struct Step {
      Node* writer;
      Node* reader;
      std::string region;
      std::string first;  // the address answered first then
    };
    for (const Step& step : {Step{&a, &b, "us", "192.0.2.20"}, Step{&b, &a, "eu", "192.0.2.10"}}) {
      CAPTURE(step.region);
      auto put = write_retrying([&] {
        return step.writer->api().Put("/v1/networks/10.2.0.0/16", json{{"region", step.region}}.dump(),
                                      "application/json");
      });
      REQUIRE(put);
      REQUIRE_MESSAGE(put->status / 100 == 2, put->body);
      CHECK(first_within(*step.reader, step.first) == step.first);
      CHECK(first_within(*step.writer, step.first) == step.first);
      auto seen = step.reader->api().Get("/v1/networks/10.2.0.0/16");
      REQUIRE(seen);
      CHECK(json::parse(seen->body) == json{{"cidr", "10.2.0.0/16"}, {"region", step.region}, {"source", "api"}});
    }
    // A region written on one node is served by the other.
    auto region = write_retrying([&] {
      return api_a.Put("/v1/regions/us", R"({"prefer": ["eu"]})", "application/json");
    });
    REQUIRE(region);
    CHECK(region->status == 201);
    bool listed_on_b = false;
    for (int attempt = 0; attempt < 250 && !listed_on_b; ++attempt) {
      auto regions = b.api().Get("/v1/regions/us");
      listed_on_b = regions && regions->status == 200;
      if (!listed_on_b) std::this_thread::sleep_for(20ms);
    }
    CHECK(listed_on_b);
  }

  TEST_CASE("a node restarted while another writes catches up") {
    EtcdCluster etcd({.members = 3});
    Node a("ns1", etcd), b("ns2", etcd);
    create_array(a, {"192.0.2.10"});
    CHECK(answers_within(b, {"192.0.2.10"}, 5s));

    b.stop();
    auto api = a.api();
    auto added = write_retrying([&] {
      return api.Post(std::string("/v1/arrays/") + kArray + "/instances",
                      json{{"address", "192.0.2.11"}}.dump(), "application/json");
    });
    REQUIRE(added);
    CHECK(added->status == 201);
    b.start();
    CHECK(answers_within(b, {"192.0.2.10", "192.0.2.11"}, 5s));
  }

  TEST_CASE("one etcd member down changes nothing - without a quorum writes get 503 and every node keeps answering - members back and all converge") {
    EtcdCluster etcd({.members = 3});
    Node a("ns1", etcd), b("ns2", etcd), c("ns3", etcd);
    create_array(a, {"192.0.2.10", "192.0.2.11"});
    const std::set<std::string> two{"192.0.2.10", "192.0.2.11"};
    for (const Node* node : {&a, &b, &c}) REQUIRE(answers_within(*node, two, 5s));

    // One member of three down: writes commit and every node learns them.
    etcd.kill(1);
    const auto [added, added_body] = add_until_committed(b, "192.0.2.12", 15s);
    REQUIRE_MESSAGE(added == 201, added_body);
    const std::set<std::string> three{"192.0.2.10", "192.0.2.11", "192.0.2.12"};
    for (const Node* node : {&a, &b, &c}) CHECK(answers_within(*node, three, 5s));

    etcd.kill(2);

    // A write cannot be committed: 503 with the JSON error, in bounded time.
    const auto start = std::chrono::steady_clock::now();
    auto refused = b.api().Post(std::string("/v1/arrays/") + kArray + "/instances",
                                json{{"address", "192.0.2.13"}}.dump(), "application/json");
    REQUIRE(refused);
    CHECK(refused->status == 503);
    CHECK(json::parse(refused->body).contains("error"));
    CHECK(std::chrono::steady_clock::now() - start < 20s);

    // DNS: every query answered, by every node, with the last data.
    size_t sent = 0, answered = 0;
    for (int round = 0; round < 100; ++round) {
      for (const Node* node : {&a, &b, &c}) {
        ++sent;
        if (answered_addresses(node->dns(), kArray) == three) ++answered;
      }
    }
    CHECK(answered == sent);

    // Reads are served, and say how stale they may be.
    int read_status = 0;
    bool stale_header = false;
    for (int attempt = 0; attempt < 100 && !stale_header; ++attempt) {
      auto read = c.api().Get(std::string("/v1/arrays/") + kArray);
      read_status = read ? read->status : 0;
      stale_header = read && read->has_header("Rotor-Stale-Seconds");
      if (!stale_header) std::this_thread::sleep_for(100ms);
    }
    CHECK(read_status == 200);
    CHECK(stale_header);

    // Every rotor node restarted while etcd has no quorum answers from its cache at once.
    for (Node* node : {&a, &b, &c}) {
      node->stop(30s);
      node->start();
      CHECK(answered_addresses(node->dns(), kArray) == three);
    }

    // The members back: writes commit again and every node converges. The
    // write refused with 503 above may have been committed meanwhile (etcd
    // keeps a proposal made without quorum): whatever etcd holds, all agree.
    etcd.restart(1);
    etcd.restart(2);
    const auto [status, body] = add_until_committed(c, "192.0.2.14", 30s);
    CHECK_MESSAGE(status == 201, body);
    std::set<std::string> held;
    for (const auto& instance : json::parse(c.api().Get(std::string("/v1/arrays/") + kArray + "/instances")->body)) {
      held.insert(instance["address"].get<std::string>());
    }
    CHECK(held.contains("192.0.2.14"));
    CHECK(held.size() >= 4);
    for (const Node* node : {&a, &b, &c}) CHECK(answers_within(*node, held, 10s));
    const auto serial = soa_serial(a);
    CHECK(serial.has_value());
    CHECK(soa_serial(b) == serial);
    CHECK(soa_serial(c) == serial);
  }
}

}  // namespace
}  // namespace rotor::itest
