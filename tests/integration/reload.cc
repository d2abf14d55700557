// Live reload through the binary: POST /v1/reload and SIGHUP read the config
// file again and apply zones, config arrays and API tokens, or refuse a bad
// file whole and keep serving; the config owns the arrays it declares; the
// metrics say how the last reload went; the event log records every change
// and reload with who asked for it.

#include <signal.h>

#include <string>
#include <thread>
#include <vector>

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
  // The first reload logged the same line, so the count of successes says when this one is done.
  bool second_reload_done = false;
  for (int attempt = 0; attempt < 50 && !second_reload_done; ++attempt) {
    second_reload_done = metric(api, "rotor_config_reloads_total{result=\"success\"} ") == 2;
    if (!second_reload_done) std::this_thread::sleep_for(100ms);
  }
  REQUIRE(second_reload_done);
  CHECK(answers_within(rotor.endpoint(), "more.reload.test.", 1));
  auto unauthorized = api.Get("/v1/arrays/web.reload.test");
  REQUIRE(unauthorized);
  CHECK(unauthorized->status == 401);
}

// The events of `query` (GET /v1/events?...), each as "source token | reason | old -> new".
std::vector<std::string> event_lines(httplib::Client& api, const std::string& query) {
  std::vector<std::string> lines;
  auto reply = api.Get("/v1/events?since=0&limit=1000&" + query);
  if (!reply || reply->status != 200) return {"GET /v1/events failed: " + (reply ? reply->body : "no reply")};
  const json body = json::parse(reply->body);  // outlives the loop over its part
  for (const json& event : body["events"]) {
    lines.push_back(event.value("source", "-") + " " + event.value("token", "-") + " | " +
                    event["reason"].get<std::string>() + " | " + event["old"].get<std::string>() + " -> " +
                    event["new"].get<std::string>());
  }
  return lines;
}

TEST_CASE("the event log is the audit log - API changes with their token and old and new values and reloads") {
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  dir.write("reload.zone", kZoneHead);
  std::string hash;
  REQUIRE(run_to_exit({"/bin/sh", "-c", "printf %s ops-secret | sha256sum"}, hash) == 0);
  json config = reload_config(dir, 30);
  config["api"] = {{"tokens", {{{"name", "ops"}, {"scope", "write"}, {"sha256", hash.substr(0, 64)}}}}};
  const std::string config_file = dir.write("rotor.json", config.dump(2));
  RotorServer rotor({"--config", config_file});
  REQUIRE(rotor.ready());
  httplib::Client api("127.0.0.1", rotor.api_port());
  api.set_read_timeout(5s);
  api.set_bearer_token_auth("ops-secret");

  // The config's own writes at startup.
  CHECK(event_lines(api, "kind=admin") ==
        std::vector<std::string>{
            R"(config - | array created |  -> {"policy":"round_robin","ttl":30,"degraded_ttl":10,"max_answers":0,"when_all_down":"all"})",
            R"(config - | instance added |  -> {"address":"127.0.0.31","weight":100,"state":"enabled"})"});

  // PATCH of an array and of an instance, made with the token ops.
  auto created = api.Put("/v1/arrays/api.reload.test", R"({"ttl": 30})", "application/json");
  REQUIRE(created);
  REQUIRE_MESSAGE(created->status == 201, created->body);
  auto added = api.Post("/v1/arrays/api.reload.test/instances", R"({"address": "127.0.0.41"})", "application/json");
  REQUIRE(added);
  REQUIRE_MESSAGE(added->status == 201, added->body);
  const int64_t id = json::parse(added->body)["id"];
  auto patched = api.Patch("/v1/arrays/api.reload.test", R"({"ttl": 90, "when_all_down": "none"})", "application/json");
  REQUIRE(patched);
  CHECK_MESSAGE(patched->status == 200, patched->body);
  auto changed = api.Patch("/v1/arrays/api.reload.test/instances/" + std::to_string(id),
                           R"({"weight": 5, "region": "eu", "state": "draining"})", "application/json");
  REQUIRE(changed);
  CHECK_MESSAGE(changed->status == 200, changed->body);
  CHECK(event_lines(api, "array=api.reload.test") ==
        std::vector<std::string>{
            R"(api ops | array created |  -> {"policy":"round_robin","ttl":30,"degraded_ttl":10,"max_answers":0,"when_all_down":"all"})",
            R"(api ops | instance added |  -> {"address":"127.0.0.41","weight":100,"state":"enabled"})",
            R"(api ops | array updated: ttl, when_all_down | {"ttl":30,"when_all_down":"all"} -> {"ttl":90,"when_all_down":"none"})",
            R"(api ops | instance changed: weight, region, state | {"weight":100,"region":null,"state":"enabled"} -> )"
            R"({"weight":5,"region":"eu","state":"draining"})"});
  CHECK(event_lines(api, "instance=" + std::to_string(id)).size() == 2);

  // A reload through the API that changes the config's array; a bad one by SIGHUP.
  config["arrays"][0]["ttl"] = 45;
  dir.write("rotor.json", config.dump(2));
  auto reloaded = api.Post("/v1/reload", "", "application/json");
  REQUIRE(reloaded);
  CHECK_MESSAGE(reloaded->status == 200, reloaded->body);
  dir.write("reload.zone", kZoneHead + "broken IN A 192.0.2.300\n");
  rotor.process().signal(SIGHUP);
  REQUIRE(rotor.process().wait_for_stderr("reload failed; still running", 5s));
  CHECK(event_lines(api, "array=web.reload.test").back() ==
        R"(config - | array updated: ttl | {"ttl":30} -> {"ttl":45})");
  const std::vector<std::string> reloads = event_lines(api, "kind=reload");
  REQUIRE(reloads.size() == 2);
  CHECK(reloads[0] == "api ops | reloaded: 1 zones from files, 1 config arrays, 0 warnings |  -> ok");
  CHECK(reloads[1].starts_with("signal - | "));
  CHECK(reloads[1].find("reload.zone:6:") != std::string::npos);
  CHECK(reloads[1].ends_with(" |  -> failed"));
}

TEST_SUITE_END();

}  // namespace
}  // namespace rotor::itest
