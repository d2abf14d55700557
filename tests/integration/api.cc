// The HTTP API end to end: the rotor binary with a declared zone, arrays and
// instances registered through the API and seen in real DNS answers, and a
// removal reaching the answers within 100 ms.

#include <httplib.h>
#include <stdlib.h>

#include <chrono>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/unit/api/test_certificate.h"

namespace rotor::itest {
namespace {

using nlohmann::json;

TEST_SUITE("integration/api") {
  TEST_CASE("instances registered through the API are answered and a removal is gone within 100 ms") {
    ::unsetenv("ROTOR_API_TOKEN");
    TempDir dir;
    RotorServer server({"--config", dir.write("rotor.json", declared_zone_config(dir).dump())});
    REQUIRE(server.ready());
    const int port = server.api_port();
    REQUIRE_MESSAGE(port > 0, server.process().stdout_text());
    httplib::Client api("127.0.0.1", port);
    api.set_read_timeout(5s);

    auto healthz = api.Get("/healthz");
    REQUIRE(healthz);
    CHECK(healthz->status == 200);

    auto created = api.Put("/v1/arrays/web.lb.example.test", R"({"ttl": 30})", "application/json");
    REQUIRE(created);
    CHECK(created->status == 201);
    std::vector<int64_t> ids;
    for (const char* address : {"192.0.2.10", "192.0.2.11"}) {
      auto added = api.Post("/v1/arrays/web.lb.example.test/instances",
                            json{{"address", address}}.dump(), "application/json");
      REQUIRE(added);
      REQUIRE(added->status == 201);
      ids.push_back(json::parse(added->body)["id"].get<int64_t>());
    }

    // Every 2xx was committed before the reply; publishing takes at most the
    // publish interval (50 ms).
    const std::set<std::string> both = {"192.0.2.10", "192.0.2.11"};
    std::set<std::string> seen;
    for (int attempt = 0; attempt < 50 && seen != both; ++attempt) {
      seen = answered_addresses(server.endpoint(), "web.lb.example.test");
      if (seen != both) std::this_thread::sleep_for(10ms);
    }
    CHECK(seen == both);

    auto zones = api.Get("/v1/zones");
    REQUIRE(zones);
    const json zone_list = json::parse(zones->body)["zones"];
    REQUIRE(zone_list.size() == 1);
    CHECK(zone_list[0]["source"] == "declared");

    auto explained = api.Get("/v1/explain?name=web.lb.example.test&type=A&client=127.0.0.1");
    REQUIRE(explained);
    CHECK(explained->status == 200);
    CHECK(json::parse(explained->body)["answer"]["addresses"].size() == 2);

    const auto start = std::chrono::steady_clock::now();
    auto removed = api.Delete("/v1/arrays/web.lb.example.test/instances/" + std::to_string(ids[0]));
    REQUIRE(removed);
    CHECK(removed->status == 204);
    std::set<std::string> after;
    while (std::chrono::steady_clock::now() - start < 100ms) {
      after = answered_addresses(server.endpoint(), "web.lb.example.test");
      if (after == std::set<std::string>{"192.0.2.11"}) break;
      std::this_thread::sleep_for(2ms);
    }
    CHECK(after == std::set<std::string>{"192.0.2.11"});
    CHECK(std::chrono::steady_clock::now() - start < 100ms);
  }

  TEST_CASE("regions and networks written through the API place ECS clients and outlive a restart") {
    ::unsetenv("ROTOR_API_TOKEN");
    TempDir dir;
    json config = declared_zone_config(dir);
    config["regions"] = {{{"name", "eu"}, {"lat", 50.1}, {"lon", 8.7}}};
    config["networks"] = {{{"cidr", "10.1.0.0/16"}, {"region", "eu"}}};
    const std::vector<std::string> args{"--config", dir.write("rotor.json", config.dump())};
    // The first address answered to a client in 10.2.9.0/24 (ECS).
    const auto first_for_client = [](RotorServer& server) {
      QueryOptions options = resolver_options();
      options.client_subnet = ClientSubnet{.family = 1, .source_prefix = 24, .scope_prefix = 0, .address = {10, 2, 9}};
      std::optional<Reply> reply = exchange_udp(server.endpoint(), make_query("geo.lb.example.test", "A", options));
      REQUIRE(reply);
      REQUIRE(reply->packet);
      const ldns_rr_list* answer = ldns_pkt_answer(reply->packet.get());
      if (ldns_rr_list_rr_count(answer) != 2) return std::string();  // not published yet
      char* text = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(answer, 0), 0));
      std::string first = text != nullptr ? text : "";
      std::free(text);
      return first;
    };
    {
      RotorServer server(args);
      REQUIRE(server.ready());
      httplib::Client api("127.0.0.1", server.api_port());
      api.set_read_timeout(5s);
      REQUIRE(api.Put("/v1/arrays/geo.lb.example.test", R"({"policy": "geo"})", "application/json")->status == 201);
      REQUIRE(api.Put("/v1/arrays/geo.lb.example.test/instances",
                      R"([{"address": "127.0.1.1", "region": "eu"}, {"address": "127.0.2.1", "region": "us"}])",
                      "application/json")->status == 200);

      // The config's network and region are the config's: 409 naming the file and key path.
      auto owned = api.Put("/v1/networks/10.1.0.0/16", R"({"region": "us"})", "application/json");
      REQUIRE(owned);
      CHECK(owned->status == 409);
      CHECK(json::parse(owned->body)["error"]["field"] == "cidr");
      CHECK(json::parse(owned->body)["error"]["message"] ==
            "cidr: network 10.1.0.0/16 is declared in " + args[1] + ": networks[0]; change it there");
      auto owned_region = api.Delete("/v1/regions/eu");
      REQUIRE(owned_region);
      CHECK(owned_region->status == 409);
      CHECK(json::parse(owned_region->body)["error"]["field"] == "name");

      // The config's parser: an unknown key is 400 naming it.
      auto bad = api.Put("/v1/networks/10.2.0.0%2F16", R"({"region": "us", "zone": 1})", "application/json");
      REQUIRE(bad);
      CHECK(bad->status == 400);
      CHECK(json::parse(bad->body)["error"]["message"] == "zone: unknown key");

      // The slash of the CIDR as %2F, then as is: one network.
      auto created = api.Put("/v1/networks/10.2.0.0%2F16", R"({"region": "us"})", "application/json");
      REQUIRE(created);
      CHECK(created->status == 201);
      CHECK(json::parse(created->body) == json{{"cidr", "10.2.0.0/16"}, {"region", "us"}, {"source", "api"}});
      auto region = api.Put("/v1/regions/us", R"({"lat": 39.0, "lon": -77.5, "prefer": ["eu"]})", "application/json");
      REQUIRE(region);
      CHECK(region->status == 201);
      auto listed = api.Get("/v1/networks");
      REQUIRE(listed);
      CHECK(json::parse(listed->body)["networks"] ==
            json{{{"cidr", "10.1.0.0/16"}, {"region", "eu"}, {"source", args[1] + ": networks[0]"}},
                 {{"cidr", "10.2.0.0/16"}, {"region", "us"}, {"source", "api"}}});
      // Every 2xx was committed before the reply; publishing takes at most 50 ms.
      std::string first;
      for (int attempt = 0; attempt < 50 && first != "127.0.2.1"; ++attempt) {
        first = first_for_client(server);
        if (first != "127.0.2.1") std::this_thread::sleep_for(10ms);
      }
      CHECK(first == "127.0.2.1");

      auto events = api.Get("/v1/events?kind=admin");
      REQUIRE(events);
      std::set<std::string> reasons;
      const json logged = json::parse(events->body);
      for (const json& event : logged["events"]) reasons.insert(event["reason"].get<std::string>());
      CHECK(reasons.contains("network 10.2.0.0/16 created"));
      CHECK(reasons.contains("region us created"));
    }
    {
      RotorServer server(args);  // the same database
      REQUIRE(server.ready());
      std::string first;
      for (int attempt = 0; attempt < 50 && first != "127.0.2.1"; ++attempt) {
        first = first_for_client(server);
        if (first != "127.0.2.1") std::this_thread::sleep_for(10ms);
      }
      CHECK(first == "127.0.2.1");
      httplib::Client api("127.0.0.1", server.api_port());
      api.set_read_timeout(5s);
      auto got = api.Get("/v1/regions/us");
      REQUIRE(got);
      CHECK(json::parse(got->body) ==
            json{{"name", "us"}, {"lat", 39.0}, {"lon", -77.5}, {"prefer", {"eu"}}, {"source", "api"}});
      auto removed = api.Delete("/v1/networks/10.2.0.0/16");
      REQUIRE(removed);
      CHECK(removed->status == 204);
      CHECK(api.Get("/v1/networks/10.2.0.0/16")->status == 404);
    }
  }

  TEST_CASE("a token from the environment guards the API") {
    TempDir dir;
    ::setenv("ROTOR_API_TOKEN", "env-token", 1);
    RotorServer server({"--config", dir.write("rotor.json", declared_zone_config(dir).dump())});
    ::unsetenv("ROTOR_API_TOKEN");
    REQUIRE(server.ready());
    const int port = server.api_port();
    REQUIRE(port > 0);
    httplib::Client api("127.0.0.1", port);
    auto refused = api.Get("/v1/arrays");
    REQUIRE(refused);
    CHECK(refused->status == 401);
    CHECK(server.process().stderr_text().find("env-token") == std::string::npos);
    api.set_bearer_token_auth("env-token");
    auto allowed = api.Get("/v1/arrays");
    REQUIRE(allowed);
    CHECK(allowed->status == 200);
  }

  TEST_CASE("HTTPS with named scoped tokens and JSON logs end to end") {
    ::unsetenv("ROTOR_API_TOKEN");
    TempDir dir;
    const std::string cert = (dir.path() / "cert.pem").string();
    api::test::write_test_certificate(cert, (dir.path() / "key.pem").string());
    // The documented way to make a hash, and rotor's own, agree.
    std::string ci_hash;
    REQUIRE(run_to_exit({"/bin/sh", "-c", "printf %s ci-secret | sha256sum"}, ci_hash) == 0);
    std::string rotor_hash;
    REQUIRE(run_to_exit({"/bin/sh", "-c", std::string("echo ci-secret | ") + ROTOR_BINARY + " hash-token"},
                        rotor_hash) == 0);
    ci_hash = ci_hash.substr(0, 64);
    CHECK(rotor_hash == ci_hash + "\n");
    std::string read_hash;
    REQUIRE(run_to_exit({"/bin/sh", "-c", "printf %s read-secret | sha256sum"}, read_hash) == 0);

    json config = declared_zone_config(dir);
    config["log_format"] = "json";
    config["api"] = {{"listen", "127.0.0.1:0"},
                     {"tls", {{"cert", "cert.pem"}, {"key", "key.pem"}}},  // beside the config
                     {"tokens", {{{"name", "ci"}, {"scope", "write"}, {"sha256", ci_hash}},
                                 {{"name", "grafana"}, {"scope", "read"}, {"sha256", read_hash.substr(0, 64)}}}}};
    RotorServer server({"--config", dir.write("rotor.json", config.dump())});
    REQUIRE(server.ready());
    const int port = server.api_port();
    REQUIRE_MESSAGE(port > 0, server.process().stderr_text());

    httplib::SSLClient api("127.0.0.1", port);
    api.set_ca_cert_path(cert.c_str());
    api.enable_server_certificate_verification(true);
    api.set_read_timeout(5s);
    api.set_bearer_token_auth("grafana-wrong");
    auto wrong = api.Get("/v1/arrays");
    REQUIRE(wrong);
    CHECK(wrong->status == 401);
    api.set_bearer_token_auth("read-secret");
    auto listed = api.Get("/v1/arrays");
    REQUIRE(listed);
    CHECK(listed->status == 200);
    auto forbidden = api.Put("/v1/arrays/web.lb.example.test", "{}", "application/json");
    REQUIRE(forbidden);
    CHECK(forbidden->status == 403);
    api.set_bearer_token_auth("ci-secret");
    auto created = api.Put("/v1/arrays/web.lb.example.test", "{}", "application/json");
    REQUIRE(created);
    CHECK(created->status == 201);

    httplib::Client plain("127.0.0.1", port);
    auto refused = plain.Get("/healthz");
    REQUIRE(refused);
    CHECK(refused->status == 400);

    // Every log line is a JSON object; the write names its token, never a secret.
    REQUIRE(server.process().wait_for_stderr("web.lb.example.test 201 token ci", 5s));
    const std::string log = server.process().stderr_text();
    CHECK(log.find("secret") == std::string::npos);
    std::istringstream lines(log);
    std::string line;
    bool saw_https = false;
    while (std::getline(lines, line)) {
      CAPTURE(line);
      const json entry = json::parse(line, nullptr, false);
      REQUIRE(entry.is_object());
      CHECK(entry.contains("time"));
      CHECK(entry.contains("level"));
      if (entry["message"].get<std::string>().find("(https, 2 bearer tokens)") != std::string::npos) {
        saw_https = true;
      }
    }
    CHECK(saw_https);
  }

  TEST_CASE("a bad API certificate stops startup naming the key and the file") {
    ::unsetenv("ROTOR_API_TOKEN");
    TempDir dir;
    json config = declared_zone_config(dir);
    config["api"] = {{"listen", "127.0.0.1:0"}, {"tls", {{"cert", "missing.pem"}, {"key", "key.pem"}}}};
    const std::string file = dir.write("rotor.json", config.dump());
    for (const char* command : {"serve", "check"}) {
      CAPTURE(command);
      std::string output;
      const int code = run_to_exit({ROTOR_BINARY, command, "--listen", "127.0.0.1:0", "--config", file}, output);
      CHECK(code == 1);
      CHECK(output.find("api.tls.cert: cannot read \"" + (dir.path() / "missing.pem").string() +
                        "\": No such file or directory") != std::string::npos);
    }
  }

  TEST_CASE("a non-loopback API address without a token stops startup naming the key") {
    ::unsetenv("ROTOR_API_TOKEN");
    TempDir dir;
    json config = declared_zone_config(dir);
    config["api"] = {{"listen", "0.0.0.0:0"}};
    std::string output;
    const int code = run_to_exit({ROTOR_BINARY, "serve", "--listen", "127.0.0.1:0", "--config",
                                  dir.write("rotor.json", config.dump())},
                                 output);
    CHECK(code == 1);
    CHECK(output.find("api.listen: \"0.0.0.0:0\" is not a loopback address and needs api.token, "
                      "api.tokens or ROTOR_API_TOKEN") != std::string::npos);
  }
}

}  // namespace
}  // namespace rotor::itest
