// Live reload through the binary: POST /v1/reload and SIGHUP read the config
// file again and apply zones, config arrays and API tokens, or refuse a bad
// file whole and keep serving; the config owns the arrays it declares; the
// metrics say how the last reload went.

#include <signal.h>

#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/dns_client.h"

namespace rotor::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kZoneHead =
    "$ORIGIN reload.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "  IN NS ns1\nns1 IN A 192.0.2.1\n";

json reload_config(const TempDir& dir, int ttl) {
  return {{"db", (dir.path() / "rotor.db").string()},
          {"publish_interval", "0ms"},
          {"zones", {"reload.test=reload.zone"}},
          {"arrays", {{{"name", "web.reload.test"},
                       {"ttl", ttl},
                       {"instances", {{{"address", "127.0.0.31"}, {"health", "up"}}}}}}}};
}

// The value of a metric line that starts with `prefix` ("name{labels} "); -1: absent.
double metric(httplib::Client& api, const std::string& prefix) {
  auto reply = api.Get("/metrics");
  if (!reply) return -1;
  const auto at = reply->body.find("\n" + prefix);
  if (at == std::string::npos) return -1;
  return std::stod(reply->body.substr(at + 1 + prefix.size()));
}

bool answers_within(const Endpoint& server, const std::string& name, size_t count) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (answered_addresses(server, name).size() == count) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST_SUITE_BEGIN("integration/reload");

TEST_CASE("POST v1 reload and SIGHUP apply the file read again or refuse it whole") {
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  dir.write("reload.zone", kZoneHead);
  const std::string config_file = dir.write("rotor.json", reload_config(dir, 30).dump(2));
  RotorServer rotor({"--config", config_file});
  REQUIRE(rotor.ready());
  const int port = rotor.api_port();
  REQUIRE(port > 0);
  httplib::Client api("127.0.0.1", port);
  api.set_read_timeout(5s);
  CHECK(metric(api, "rotor_config_last_reload_successful ") == 1);
  CHECK(metric(api, "rotor_config_last_reload_timestamp_seconds ") == 0);

  // The config owns the array it declares.
  auto refused = api.Patch("/v1/arrays/web.reload.test", R"({"ttl": 90})", "application/json");
  REQUIRE(refused);
  CHECK(refused->status == 409);
  CHECK(json::parse(refused->body)["error"]["message"].get<std::string>() ==
        "name: array web.reload.test. is declared in the config (" + config_file +
            ": arrays[0]), which owns its settings: change it there and reload (SIGHUP or POST "
            "/v1/reload)");

  // A new record and a new TTL through POST /v1/reload.
  dir.write("reload.zone", kZoneHead + "new IN A 192.0.2.7\n");
  dir.write("rotor.json", reload_config(dir, 60).dump(2));
  auto reloaded = api.Post("/v1/reload", "", "application/json");
  REQUIRE(reloaded);
  CHECK_MESSAGE(reloaded->status == 200, reloaded->body);
  CHECK(json::parse(reloaded->body)["zones"] == 1);
  CHECK(answers_within(rotor.endpoint(), "new.reload.test.", 1));
  CHECK(json::parse(api.Get("/v1/arrays/web.reload.test")->body)["ttl"] == 60);
  CHECK(metric(api, "rotor_config_reloads_total{result=\"success\"} ") == 1);

  // A broken zone: 400 naming the file and line, nothing changes.
  dir.write("reload.zone", kZoneHead + "new IN A 192.0.2.7\nbroken IN A 192.0.2.300\n");
  dir.write("rotor.json", reload_config(dir, 120).dump(2));
  auto bad = api.Post("/v1/reload", "", "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  const json errors = json::parse(bad->body)["errors"];
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].get<std::string>().find("reload.zone:7:") != std::string::npos);
  CHECK(json::parse(api.Get("/v1/arrays/web.reload.test")->body)["ttl"] == 60);
  CHECK(answered_addresses(rotor.endpoint(), "new.reload.test.").size() == 1);
  CHECK(metric(api, "rotor_config_reloads_total{result=\"failure\"} ") == 1);
  CHECK(metric(api, "rotor_config_last_reload_successful ") == 0);
  CHECK(metric(api, "rotor_config_last_reload_timestamp_seconds ") > 0);

  // SIGHUP: the zone mended and a read token added; the API then wants it.
  dir.write("reload.zone", kZoneHead + "new IN A 192.0.2.7\nmore IN A 192.0.2.8\n");
  json with_token = reload_config(dir, 120);
  with_token["api"] = {{"tokens", {{{"name", "ops"}, {"scope", "write"}, {"sha256", std::string(64, 'a')}}}}};
  dir.write("rotor.json", with_token.dump(2));
  rotor.process().signal(SIGHUP);
  CHECK(rotor.process().wait_for_stderr("reloaded: 1 zones from files, 1 config arrays", 5s));
  CHECK(answers_within(rotor.endpoint(), "more.reload.test.", 1));
  auto unauthorized = api.Get("/v1/arrays/web.reload.test");
  REQUIRE(unauthorized);
  CHECK(unauthorized->status == 401);
  CHECK(metric(api, "rotor_config_reloads_total{result=\"success\"} ") == 2);
}

TEST_SUITE_END();

}  // namespace
}  // namespace rotor::itest
