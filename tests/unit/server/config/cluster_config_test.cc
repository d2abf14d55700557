// The config's cluster section, its flags and its resolution.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "server/config/config.h"

using rotor::config::Config;
using rotor::config::ConfigError;
using rotor::config::parse_config;

namespace {

std::string error_for(const std::string& document) {
  try {
    parse_config(document, "rotor.json");
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_SUITE_BEGIN("unit/server/config/cluster_config");

TEST_CASE("the cluster section as issue 14 writes it") {
  const Config config = parse_config(R"({
    "cluster": {
      "node": "ns1",
      "region": "eu",
      "etcd": {
        "endpoints": ["http://127.0.0.1:2379", "https://127.0.0.2:2379"],
        "prefix": "/rotor/",
        "username": "rotor",
        "tls": {"ca": "ca.pem", "cert": "client.pem", "key": "client-key.pem"},
        "lease_ttl": "10s"
      },
      "isolation_fallback": "45s",
      "abstain_share": 0.25,
      "down_hold": "250ms"
    }
  })", "rotor.json");
  REQUIRE(config.cluster.has_value());
  CHECK(config.cluster->node == "ns1");
  CHECK(config.cluster->region == "eu");
  CHECK(config.cluster->endpoints ==
        std::vector<std::string>{"http://127.0.0.1:2379", "https://127.0.0.2:2379"});
  CHECK(config.cluster->username == "rotor");
  CHECK(config.cluster->tls_ca == "ca.pem");
  CHECK(config.cluster->tls_key == "client-key.pem");
  CHECK(config.cluster->lease_ttl == std::chrono::seconds(10));
  CHECK(config.cluster->isolation_fallback == std::chrono::seconds(45));
  CHECK(config.cluster->abstain_share == 0.25);
  CHECK(config.cluster->down_hold == std::chrono::milliseconds(250));
}

TEST_CASE("cluster defaults and no cluster without the section") {
  CHECK_FALSE(parse_config("{}", "rotor.json").cluster.has_value());
  Config config = parse_config(R"({"cluster": {}})", "rotor.json");
  REQUIRE(config.cluster.has_value());
  CHECK(config.cluster->endpoints == std::vector<std::string>{"http://127.0.0.1:2379"});
  CHECK(config.cluster->prefix == "/rotor/");
  CHECK(config.cluster->lease_ttl == std::chrono::seconds(10));
  CHECK(config.cluster->isolation_fallback == std::chrono::seconds(30));
  CHECK(config.cluster->abstain_share == 0.5);
  CHECK(config.cluster->down_hold == std::chrono::seconds(1));
  CHECK(parse_config(R"({"cluster": {"down_hold": "0s"}})", "rotor.json").cluster->down_hold.count() == 0);
  rotor::config::resolve_cluster(config, "host-1", nullptr);
  CHECK(config.cluster->node == "host-1");
}

TEST_CASE("bad cluster sections name the key") {
  struct Case {
    const char* document;
    const char* expected;
  };
  const Case cases[] = {
      {R"({"cluster": []})", "cluster: expected an object, got an array"},
      {R"({"cluster": {"nodes": "a"}})", "cluster.nodes: unknown key"},
      {R"({"cluster": {"node": "a/b"}})",
       "cluster.node: \"a/b\" may hold only letters, digits, '-', '_' and '.'"},
      {R"({"cluster": {"node": ""}})", "cluster.node: expected 1 to 63 characters"},
      {R"({"cluster": {"etcd": {"endpoint": []}}})", "cluster.etcd.endpoint: unknown key"},
      {R"({"cluster": {"etcd": {"endpoints": []}}})",
       "cluster.etcd.endpoints: at least one endpoint is needed"},
      {R"({"cluster": {"etcd": {"endpoints": ["127.0.0.1:2379"]}}})",
       "cluster.etcd.endpoints[0]: expected a URL like \"http://127.0.0.1:2379\", got \"127.0.0.1:2379\""},
      {R"({"cluster": {"etcd": {"prefix": "rotor"}}})",
       "cluster.etcd.prefix: expected a key prefix like \"/rotor/\", starting and ending with '/'"},
      {R"({"cluster": {"etcd": {"password": "x"}}})",
       "cluster.etcd.password: not read from the file: set ROTOR_ETCD_PASSWORD"},
      {R"({"cluster": {"etcd": {"tls": {"cert": "c.pem"}}}})",
       "cluster.etcd.tls: give both cert and key, or neither"},
      {R"({"cluster": {"etcd": {"tls": {"crt": "c.pem"}}}})", "cluster.etcd.tls.crt: unknown key"},
      {R"({"cluster": {"etcd": {"lease_ttl": 10}}})",
       "cluster.etcd.lease_ttl: expected a duration string like \"10s\", got an integer"},
      {R"({"cluster": {"etcd": {"lease_ttl": "500ms"}}})",
       "cluster.etcd.lease_ttl: must be at least 2000ms"},
      {R"({"cluster": {"abstain_share": 0}})",
       "cluster.abstain_share: expected more than 0 and at most 1"},
      {R"({"cluster": {"isolation_fallback": "soon"}})",
       "cluster.isolation_fallback: expected a duration like \"10s\", got \"soon\""},
      {R"({"cluster": {"down_hold": 1}})",
       "cluster.down_hold: expected a duration string like \"10s\", got an integer"},
      {R"({"cluster": {"down_hold": "1"}})", "cluster.down_hold: expected a duration with a unit, like \"10s\""},
      {R"({"cluster": {"down_hold": "2m"}})", "cluster.down_hold: must be at most 60000ms"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.document);
    CHECK(error_for(c.document) == c.expected);
  }
}

TEST_CASE("--etcd and --node make and name a cluster node") {
  Config config;
  rotor::config::Overrides overrides;
  overrides.etcd = {"http://127.0.0.1:2379,http://127.0.0.1:22379", "http://127.0.0.1:32379"};
  overrides.node = "ns2";
  rotor::config::apply_overrides(config, overrides);
  REQUIRE(config.cluster.has_value());
  CHECK(config.cluster->endpoints.size() == 3);
  CHECK(config.cluster->node == "ns2");

  Config single;
  CHECK_THROWS_WITH_AS(rotor::config::apply_overrides(single, {.node = "ns2"}),
                       "--node: needs a cluster section or --etcd", ConfigError);
  CHECK_THROWS_WITH_AS(rotor::config::apply_overrides(single, {.etcd = {"localhost:2379"}}),
                       "--etcd: expected a URL like \"http://127.0.0.1:2379\", got \"localhost:2379\"",
                       ConfigError);
}

TEST_CASE("the etcd password comes from the environment only") {
  Config config = parse_config(R"({"cluster": {"node": "a", "etcd": {"username": "rotor"}}})", "rotor.json");
  CHECK_THROWS_WITH_AS(rotor::config::resolve_cluster(config, "host", nullptr),
                       "cluster.etcd.username: needs a password: set ROTOR_ETCD_PASSWORD",
                       ConfigError);
  rotor::config::resolve_cluster(config, "host", "secret");
  CHECK(config.cluster->password == "secret");
  CHECK(config.cluster->node == "a");
}

TEST_CASE("cluster TLS files are relative to the config file") {
  const auto directory = std::filesystem::temp_directory_path() /
                         ("rotor-cluster-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  const auto file = directory / "rotor.json";
  std::ofstream(file) << R"({"cluster": {"etcd": {"tls": {"ca": "ca.pem", "cert": "/etc/c.pem", "key": "k.pem"}}}})";
  const Config config = rotor::config::load_config_file(file.string());
  std::filesystem::remove_all(directory);
  CHECK(config.cluster->tls_ca == (directory / "ca.pem").string());
  CHECK(config.cluster->tls_cert == "/etc/c.pem");
  CHECK(config.cluster->tls_key == (directory / "k.pem").string());
}

TEST_SUITE_END();
