#include "api/api_server.h"

#include <doctest/doctest.h>
#include <httplib.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/bearer_auth.h"
#include "api/json_body.h"
#include "server/registry/registry.h"
#include "server/registry/snapshot_composer.h"
#include "server/snapshot/publisher.h"
#include "tests/unit/api/api_rig.h"
#include "tests/unit/server/registry/registry_test_support.h"

namespace rotor::api {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using registry::test::ScratchDir;
using test::kWeb;
using test::Reply;
using test::Rig;
using test::send;

std::string replace_id(std::string text, int64_t id) {
  const auto at = text.find("{id}");
  if (at != std::string::npos) text.replace(at, 4, std::to_string(id));
  return text;
}

TEST_SUITE("unit/api/api_server") {
  TEST_CASE("every route and every error class") {
    Rig rig;
    int64_t id = 0;  // the instance POST creates, for later steps' "{id}"
    struct Step {
      const char* method;
      const char* path;
      const char* body;
      int status;
      std::optional<std::string> field;  // the error's field; nullopt: a success or a null field
      const char* content_type = "application/json";
    };
    const std::vector<Step> steps = {
        {"GET", "/healthz", "", 200, {}},
        {"GET", "/v1/zones", "", 200, {}},
        {"GET", "/v1/arrays", "", 200, {}},
        {"PUT", "/v1/arrays/WEB.lb.example.com", R"({"ttl": 60, "policy": "weighted"})", 201, {}},
        {"PUT", "/v1/arrays/web.lb.example.com.", R"({"ttl": 61, "max_answers": 2})", 200, {}},
        {"PUT", "/v1/arrays/web.lb.example.com", R"({"ttl": "60"})", 400, "ttl"},
        {"PUT", "/v1/arrays/web.lb.example.com", R"({"check": {"interval": "1ms"}})", 400, "check.interval"},
        {"PUT", "/v1/arrays/web.lb.example.com", R"({"policy": "random"})", 400, "policy"},
        {"PUT", "/v1/arrays/web.lb.example.com", R"({"bogus": 1})", 400, "bogus"},
        {"PUT", "/v1/arrays/web.lb.example.com", R"({"name": "x.lb.example.com"})", 400, "name"},
        {"PUT", "/v1/arrays/web.lb.example.com", R"([1])", 400, "body"},
        {"PUT", "/v1/arrays/web.lb.example.com", R"({"ttl": )", 400, "body"},
        {"PUT", "/v1/arrays/web.lb.example.com", R"({"ttl": 60})", 415, {}, "text/plain"},
        {"PUT", "/v1/arrays/web.lb.example.com", R"({"ttl": 60})", 415, {}, ""},
        {"PUT", "/v1/arrays/www.elsewhere.test", R"({})", 400, "name"},
        {"GET", "/v1/arrays/Web.LB.example.com", "", 200, {}},
        {"GET", "/v1/arrays/absent.lb.example.com", "", 404, {}},
        {"POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1", "region": "eu"})", 201, {}},
        {"POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1"})", 409, "address"},
        {"POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.300"})", 400, "address"},
        {"POST", "/v1/arrays/web.lb.example.com/instances", R"({"weight": 5})", 400, "address"},
        {"POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.9", "weight": 0})", 400, "weight"},
        {"POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.9", "health": "up"})", 400, "health"},
        {"POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.9", "check": {"port": 0}})", 400, "check.port"},
        {"POST", "/v1/arrays/absent.lb.example.com/instances", R"({"address": "192.0.2.9"})", 404, {}},
        {"GET", "/v1/arrays/web.lb.example.com/instances", "", 200, {}},
        {"GET", "/v1/arrays/web.lb.example.com/instances/{id}", "", 200, {}},
        {"GET", "/v1/arrays/web.lb.example.com/instances/999999", "", 404, {}},
        {"GET", "/v1/arrays/web.lb.example.com/instances/abc", "", 404, {}},
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/{id}", R"({"weight": 7, "state": "draining"})", 200, {}},
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/{id}", R"({"weight": 5000})", 400, "weight"},
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/{id}", R"({"health": "down"})", 400, "health"},
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/999999", R"({"weight": 7})", 404, {}},
        {"PUT", "/v1/arrays/web.lb.example.com/instances", R"([{"address": "192.0.2.1"}, {"address": "2001:db8::1"}])", 200, {}},
        {"PUT", "/v1/arrays/web.lb.example.com/instances", R"([{"address": "192.0.2.1"}, {"address": "nope"}])", 400, "[1].address"},
        {"PUT", "/v1/arrays/web.lb.example.com/instances", R"([{"address": "192.0.2.1"}, {"address": "192.0.2.1"}])", 400, "[1].address"},
        {"PUT", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1"})", 400, "body"},
        {"GET", "/v1/arrays/web.lb.example.com/health", "", 200, {}},
        {"GET", "/v1/arrays/absent.lb.example.com/health", "", 404, {}},
        {"GET", "/v1/instances?address=192.0.2.1", "", 200, {}},
        {"GET", "/v1/instances", "", 400, "address"},
        {"GET", "/v1/instances?address=192.0.2.300", "", 400, "address"},
        {"GET", "/v1/instances?address=192.0.2.1&array=x", "", 400, "array"},
        {"DELETE", "/v1/instances", "", 405, {}},
        {"GET", "/v1/events", "", 200, {}},
        {"GET", "/v1/events?since=1&limit=2", "", 200, {}},
        {"GET", "/v1/events?limit=5000", "", 400, "limit"},
        {"GET", "/v1/events?since=x", "", 400, "since"},
        {"GET", "/v1/events?kind=bogus", "", 400, "kind"},
        {"GET", "/v1/events?instance=-1", "", 400, "instance"},
        {"GET", "/v1/events?from_ms=soon", "", 400, "from_ms"},
        {"GET", "/v1/events?array=", "", 400, "array"},
        {"GET", "/v1/events?node=ns1", "", 400, "node"},
        {"GET", "/v1/explain?name=web.lb.example.com&type=A&client=192.0.2.200", "", 200, {}},
        {"GET", "/v1/explain?name=web.lb.example.com&type=MX", "", 400, "type"},
        {"GET", "/v1/explain?type=A", "", 400, "name"},
        {"GET", "/v1/explain?name=web.lb.example.com&ecs=10.0.0.0/99", "", 400, "ecs"},
        {"GET", "/v1/explain?name=web.lb.example.com&client=nope", "", 400, "client"},
        {"POST", "/v1/arrays", "{}", 405, {}},
        {"DELETE", "/v1/events", "", 405, {}},
        {"POST", "/v1/arrays/web.lb.example.com", "{}", 405, {}},
        {"PATCH", "/v1/arrays/web.lb.example.com", R"({"ttl": 5})", 200, {}},
        {"GET", "/v1/nothing", "", 404, {}},
        {"GET", "/", "", 404, {}},
        {"DELETE", "/v1/arrays/web.lb.example.com/instances/{id}", "", 204, {}},
        {"DELETE", "/v1/arrays/web.lb.example.com/instances/{id}", "", 404, {}},
        {"DELETE", "/v1/arrays/web.lb.example.com", "", 204, {}},
        {"DELETE", "/v1/arrays/web.lb.example.com", "", 404, {}},
        {"GET", "/v1/arrays/web.lb.example.com", "", 404, {}},
    };
    for (const Step& step : steps) {
      const std::string path = replace_id(step.path, id);
      CAPTURE(step.method);
      CAPTURE(path);
      CAPTURE(step.body);
      const Reply reply = send(rig, step.method, path, step.body, step.content_type);
      CAPTURE(reply.body.dump());
      CHECK(reply.status == step.status);
      if (step.status >= 400) {
        REQUIRE(reply.body.is_object());
        REQUIRE(reply.body.contains("error"));
        CHECK(reply.body["error"]["code"] == step.status);
        CHECK(reply.body["error"]["message"].is_string());
        if (step.field) {
          CHECK(reply.body["error"]["field"] == *step.field);
        } else {
          CHECK(reply.body["error"]["field"].is_null());
        }
      }
      if (step.status == 405) CHECK_FALSE(reply.headers.find("Allow") == reply.headers.end());
      if (step.status == 201 && std::string(step.method) == "POST") {
        id = reply.body["id"].get<int64_t>();
        CHECK(reply.body["health"] == "unknown");
        CHECK(reply.body["address"] == "192.0.2.1");
      }
    }
  }

  TEST_CASE("the event log filters by array and instance and kind and time") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}").status == 201);
    REQUIRE(send(rig, "PUT", "/v1/arrays/api.lb.example.com", "{}").status == 201);
    const int64_t web = send(rig, "POST", "/v1/arrays/web.lb.example.com/instances",
                             R"({"address": "192.0.2.1"})").body["id"].get<int64_t>();
    REQUIRE(send(rig, "POST", "/v1/arrays/api.lb.example.com/instances", R"({"address": "192.0.2.2"})").status == 201);
    REQUIRE(send(rig, "PATCH", "/v1/arrays/web.lb.example.com/instances/" + std::to_string(web),
                 R"({"state": "draining"})").status == 200);
    const auto addresses = [&](const std::string& query) {
      std::vector<std::string> seen;
      const Reply reply = send(rig, "GET", "/v1/events" + query, "");
      REQUIRE(reply.status == 200);
      for (const auto& event : reply.body["events"]) seen.push_back(event["address"].get<std::string>());
      return seen;
    };
    CHECK(addresses("").size() == 5);  // two arrays created, two instances added, one changed
    CHECK(addresses("?array=WEB.lb.example.com") == std::vector<std::string>{"", "192.0.2.1", "192.0.2.1"});
    CHECK(addresses("?array=api.lb.example.com.&kind=admin") == std::vector<std::string>{"", "192.0.2.2"});
    CHECK(addresses("?instance=" + std::to_string(web) + "&limit=1") == std::vector<std::string>{"192.0.2.1"});
    CHECK(addresses("?kind=health").empty());
    CHECK(addresses("?kind=reload").empty());
    const Reply changed = send(rig, "GET", "/v1/events?instance=" + std::to_string(web) + "&since=0", "");
    REQUIRE(changed.body["events"].size() == 2);
    const json& event = changed.body["events"][1];
    CHECK(event["reason"] == "instance changed: state");
    CHECK(json::parse(event["old"].get<std::string>()) == json{{"state", "enabled"}});
    CHECK(json::parse(event["new"].get<std::string>()) == json{{"state", "draining"}});
    CHECK(event["source"] == "api");
    CHECK_FALSE(event.contains("token"));  // this API needs no token
    CHECK(addresses("?from_ms=1&until_ms=2").empty());
  }

  TEST_CASE("replies carry the model") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com",
                 R"({"ttl": 60, "policy": "geo", "check": {"type": "tcp", "port": 22}})").status == 201);
    const Reply added = send(rig, "POST", "/v1/arrays/web.lb.example.com/instances",
                             R"({"address": "192.0.2.1", "region": "eu", "lat": 50.1, "lon": 8.7, "check": {"port": 2222}})");
    REQUIRE(added.status == 201);
    const int64_t id = added.body["id"];
    CHECK(added.body["region"] == "eu");
    CHECK(added.body["check"] == json{{"port", 2222}});

    const Reply arrays = send(rig, "GET", "/v1/arrays");
    REQUIRE(arrays.body["arrays"].size() == 1);
    CHECK(arrays.body["arrays"][0]["name"] == kWeb);
    CHECK(arrays.body["arrays"][0]["policy"] == "geo");
    CHECK(arrays.body["arrays"][0]["ttl"] == 60);
    CHECK(arrays.body["arrays"][0]["check"] == json{{"type", "tcp"}, {"port", 22}});
    CHECK(arrays.body["arrays"][0]["instance_count"] == 1);

    // PATCH keeps what it does not name; null takes a field back to its default.
    const Reply patched = send(rig, "PATCH", "/v1/arrays/web.lb.example.com/instances/" + std::to_string(id),
                               R"({"weight": 300, "check": null})");
    REQUIRE(patched.status == 200);
    CHECK(patched.body["weight"] == 300);
    CHECK(patched.body["region"] == "eu");
    CHECK_FALSE(patched.body.contains("check"));
    CHECK(rig.registry->find(kWeb)->instances[0].spec.weight == 300);

    const Reply zones = send(rig, "GET", "/v1/zones");
    REQUIRE(zones.body["zones"].size() == 1);
    CHECK(zones.body["zones"][0]["origin"] == "lb.example.com.");
    CHECK(zones.body["zones"][0]["source"] == "declared");
    CHECK(zones.body["zones"][0]["serial"].get<uint32_t>() > 0);

    // Without a cluster the node list is this node alone, not an error.
    const Reply nodes = send(rig, "GET", "/v1/cluster/nodes");
    CHECK(nodes.status == 200);
    CHECK(nodes.body["mode"] == "single");
    REQUIRE(nodes.body["nodes"].size() == 1);
    CHECK(nodes.body["nodes"][0]["self"] == true);
    CHECK(nodes.body["nodes"][0]["lease"].is_null());

    rig.registry->set_health(id, arrays::Health::down, "connection refused");
    rig.checked_id = id;
    const Reply health = send(rig, "GET", "/v1/arrays/web.lb.example.com/health");
    REQUIRE(health.body["instances"].size() == 1);
    const json& entry = health.body["instances"][0];
    CHECK(entry["health"] == "down");
    CHECK(entry["reason"] == "connection refused");
    CHECK(entry["health_changed_ms"].get<int64_t>() > 0);
    CHECK(entry["health_changed"].get<std::string>().back() == 'Z');
    CHECK(entry["last_check"]["passed"] == false);
    CHECK(entry["last_check"]["latency_ms"] == 1.5);
    CHECK(entry["last_check"]["time"] == "2023-11-14T22:13:20.123Z");
    // A single node is the one observer of its instances.
    REQUIRE(entry["observers"].size() == 1);
    CHECK(entry["observers"][0]["node"] == "local");
    CHECK(entry["observers"][0]["health"] == "down");
    CHECK(entry["observers"][0]["reason"] == "connection refused");
    CHECK(entry["observers"][0]["counted"] == true);
    CHECK(entry["observers"][0]["time_ms"] == entry["health_changed_ms"]);
    CHECK(entry["observers"][0]["last_check"]["reason"] == "HTTP 503");
    CHECK(entry["quorum"]["rule"] == "single node");

    const Reply events = send(rig, "GET", "/v1/events?limit=1000");
    REQUIRE(events.body["events"].size() >= 1);
    CHECK(events.body["next"] == events.body["events"].back()["id"]);
    const Reply later = send(rig, "GET", "/v1/events?since=" + events.body["next"].dump());
    CHECK(later.body["events"].empty());
    CHECK(later.body["next"] == events.body["next"]);

    const Reply metrics = send(rig, "GET", "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.body == "rotor_up 1\n");
    CHECK(metrics.headers.find("Content-Type")->second == "text/plain; version=0.0.4");
  }

  TEST_CASE("array views say whether the config or the API owns the settings") {
    Rig rig;
    rig.registry->apply_config_arrays({{kWeb, {}, {}, "/etc/rotor/rotor.json: arrays[0]"}});
    REQUIRE(send(rig, "PUT", "/v1/arrays/api.lb.example.com", R"({"ttl": 60, "source": "api"})").status == 201);
    const std::string declared = "/etc/rotor/rotor.json: arrays[0]";

    const Reply list = send(rig, "GET", "/v1/arrays");
    REQUIRE(list.body["arrays"].size() == 2);
    CHECK(list.body["arrays"][0]["name"] == "api.lb.example.com.");
    CHECK(list.body["arrays"][0]["source"] == "api");
    CHECK(list.body["arrays"][1]["name"] == kWeb);
    CHECK(list.body["arrays"][1]["source"] == declared);
    CHECK(send(rig, "GET", "/v1/arrays/api.lb.example.com").body["source"] == "api");
    const Reply config_array = send(rig, "GET", "/v1/arrays/web.lb.example.com");
    CHECK(config_array.body["source"] == declared);

    // The field's one fact is the 409's: the config's settings are refused, the API's are not.
    CHECK(send(rig, "PATCH", "/v1/arrays/web.lb.example.com", R"({"ttl": 60})").status == 409);
    CHECK(send(rig, "PATCH", "/v1/arrays/api.lb.example.com", R"({"ttl": 90})").body["source"] == "api");
    // A reload that drops the array from the config gives it to the API.
    rig.registry->apply_config_arrays({});
    CHECK(send(rig, "GET", "/v1/arrays/web.lb.example.com").body["source"] == "api");
  }

  TEST_CASE("health and explain say an instance is held down by flap damping and until when") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}").status == 201);
    const Reply added = send(rig, "POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1"})");
    REQUIRE(added.status == 201);
    const int64_t id = added.body["id"];
    REQUIRE(send(rig, "POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.2"})").status == 201);
    rig.registry->set_health(id, arrays::Health::down, "connection refused");
    rig.checked_id = id;
    const std::string held =
        "held down by flap damping until 2023-11-14T22:15:00.000Z: the last checks passed, "
        "the flap penalty has not decayed yet";

    struct Case {
      int64_t held_down_until_ms;  // 0: not held
      std::string reason;          // of the health route and of explain
      json damping;
    };
    const Case cases[] = {
        {0, "connection refused", nullptr},
        {1700000100000, held,
         {{"held_down", true}, {"until_ms", 1700000100000}, {"until", "2023-11-14T22:15:00.000Z"},
          {"reason", held}}},
    };
    for (const Case& c : cases) {
      CAPTURE(c.held_down_until_ms);
      rig.held_down_until_ms = c.held_down_until_ms;
      const Reply health = send(rig, "GET", "/v1/arrays/web.lb.example.com/health");
      REQUIRE(health.status == 200);
      const json& entry = health.body["instances"][0];
      CAPTURE(entry.dump(2));
      CHECK(entry["health"] == "down");
      CHECK(entry["reason"] == c.reason);
      CHECK(entry["damping"] == c.damping);
      CHECK(entry["last_check"]["passed"] == (c.held_down_until_ms != 0));

      const Reply explained = send(rig, "GET", "/v1/explain?name=web.lb.example.com&type=A");
      REQUIRE(explained.status == 200);
      const json& instance = explained.body["array"]["instances"][0];
      CAPTURE(instance.dump(2));
      CHECK(instance["reason"] == (c.held_down_until_ms != 0 ? c.reason : "down"));
      CHECK(instance["answered"] == false);
      CHECK(instance["damping"] == c.damping);
    }
  }

  TEST_CASE("an instance's recent checks newest first with its transition counts") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}").status == 201);
    const Reply added = send(rig, "POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1"})");
    REQUIRE(added.status == 201);
    const int64_t id = added.body["id"];
    const std::string route = "/v1/arrays/web.lb.example.com/instances/" + std::to_string(id) + "/checks";

    const Reply unchecked = send(rig, "GET", route);
    REQUIRE(unchecked.status == 200);
    CHECK(unchecked.body["checks"] == json::array());
    CHECK(unchecked.body["transitions"] == 0);

    rig.checked_id = id;
    const Reply checked = send(rig, "GET", route);
    REQUIRE(checked.status == 200);
    CAPTURE(checked.body.dump(2));
    CHECK(checked.body["address"] == "192.0.2.1");
    CHECK(checked.body["node"] == "local");
    CHECK(checked.body["kept"] == 20);
    CHECK(checked.body["transitions"] == 2);
    CHECK(checked.body["damping_starts"] == 1);
    REQUIRE(checked.body["checks"].size() == 2);
    CHECK(checked.body["checks"][0] == json{{"time", "2023-11-14T22:13:20.123Z"}, {"time_ms", 1700000000123},
                                            {"latency_ms", 1.5}, {"passed", false}, {"reason", "HTTP 503"},
                                            {"held_down_until_ms", nullptr}, {"reported_weight", nullptr},
                                            {"reported_state", nullptr}, {"report_ignored", nullptr}});
    CHECK(checked.body["checks"][1]["reason"] == "HTTP 200");
    CHECK(checked.body["checks"][1]["reported_weight"] == 25);
    CHECK(checked.body["checks"][1]["reported_state"] == "up");
    CHECK(checked.body["checks"][1]["report_ignored"] == "Rotor-State \"down\": expected draining or up");

    struct Missing {
      std::string path;
      std::string message;
    };
    for (const Missing& m : std::vector<Missing>{
             {"/v1/arrays/nope.lb.example.com/instances/1/checks", "no array nope.lb.example.com"},
             {"/v1/arrays/web.lb.example.com/instances/999/checks", "no instance 999 in web.lb.example.com."}}) {
      CAPTURE(m.path);
      const Reply reply = send(rig, "GET", m.path);
      CHECK(reply.status == 404);
      CHECK(reply.body["error"]["message"].get<std::string>().find(m.message) != std::string::npos);
    }
  }

  TEST_CASE("health and explain list every observer of a cluster and the quorum's decision") {
    Rig rig("", {}, /*cluster=*/true);
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}").status == 201);
    const Reply added = send(rig, "POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1"})");
    REQUIRE(added.status == 201);
    const int64_t id = added.body["id"];
    rig.checked_id = id;
    {
      std::lock_guard lock(rig.verdicts_mutex);
      rig.verdicts[id] = cluster::verdict(
          {{"ns1", arrays::Health::up, "HTTP 200", 1700000000000, false},
           {"ns2", arrays::Health::down, "HTTP 503", 1700000001000, false},
           {"ns3", arrays::Health::down, "timeout after 2000 ms", 1700000002000, true}},
          probes::Quorum{probes::Quorum::Rule::all, 0}, arrays::Health::up);
    }
    const Reply health = send(rig, "GET", "/v1/arrays/web.lb.example.com/health");
    REQUIRE(health.status == 200);
    const json& entry = health.body["instances"][0];
    CAPTURE(entry.dump(2));
    REQUIRE(entry["observers"].size() == 3);
    CHECK(entry["observers"][0]["node"] == "ns1");
    CHECK(entry["observers"][0]["health"] == "up");
    CHECK(entry["observers"][0]["counted"] == true);
    CHECK(entry["observers"][0]["time"] == "2023-11-14T22:13:20.000Z");
    CHECK(entry["observers"][0]["last_check"]["reason"] == "HTTP 503");  // this node's own probe
    CHECK(entry["observers"][1]["node"] == "ns2");
    CHECK(entry["observers"][1]["reason"] == "HTTP 503");
    CHECK(entry["observers"][1]["last_check"].is_null());  // another node's checks are not shared
    CHECK(entry["observers"][2]["abstaining"] == true);
    CHECK(entry["observers"][2]["counted"] == false);
    CHECK(entry["quorum"]["rule"] == "all");
    CHECK(entry["quorum"]["decision"] == "1 of 2 observers up (all; 1 abstaining not counted); ns2: HTTP 503");

    const Reply explained = send(rig, "GET", "/v1/explain?name=web.lb.example.com&type=A");
    REQUIRE(explained.status == 200);
    const json& instance = explained.body["array"]["instances"][0];
    CHECK(instance["observers"].size() == 3);
    CHECK(instance["quorum"]["rule"] == "all");

    // An instance the verdicts do not know yet: no observers.
    rig.checked_id = -1;
    {
      std::lock_guard lock(rig.verdicts_mutex);
      rig.verdicts.clear();
    }
    const Reply unknown = send(rig, "GET", "/v1/arrays/web.lb.example.com/health");
    CHECK(unknown.body["instances"][0]["observers"] == json::array());
    CHECK(unknown.body["instances"][0]["quorum"].is_null());
  }

  TEST_CASE("a body over 1 MiB is 413 in the error shape") {
    Rig rig;
    const std::string big = "{\"ttl\": \"" + std::string(kMaxBodyBytes, 'x') + "\"}";
    const Reply reply = send(rig, "PUT", "/v1/arrays/web.lb.example.com", big);
    CHECK(reply.status == 413);
    REQUIRE(reply.body.is_object());
    CHECK(reply.body["error"]["code"] == 413);
    CHECK_FALSE(rig.registry->find(kWeb).has_value());
  }

  TEST_CASE("a store that refuses writes is 503 and changes nothing") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}").status == 201);
    registry::test::make_writes_fail(rig.db, "INSERT ON instances");
    const Reply refused = send(rig, "POST", "/v1/arrays/web.lb.example.com/instances",
                               R"({"address": "192.0.2.1"})");
    CHECK(refused.status == 503);
    CHECK(refused.body["error"]["code"] == 503);
    CHECK(rig.registry->find(kWeb)->instances.empty());
    registry::test::let_writes_succeed(rig.db);
    CHECK(send(rig, "POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1"})").status == 201);
  }

  TEST_CASE("explain runs the answerer and says why") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", R"({"policy": "geo"})").status == 201);
    const Reply set = send(rig, "PUT", "/v1/arrays/web.lb.example.com/instances", R"([
        {"address": "192.0.2.1", "region": "eu"},
        {"address": "192.0.2.2", "region": "us"},
        {"address": "192.0.2.3", "state": "draining"},
        {"address": "192.0.2.4", "state": "disabled"},
        {"address": "192.0.2.5"},
        {"address": "2001:db8::1"}])");
    REQUIRE(set.status == 200);
    rig.registry->set_health(set.body[1]["id"], arrays::Health::up, "");
    rig.registry->set_health(set.body[4]["id"], arrays::Health::down, "timeout");
    rig.registry->set_geo({.regions = {{"eu", 50.1, 8.7, {}}, {"us", 39.0, -77.5, {}}},
                            .networks = {{"198.51.100.0/24", "us"}}});

    const Reply reply = send(rig, "GET",
                             "/v1/explain?name=WEB.lb.example.com&type=A&client=192.0.2.200&ecs=198.51.100.7/24");
    REQUIRE(reply.status == 200);
    const json& body = reply.body;
    CAPTURE(body.dump(2));
    CHECK(body["query"]["ecs"] == "198.51.100.0/24");
    CHECK(body["answer"]["rcode"] == "NOERROR");
    CHECK(body["answer"]["authoritative"] == true);
    CHECK(body["answer"]["ttl"] == 10);  // degraded: 192.0.2.5 is down
    REQUIRE(body["answer"]["addresses"].size() == 2);
    CHECK(body["answer"]["addresses"][0] == "192.0.2.2");  // the client's region first
    CHECK(body["client"]["source"] == "ecs");
    CHECK(body["client"]["region"] == "us");
    CHECK(body["client"]["scope"] == 24);
    CHECK(body["array"]["policy"] == "geo");
    CHECK(body["array"]["degraded"] == true);

    const std::vector<std::pair<bool, std::string>> expected = {
        {true, "health unknown (not checked yet) counts as healthy"},
        {true, "healthy"},
        {false, "draining"},
        {false, "disabled"},
        {false, "down"},
        {false, "other family"},
    };
    const json& instances = body["array"]["instances"];
    REQUIRE(instances.size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      CAPTURE(i);
      CHECK(instances[i]["candidate"] == expected[i].first);
      CHECK(instances[i]["answered"] == expected[i].first);
      CHECK(instances[i]["reason"] == expected[i].second);
    }

    const Reply v6 = send(rig, "GET", "/v1/explain?name=web.lb.example.com&type=AAAA");
    CHECK(v6.body["answer"]["addresses"] == json::array({"2001:db8::1"}));
    CHECK(v6.body["client"]["source"] == "none");

    const Reply plain = send(rig, "GET", "/v1/explain?name=ns1.lb.example.com&type=A");
    CHECK(plain.body["answer"]["addresses"] == json::array({"192.0.2.53"}));
    CHECK(plain.body["array"].is_null());

    const Reply outside = send(rig, "GET", "/v1/explain?name=www.elsewhere.test");
    CHECK(outside.body["answer"]["rcode"] == "REFUSED");
  }

  TEST_CASE("with a token no route but healthz and metrics works without it") {
    Rig rig("s3cret-token");
    const httplib::Headers good = {{"Authorization", "Bearer s3cret-token"}};
    struct Route {
      const char* method;
      const char* path;
      const char* body;
    };
    const Route routes[] = {
        {"GET", "/v1/zones", ""},
        {"GET", "/v1/arrays", ""},
        {"GET", "/v1/arrays/web.lb.example.com", ""},
        {"PUT", "/v1/arrays/web.lb.example.com", "{}"},
        {"PATCH", "/v1/arrays/web.lb.example.com", "{}"},
        {"DELETE", "/v1/arrays/web.lb.example.com", ""},
        {"GET", "/v1/arrays/web.lb.example.com/instances", ""},
        {"POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1"})"},
        {"PUT", "/v1/arrays/web.lb.example.com/instances", R"([{"address": "192.0.2.1"}])"},
        {"GET", "/v1/arrays/web.lb.example.com/instances/1", ""},
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/1", R"({"weight": 1})"},
        {"DELETE", "/v1/arrays/web.lb.example.com/instances/1", ""},
        {"GET", "/v1/arrays/web.lb.example.com/health", ""},
        {"GET", "/v1/events", ""},
        {"GET", "/v1/explain?name=web.lb.example.com", ""},
        {"GET", "/v1/nothing", ""},
    };
    const httplib::Headers wrong_tokens[] = {
        {},
        {{"Authorization", "Bearer s3cret-tokeN"}},
        {{"Authorization", "Bearer s3cret-token2"}},
        {{"Authorization", "Bearer "}},
        {{"Authorization", "Basic s3cret-token"}},
        {{"Authorization", "s3cret-token"}},
    };
    for (const Route& route : routes) {
      for (const httplib::Headers& headers : wrong_tokens) {
        CAPTURE(route.method);
        CAPTURE(route.path);
        const Reply reply = send(rig, route.method, route.path, route.body, "application/json", headers);
        CHECK(reply.status == 401);
        CHECK(reply.body["error"]["code"] == 401);
        const auto challenge = reply.headers.find("WWW-Authenticate");
        REQUIRE(challenge != reply.headers.end());
        CHECK(challenge->second == "Bearer");
      }
    }
    CHECK(rig.registry->arrays().empty());
    CHECK(send(rig, "GET", "/healthz").status == 200);
    CHECK(send(rig, "GET", "/metrics").status == 200);
    CHECK(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}", "application/json", good).status == 201);
    CHECK(send(rig, "GET", "/v1/arrays", "", "application/json",
               {{"Authorization", "bearer s3cret-token"}}).status == 200);
  }

  TEST_CASE("tokens compare in full") {
    struct Case {
      const char* a;
      const char* b;
      bool equal;
    };
    const Case cases[] = {
        {"", "", true},          {"abc", "abc", true},  {"abc", "abd", false},
        {"abc", "ab", false},    {"ab", "abc", false},  {"", "a", false},
        {"Abc", "abc", false},
    };
    for (const Case& test : cases) {
      CAPTURE(test.a);
      CAPTURE(test.b);
      CHECK(constant_time_equal(test.a, test.b) == test.equal);
    }
    Caller caller;
    CHECK(BearerAuth("", {}).identify("", caller));
    CHECK(caller.token_name.empty());
    CHECK_FALSE(BearerAuth("t", {}).identify("", caller));
    CHECK_FALSE(BearerAuth("t", {}).identify("Bearer ", caller));
    CHECK(BearerAuth("t", {}).identify("Bearer t", caller));
    CHECK(caller.token_name == "default");
    CHECK(caller.scope == config::TokenScope::write);
  }

  TEST_CASE("token hashes are SHA-256 in lower-case hex") {
    // FIPS 180-2's "abc" example, and the empty string's digest.
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  }

  TEST_CASE("named tokens: read may GET and write may write and the name reaches the handlers") {
    ApiOptions options{.token = "plain-secret",
                       .tokens = {{"ci", config::TokenScope::write, sha256_hex("ci-secret")},
                                  {"grafana", config::TokenScope::read, sha256_hex("read-secret")}}};
    Rig rig(std::move(options));
    const auto bearer = [](const char* secret) {
      return httplib::Headers{{"Authorization", std::string("Bearer ") + secret}};
    };
    struct Case {
      const char* method;
      const char* path;
      const char* body;
      const char* secret;  // null: no header
      int status;
    };
    const Case cases[] = {
        {"PUT", "/v1/arrays/web.lb.example.com", "{}", "ci-secret", 201},
        {"PUT", "/v1/arrays/web.lb.example.com", "{}", "plain-secret", 200},
        {"GET", "/v1/arrays", "", "read-secret", 200},
        {"GET", "/v1/arrays/web.lb.example.com/health", "", "read-secret", 200},
        {"GET", "/v1/events", "", "read-secret", 200},
        {"GET", "/v1/explain?name=web.lb.example.com", "", "read-secret", 200},
        {"PUT", "/v1/arrays/web.lb.example.com", "{}", "read-secret", 403},
        {"POST", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1"})", "read-secret", 403},
        {"DELETE", "/v1/arrays/web.lb.example.com", "", "read-secret", 403},
        {"DELETE", "/v1/arrays/web.lb.example.com", "", "ci-secret2", 401},
        {"DELETE", "/v1/arrays/web.lb.example.com", "", nullptr, 401},
        {"GET", "/v1/arrays", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 401},
        {"GET", "/metrics", "", nullptr, 200},
        {"GET", "/healthz", "", nullptr, 200},
    };
    for (const Case& test : cases) {
      CAPTURE(test.method);
      CAPTURE(test.path);
      CAPTURE(test.secret);
      const Reply reply = send(rig, test.method, test.path, test.body, "application/json",
                               test.secret ? bearer(test.secret) : httplib::Headers{});
      CHECK(reply.status == test.status);
      if (test.status == 403) {
        CHECK(reply.body["error"]["message"] ==
              std::string("token \"grafana\" has scope read; ") + test.method +
                  " needs a token with scope write");
        CHECK(reply.headers.find("WWW-Authenticate")->second ==
              R"(Bearer error="insufficient_scope", scope="write")");
      }
    }
    CHECK(rig.registry->find(kWeb).has_value());  // the read token deleted nothing
  }

  TEST_CASE("instances are found by address across arrays") {
    Rig rig;
    for (const char* array : {"web.lb.example.com", "api.lb.example.com", "db.lb.example.com"}) {
      REQUIRE(send(rig, "PUT", std::string("/v1/arrays/") + array, "{}").status == 201);
    }
    REQUIRE(send(rig, "POST", "/v1/arrays/web.lb.example.com/instances",
                 R"({"address": "192.0.2.1", "weight": 7})").status == 201);
    REQUIRE(send(rig, "POST", "/v1/arrays/api.lb.example.com/instances",
                 R"({"address": "192.0.2.1", "region": "eu"})").status == 201);
    REQUIRE(send(rig, "POST", "/v1/arrays/db.lb.example.com/instances",
                 R"({"address": "2001:db8::1"})").status == 201);

    const Reply found = send(rig, "GET", "/v1/instances?address=192.0.2.1");
    REQUIRE(found.status == 200);
    CHECK(found.body["address"] == "192.0.2.1");
    REQUIRE(found.body["instances"].size() == 2);
    CHECK(found.body["instances"][0]["array"] == "api.lb.example.com.");  // by array name
    CHECK(found.body["instances"][0]["region"] == "eu");
    CHECK(found.body["instances"][1]["array"] == "web.lb.example.com.");
    CHECK(found.body["instances"][1]["weight"] == 7);
    CHECK(found.body["instances"][1]["health"] == "unknown");
    CHECK(found.body["instances"][1]["id"].is_number_integer());

    struct Case {
      const char* query;
      size_t matches;
    };
    const Case cases[] = {
        {"address=2001:DB8:0::1", 1},        // any spelling of the address
        {"address=%3A%3Affff%3A192.0.2.1", 2},  // IPv4-mapped is the IPv4 address
        {"address=192.0.2.2", 0},
    };
    for (const Case& test : cases) {
      CAPTURE(test.query);
      const Reply reply = send(rig, "GET", std::string("/v1/instances?") + test.query);
      CHECK(reply.status == 200);
      CHECK(reply.body["instances"].size() == test.matches);
    }
    const Reply bad = send(rig, "GET", "/v1/instances?address=web.lb.example.com");
    CHECK(bad.status == 400);
    CHECK(bad.body["error"]["message"] == "address: \"web.lb.example.com\" is not an IP address");
    CHECK(send(rig, "GET", "/v1/instances?address=").body["error"]["field"] == "address");
  }

  TEST_CASE("handlers read the token name of the request") {
    Router router;
    std::string seen = "unset";
    router.add("PUT", "/x", [&seen](const RouteRequest& request, httplib::Response&) {
      seen = request.token_name;
    });
    httplib::Request request;
    request.method = "PUT";
    request.path = "/x";
    httplib::Response response;
    router.dispatch(request, response, "ci");
    CHECK(seen == "ci");
    router.dispatch(request, response);
    CHECK(seen.empty());
  }

  TEST_CASE("a server stopped right after it started stops") {
    Rig rig;
    for (int round = 0; round < 20; ++round) {
      ApiServer server(ApiContext{.registry = *rig.registry, .composer = rig.composer, .publisher = rig.publisher},
                       ApiOptions{.listen = "127.0.0.1:0"});
      server.start();
      CHECK(server.bound().rfind("127.0.0.1:", 0) == 0);
      server.stop();
    }
  }

  TEST_CASE("a second server on the same port fails to start naming the address") {
    Rig rig;
    ApiServer second(ApiContext{.registry = *rig.registry, .composer = rig.composer, .publisher = rig.publisher},
                     ApiOptions{.listen = rig.server->bound()});
    CHECK_THROWS_WITH_AS(second.start(), doctest::Contains(rig.server->bound().c_str()), std::runtime_error);
  }
}

}  // namespace
}  // namespace rotor::api
