// What the API's writes mean: PATCH is a JSON merge patch (RFC 7396) on
// arrays and instances, a PUT of an array names its check, what GET returns
// can be sent back (read-only fields equal to the current value are ignored,
// others refused), and the exact error texts.

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/unit/api/api_rig.h"

namespace rotor::api {
namespace {

using nlohmann::json;
using test::kWeb;
using test::Reply;
using test::Rig;
using test::send;

constexpr const char* kArrayPath = "/v1/arrays/web.lb.example.com";
constexpr const char* kMergePatch = "application/merge-patch+json";

std::string with_id(std::string text, int64_t id) {
  for (auto at = text.find("{id}"); at != std::string::npos; at = text.find("{id}")) {
    text.replace(at, 4, std::to_string(id));
  }
  return text;
}

// One request and what it must get: the status, and either the error's exact
// message and field, or fields the reply must carry (null: absent or null).
struct WriteStep {
  const char* method;
  const char* path;
  const char* body;
  int status;
  const char* message = nullptr;  // the error message; nullptr: a success
  std::optional<std::string> field = std::nullopt;
  json expect = json::object();
  const char* content_type = "application/json";
};

void run_steps(const Rig& rig, const std::vector<WriteStep>& steps, int64_t id) {
  for (const WriteStep& step : steps) {
    const std::string path = with_id(step.path, id);
    const std::string body = with_id(step.body, id);
    CAPTURE(step.method);
    CAPTURE(path);
    CAPTURE(body);
    const Reply reply = send(rig, step.method, path, body, step.content_type);
    CAPTURE(reply.body.dump());
    CHECK(reply.status == step.status);
    if (step.message != nullptr) {
      REQUIRE(reply.body.contains("error"));
      CHECK(reply.body["error"]["message"] == with_id(step.message, id));
      if (step.field) {
        CHECK(reply.body["error"]["field"] == *step.field);
      } else {
        CHECK(reply.body["error"]["field"].is_null());
      }
    }
    for (const auto& [key, value] : step.expect.items()) {
      CAPTURE(key);
      if (value.is_null()) {
        CHECK((!reply.body.contains(key) || reply.body[key].is_null()));
      } else {
        CHECK(reply.body[key] == value);
      }
    }
  }
}

// web.lb.example.com. with an http check and one instance with a check
// override; returns the instance's id.
// A write reply as GET shows the same data: without its "warnings".
json without_warnings(json reply) {
  if (reply.is_array()) {
    for (json& element : reply) element.erase("warnings");
  } else {
    reply.erase("warnings");
  }
  return reply;
}

int64_t make_array(const Rig& rig) {
  REQUIRE(send(rig, "PUT", kArrayPath,
               R"({"policy": "weighted", "check": {"type": "http", "port": 8080, "path": "/healthz", "interval": "2s"}})")
              .status == 201);
  const Reply added = send(rig, "POST", std::string(kArrayPath) + "/instances",
                           R"({"address": "192.0.2.1", "region": "eu", "weight": 200, "check": {"port": 8081, "path": "/x"}})");
  REQUIRE(added.status == 201);
  return added.body["id"].get<int64_t>();
}

TEST_SUITE("unit/api/api_write_semantics") {
  TEST_CASE("PATCH is a JSON merge patch on arrays and instances") {
    Rig rig;
    const int64_t id = make_array(rig);
    const json full_check = {{"type", "http"}, {"port", 8080}, {"path", "/healthz"}, {"interval", "2s"}};
    const std::vector<WriteStep> steps = {
        // Changing the TTL keeps the check and every other setting.
        {"PATCH", kArrayPath, R"({"ttl": 60})", 200, nullptr, {},
         {{"ttl", 60}, {"policy", "weighted"}, {"check", full_check}, {"instance_count", 1}}},
        // null removes a key at any depth; the rest of the check stays.
        {"PATCH", kArrayPath, R"({"check": {"path": null}})", 200, nullptr, {},
         {{"ttl", 60}, {"check", {{"type", "http"}, {"port", 8080}, {"interval", "2s"}}}},
         kMergePatch},
        {"PATCH", kArrayPath, R"({"policy": null, "degraded_ttl": 5})", 200, nullptr, {},
         {{"policy", "round_robin"}, {"degraded_ttl", 5}}},
        {"PATCH", kArrayPath, R"({"check": {"interval": "10ms"}})", 400,
         "check.interval: must be at least 100ms, got 10ms", "check.interval"},
        {"PATCH", kArrayPath, R"({"tll": 60})", 400, "tll: unknown key", "tll"},
        {"PATCH", kArrayPath, R"([{"op": "replace", "path": "/ttl", "value": 5}])", 400,
         "body: expected an object, got an array", "body"},
        {"PATCH", kArrayPath, R"({"ttl": 5})", 415,
         "send the body as Content-Type: application/merge-patch+json or application/json", {}, {},
         "application/json-patch+json"},
        {"PATCH", "/v1/arrays/absent.lb.example.com", R"({"ttl": 5})", 404,
         "no array absent.lb.example.com"},
        // A merge patch is not a PUT body.
        {"PUT", kArrayPath, R"({"ttl": 5})", 415, "send the body as Content-Type: application/json",
         {}, {}, kMergePatch},
        // The instance: the same rules.
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/{id}", R"({"check": {"path": null}})", 200,
         nullptr, {}, {{"check", {{"port", 8081}}}, {"region", "eu"}, {"weight", 200}}, kMergePatch},
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/{id}", R"({"region": null, "weight": 300})", 200,
         nullptr, {}, {{"region", nullptr}, {"weight", 300}, {"check", {{"port", 8081}}}}},
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/{id}", R"({"check": null})", 200,
         nullptr, {}, {{"check", nullptr}, {"weight", 300}}},
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/{id}", R"({"address": null})", 400,
         "address: missing; every instance needs an address", "address"},
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/{id}", R"({"lat": 50.1})", 400,
         "lon: missing; give lat and lon together", "lon"},
        {"PATCH", "/v1/arrays/web.lb.example.com/instances/{id}", "7", 400,
         "body: expected an object, got an integer", "body"},
    };
    run_steps(rig, steps, id);
    const auto array = rig.registry->find(kWeb);
    REQUIRE(array.has_value());
    CHECK(array->settings.ttl == 60);
    CHECK(json::parse(array->settings.check) == json{{"type", "http"}, {"port", 8080}, {"interval", "2s"}});
  }

  TEST_CASE("a PUT of an array with a check names the check") {
    Rig rig;
    make_array(rig);
    const std::vector<WriteStep> steps = {
        {"PUT", kArrayPath, R"({"ttl": 60})", 400,
         "check: missing; the array has a check and a PUT replaces every setting: send the check, "
         "\"check\": null to remove it, or PATCH the settings to change",
         "check"},
        {"PUT", kArrayPath, R"({"ttl": 60, "check": {"port": 9090}})", 200, nullptr, {},
         {{"ttl", 60}, {"policy", "round_robin"}, {"check", {{"port", 9090}}}}},
        {"PUT", kArrayPath, R"({"ttl": 61, "check": null})", 200, nullptr, {},
         {{"ttl", 61}, {"check", nullptr}}},
        // Without a check there is nothing to drop: omitted settings take their defaults.
        {"PUT", kArrayPath, R"({"ttl": 62})", 200, nullptr, {}, {{"ttl", 62}, {"check", nullptr}}},
        {"PUT", kArrayPath, R"({"ttl": null, "policy": "geo"})", 200, nullptr, {},
         {{"ttl", 30}, {"policy", "geo"}}},
    };
    run_steps(rig, steps, 0);
  }

  TEST_CASE("what GET returns can be sent back") {
    Rig rig;
    const int64_t id = make_array(rig);
    REQUIRE(send(rig, "POST", std::string(kArrayPath) + "/instances", R"({"address": "2001:db8::1"})")
                .status == 201);
    rig.registry->set_health(id, arrays::Health::down, "connection refused");

    // The array: GET, then PUT what came back, unchanged and then changed.
    const Reply got = send(rig, "GET", kArrayPath);
    REQUIRE(got.status == 200);
    const Reply same = send(rig, "PUT", kArrayPath, got.body.dump());
    CHECK(same.status == 200);
    CHECK(same.body == got.body);
    json edited = got.body;
    edited["ttl"] = 90;
    const Reply changed = send(rig, "PUT", kArrayPath, edited.dump());
    CHECK(changed.status == 200);
    CHECK(changed.body["ttl"] == 90);
    CHECK(changed.body["check"] == got.body["check"]);
    CHECK(send(rig, "PATCH", kArrayPath, got.body.dump()).body == got.body);

    // The instances: GET the list, PUT it back; ids and health stay. The
    // reply adds warnings (region "eu" is declared nowhere here), which may
    // be sent back too.
    const Reply list = send(rig, "GET", std::string(kArrayPath) + "/instances");
    const Reply put_list = send(rig, "PUT", std::string(kArrayPath) + "/instances", list.body.dump());
    CHECK(put_list.status == 200);
    CHECK(without_warnings(put_list.body) == list.body);
    CHECK(put_list.body[0].contains("warnings"));
    const Reply put_reply = send(rig, "PUT", std::string(kArrayPath) + "/instances", put_list.body.dump());
    CHECK(put_reply.status == 200);
    CHECK(put_reply.body == put_list.body);
    // One instance: GET, then PATCH it back whole.
    const std::string instance_path = std::string(kArrayPath) + "/instances/" + std::to_string(id);
    const Reply instance = send(rig, "GET", instance_path);
    const Reply patched = send(rig, "PATCH", instance_path, instance.body.dump());
    CHECK(patched.status == 200);
    CHECK(without_warnings(patched.body) == instance.body);

    struct Edit {
      const char* method;
      std::string path;
      json body;
      std::string message;
      const char* field;
    };
    auto array_with = [&](const char* key, json value) {
      json body = got.body;
      body[key] = std::move(value);
      return body;
    };
    json other_weight = got.body;
    other_weight["instances"][0]["weight"] = 1;
    json list_health = list.body;
    list_health[0]["health"] = "up";
    json list_id = list.body;
    list_id[1]["id"] = id;
    json list_new_id = list.body;
    list_new_id[1]["address"] = "192.0.2.99";
    const Edit edits[] = {
        {"PUT", kArrayPath, array_with("instance_count", 3),
         "instance_count: read-only (the number of instances); it is 2, not 3", "instance_count"},
        {"PUT", kArrayPath, array_with("source", "rotor.json: arrays[0]"),
         "source: read-only (who owns the settings); it is \"api\", not \"rotor.json: arrays[0]\"", "source"},
        {"PUT", "/v1/arrays/new.lb.example.com", json{{"source", "rotor.json: arrays[0]"}},
         "source: read-only (who owns the settings); it is \"api\", not \"rotor.json: arrays[0]\"", "source"},
        {"PUT", kArrayPath, array_with("name", "www.lb.example.com"),
         "name: read-only (the name is the path's); it is \"web.lb.example.com.\", not \"www.lb.example.com.\"",
         "name"},
        {"PUT", kArrayPath, other_weight,
         "instances: read-only (change them with PUT /v1/arrays/{name}/instances); it differs from the "
         "current value; leave it out",
         "instances"},
        {"PATCH", kArrayPath, array_with("instance_count", nullptr),
         "instance_count: read-only (the number of instances); it is 2, not null", "instance_count"},
        {"PUT", "/v1/arrays/new.lb.example.com", json{{"instance_count", 2}},
         "instance_count: read-only (the number of instances); it is 0, not 2", "instance_count"},
        {"PUT", std::string(kArrayPath) + "/instances", list_health,
         "[0].health: read-only (the health checks set it); it is \"down\", not \"up\"", "[0].health"},
        {"PUT", std::string(kArrayPath) + "/instances", list_id,
         ("[1].id: read-only (rotor assigns it); it is " + list.body[1]["id"].dump() + ", not " +
          std::to_string(id)),
         "[1].id"},
        {"PUT", std::string(kArrayPath) + "/instances", list_new_id,
         ("[1].id: read-only (rotor assigns it); it has none, not " + list.body[1]["id"].dump()),
         "[1].id"},
        {"PATCH", instance_path, json{{"id", id + 100}},
         ("id: read-only (rotor assigns it); it is " + std::to_string(id) + ", not " +
          std::to_string(id + 100)),
         "id"},
        {"PATCH", instance_path, json{{"health", "up"}},
         "health: read-only (the health checks set it); it is \"down\", not \"up\"", "health"},
        {"POST", std::string(kArrayPath) + "/instances", instance.body,
         ("id: read-only (rotor assigns it); it has none, not " + std::to_string(id)), "id"},
        {"POST", std::string(kArrayPath) + "/instances", json{{"address", "192.0.2.7"}, {"health", "up"}},
         "health: read-only (the health checks set it); it is \"unknown\", not \"up\"", "health"},
    };
    for (const Edit& edit : edits) {
      CAPTURE(edit.method);
      CAPTURE(edit.path);
      CAPTURE(edit.body.dump());
      const Reply reply = send(rig, edit.method, edit.path, edit.body.dump());
      CHECK(reply.status == 400);
      CHECK(reply.body["error"]["message"] == edit.message);
      CHECK(reply.body["error"]["field"] == edit.field);
    }
    // Nothing changed on the way (the PATCH of what GET returned put the ttl back).
    CHECK(send(rig, "GET", kArrayPath).body == got.body);
    // A new instance's health may be sent as "unknown".
    CHECK(send(rig, "POST", std::string(kArrayPath) + "/instances",
               R"({"address": "192.0.2.7", "health": "unknown", "id": null})").status == 201);
  }

  TEST_CASE("error messages are exact") {
    Rig rig;
    constexpr const char* kText = "; only UTF-8 text without control characters is taken";
    const std::string nul_path = std::string("path: the path holds the byte 0x00 at offset 14") + kText;
    const std::vector<WriteStep> steps = {
        // An integral number is an integer however it is written.
        {"PUT", kArrayPath, R"({"ttl": 1e3})", 201, nullptr, {}, {{"ttl", 1000}}},
        {"PUT", kArrayPath, R"({"ttl": 6E1, "max_answers": 2.0, "degraded_ttl": -0.0})", 200, nullptr,
         {}, {{"ttl", 60}, {"max_answers", 2}, {"degraded_ttl", 0}}},
        {"PUT", kArrayPath, R"({"ttl": 1.5})", 400,
         "ttl: expected an integer, got a number with a fraction (1.5)", "ttl"},
        {"PUT", kArrayPath, R"({"ttl": 1e10})", 400, "ttl: expected 0 to 2147483647, got 10000000000",
         "ttl"},
        {"PUT", kArrayPath, R"({"ttl": -1e0})", 400, "ttl: expected 0 to 2147483647, got -1", "ttl"},
        {"PUT", kArrayPath, R"({"ttl": 1e19})", 400, "ttl: too large", "ttl"},
        {"PUT", kArrayPath, R"({"check": {"port": 8.08e3}})", 200, nullptr, {},
         {{"check", {{"port", 8080.0}}}}},
        // An empty body says so.
        {"PUT", kArrayPath, "", 400, "empty body; send a JSON document", "body"},
        {"PATCH", kArrayPath, " \r\n\t", 400, "empty body; send a JSON document", "body"},
        {"POST", "/v1/arrays/web.lb.example.com/instances", "", 400, "empty body; send a JSON document",
         "body"},
        {"PUT", kArrayPath, "{", 400,
         "malformed JSON: parse error at line 1, column 2: syntax error while parsing object key - unexpected end of input; expected "
         "string literal",
         "body"},
        // A duplicate in a list names the second occurrence.
        {"PUT", "/v1/arrays/web.lb.example.com/instances",
         R"([{"address": "192.0.2.1"}, {"address": "192.0.2.2"}, {"address": "192.0.2.1"}])", 400,
         "[2].address: duplicate of [0] (192.0.2.1)", "[2].address"},
        {"PUT", "/v1/arrays/web.lb.example.com/instances",
         R"([{"address": "2001:db8::1"}, {"address": "2001:DB8:0::1"}])", 400,
         "[1].address: duplicate of [0] (2001:db8::1)", "[1].address"},
        {"PUT", "/v1/arrays/web.lb.example.com/instances", R"({"address": "192.0.2.1"})", 400,
         "body: expected an array of instances, got an object", "body"},
        // Control characters and bytes that are not UTF-8, in a path or a parameter.
        {"GET", "/v1/arrays/web%00.lb.example.com", "", 400, nul_path.c_str(), "path"},
        {"PUT", "/v1/arrays/web%00.lb.example.com", "{}", 400, nul_path.c_str(), "path"},
        {"DELETE", "/v1/arrays/web%00.lb.example.com/instances/1", "", 400, nul_path.c_str(), "path"},
        {"GET", "/v1/arrays/%ff%fe.lb.example.com", "", 400,
         "path: the path holds the byte 0xFF at offset 11; only UTF-8 text without control characters is taken",
         "path"},
        {"GET", "/v1/arrays/web%0a.lb.example.com", "", 400,
         "path: the path holds the byte 0x0A at offset 14; only UTF-8 text without control characters is taken",
         "path"},
        {"GET", "/v1/arrays/%C0%AF.lb.example.com", "", 400,
         "path: the path holds the byte 0xC0 at offset 11; only UTF-8 text without control characters is taken",
         "path"},
        {"GET", "/v1/arrays/caf%C3%A9.lb.example.com", "", 404, "no array caf\u00e9.lb.example.com"},
        {"GET", "/v1/explain?name=web%00.lb.example.com", "", 400,
         "name: the value holds the byte 0x00 at offset 3; only UTF-8 text without control characters is taken",
         "name"},
        // Query parameters a route does not take.
        {"GET", "/v1/events?sinse=1", "", 400,
         "sinse: unknown query parameter; GET /v1/events takes since, limit, array, instance, kind, from_ms, until_ms, wait", "sinse"},
        {"GET", "/v1/explain?name=web.lb.example.com&nmae=x", "", 400,
         "nmae: unknown query parameter; GET /v1/explain takes name, type, client, ecs", "nmae"},
        {"GET", "/v1/arrays?limit=1", "", 400, "limit: unknown query parameter; GET /v1/arrays takes none",
         "limit"},
        {"PUT", "/v1/arrays/web.lb.example.com?dry_run=1", "{}", 400,
         "dry_run: unknown query parameter; PUT /v1/arrays/web.lb.example.com takes none", "dry_run"},
        {"GET", "/healthz?x", "", 400, "x: unknown query parameter; GET /healthz takes none", "x"},
    };
    run_steps(rig, steps, 0);
    CHECK(rig.registry->find(kWeb)->settings.ttl == 30);
  }
}

}  // namespace
}  // namespace rotor::api
