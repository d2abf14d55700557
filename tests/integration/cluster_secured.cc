// A rotor cluster on a secured etcd (issue 14), through rotor's own config:
// `cluster.etcd.tls` (ca, cert, key) against members that demand client
// certificates, and `cluster.etcd.username` with the password from
// ROTOR_ETCD_PASSWORD against members with authentication on (users and the
// role set up by the test's EtcdCluster through etcdctl). Two nodes each: a
// write through node A is answered by node B over DNS. A wrong password or a
// CA that does not trust the members stops `rotor serve` at startup with an
// error naming the config key.

#include <httplib.h>
#include <stdlib.h>

#include <chrono>
#include <functional>
#include <memory>
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
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kSecuredArray = "web.lb.example.test";

// A node's config: the members, their CA and the client certificate when the
// cluster has TLS, the user when it has authentication; `ca` overrides the CA.
std::string node_config(const TempDir& dir, const EtcdCluster& etcd, const std::string& node, bool auth,
                        const std::string& ca = "") {
  json config = declared_zone_config(dir);
  json etcd_section = {{"endpoints", etcd.endpoints()}, {"lease_ttl", "3s"}};
  const auto files = etcd.tls();
  if (!files.ca.empty()) {
    etcd_section["tls"] = {{"ca", ca.empty() ? files.ca : ca}, {"cert", files.cert}, {"key", files.key}};
  }
  if (auth) etcd_section["username"] = EtcdCluster::kUser;
  config["cluster"] = {{"node", node}, {"etcd", etcd_section}};
  return dir.write("rotor.json", config.dump());
}

std::unique_ptr<RotorServer> start_node(const std::string& config_path) {
  ::unsetenv("ROTOR_API_TOKEN");
  auto server = std::make_unique<RotorServer>(std::vector<std::string>{"--config", config_path});
  REQUIRE_MESSAGE(server->ready(), server->process().stderr_text());
  return server;
}

// `rotor serve` on kernel-picked ports, for a node that is expected to stop at startup.
std::vector<std::string> serve_args(const std::string& config_path) {
  ::unsetenv("ROTOR_API_TOKEN");
  return {ROTOR_BINARY, "serve", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--config", config_path};
}

bool answers_within(const Endpoint& server, const std::set<std::string>& expected, std::chrono::milliseconds limit) {
  for (const auto deadline = Clock::now() + limit; Clock::now() < deadline; std::this_thread::sleep_for(20ms)) {
    if (answered_addresses(server, kSecuredArray) == expected) return true;
  }
  return answered_addresses(server, kSecuredArray) == expected;
}

// Writes that raced the other node's start (both bump the zone serial) are retried.
void secured_write_or_fail(const std::function<httplib::Result()>& write) {
  for (int attempt = 0;; ++attempt) {
    httplib::Result result = write();
    REQUIRE(result);
    if (result->status / 100 == 2) return;
    REQUIRE_MESSAGE((result->status == 409 && attempt < 5), result->body);
    std::this_thread::sleep_for(100ms);
  }
}

// Two nodes on `etcd`: an array written through A is answered by B.
void write_through_a_answered_by_b(const EtcdCluster& etcd, bool auth) {
  TempDir dir_a, dir_b;
  auto a = start_node(node_config(dir_a, etcd, "a", auth));
  auto b = start_node(node_config(dir_b, etcd, "b", auth));
  httplib::Client api("127.0.0.1", a->api_port());
  api.set_read_timeout(10s);
  secured_write_or_fail([&] { return api.Put(std::string("/v1/arrays/") + kSecuredArray, R"({"ttl": 30})", "application/json"); });
  secured_write_or_fail([&] {
    return api.Put(std::string("/v1/arrays/") + kSecuredArray + "/instances",
                   R"([{"address": "192.0.2.10"}, {"address": "192.0.2.11"}])", "application/json");
  });
  const std::set<std::string> both{"192.0.2.10", "192.0.2.11"};
  CHECK_MESSAGE(answers_within(b->endpoint(), both, 5s), b->process().stderr_text());
  CHECK(answers_within(a->endpoint(), both, 1s));
}

TEST_SUITE("integration/cluster_secured") {
  TEST_CASE("client certificates from cluster.etcd.tls: a write through node A is answered by node B") {
    ::unsetenv("ROTOR_ETCD_PASSWORD");
    EtcdCluster etcd({.members = 1, .tls = true});
    write_through_a_answered_by_b(etcd, false);
  }

  TEST_CASE("cluster.etcd.username with ROTOR_ETCD_PASSWORD: a write through node A is answered by node B") {
    EtcdCluster etcd({.members = 1, .auth = true});
    ::setenv("ROTOR_ETCD_PASSWORD", EtcdCluster::kPassword, 1);
    write_through_a_answered_by_b(etcd, true);
    ::unsetenv("ROTOR_ETCD_PASSWORD");
  }

  TEST_CASE("a wrong ROTOR_ETCD_PASSWORD stops serve at startup naming cluster.etcd.username") {
    EtcdCluster etcd({.members = 1, .auth = true});
    TempDir dir;
    ::setenv("ROTOR_ETCD_PASSWORD", "not-the-password", 1);
    std::string output;
    const int code = run_to_exit(serve_args(node_config(dir, etcd, "a", true)), output, 15s);
    ::unsetenv("ROTOR_ETCD_PASSWORD");
    CHECK(code == 1);
    CHECK_MESSAGE(output.find("cluster.etcd.username: etcd refused user \"rotor\" with the password from "
                              "ROTOR_ETCD_PASSWORD") != std::string::npos,
                  output);
  }

  TEST_CASE("a CA that does not trust the members stops serve at startup naming cluster.etcd.tls.ca") {
    ::unsetenv("ROTOR_ETCD_PASSWORD");
    EtcdCluster etcd({.members = 1, .tls = true});
    TempDir dir;
    const std::string other_ca = (dir.path() / "other-ca.pem").string();
    std::string output;
    REQUIRE_MESSAGE(run_to_exit({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=another CA",
                                 "-keyout", (dir.path() / "other-ca-key.pem").string(), "-out", other_ca},
                                output) == 0,
                    output);
    const int code = run_to_exit(serve_args(node_config(dir, etcd, "a", false, other_ca)), output, 15s);
    CHECK(code == 1);
    CHECK_MESSAGE(output.find("cluster.etcd.tls.ca: the etcd member's certificate is not trusted with this CA") !=
                      std::string::npos,
                  output);
  }
}

}  // namespace
}  // namespace rotor::itest
