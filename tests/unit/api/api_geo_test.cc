// The regions and networks routes: bodies parsed by the config's parsers
// (the same rules and words), the config's entries owned by the config (409
// naming the file and key path), the API's stored, events for every write,
// and the composed geo placing clients at once.

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/unit/api/api_rig.h"

namespace rotor::api {
namespace {

using nlohmann::json;
using test::Reply;
using test::Rig;
using test::send;

// One request and what it must get: the status, and either the error's
// exact message and field, or the whole reply body.
struct Step {
  const char* method;
  const char* path;
  const char* body;
  int status;
  const char* message = nullptr;  // the error message; nullptr: a success
  const char* field = nullptr;
  json expect = nullptr;  // the reply body; null: not compared
};

void run_steps(const Rig& rig, const std::vector<Step>& steps) {
  for (const Step& step : steps) {
    CAPTURE(step.method);
    CAPTURE(step.path);
    CAPTURE(step.body);
    const Reply reply = send(rig, step.method, step.path, step.body);
    CAPTURE(reply.body.dump());
    CHECK(reply.status == step.status);
    if (step.message != nullptr) {
      REQUIRE(reply.body.contains("error"));
      CHECK(reply.body["error"]["message"] == step.message);
      CHECK(reply.body["error"]["field"] == (step.field ? json(step.field) : json(nullptr)));
    }
    if (!step.expect.is_null()) CHECK(reply.body == step.expect);
  }
}

// The config declares region eu and network 203.0.113.0/24.
void declare_config_geo(Rig& rig) {
  rig.registry->set_geo({.regions = {{"eu", 50.1, 8.7, {}}},
                         .networks = {{"203.0.113.0/24", "eu"}},
                         .file = "rotor.json"});
}

TEST_SUITE("unit/api/api_geo") {
  TEST_CASE("region and network bodies are parsed as the config parses them") {
    Rig rig;
    declare_config_geo(rig);
    const std::vector<Step> steps = {
        {"PUT", "/v1/regions/us", R"({"lat": 39, "lon": -77.5, "bogus": 1})", 400, "bogus: unknown key", "bogus"},
        {"PUT", "/v1/regions/us", R"({"lat": 91, "lon": 0})", 400, "lat: expected -90 to 90", "lat"},
        {"PUT", "/v1/regions/us", R"({"lat": 39})", 400, "lon: missing; give lat and lon together", "lon"},
        {"PUT", "/v1/regions/us", R"({"prefer": "eu"})", 400, "prefer: expected an array, got a string", "prefer"},
        {"PUT", "/v1/regions/us", R"({"name": "ap"})", 400,
         "name: read-only (the name is the path's); it is \"us\", not \"ap\"", "name"},
        {"PUT", "/v1/regions/us", R"([])", 400, "body: expected an object, got an array", "body"},
        {"PUT", "/v1/regions/us", R"({"name": "us", "lat": 39, "lon": -77.5, "prefer": ["eu"], "source": "api"})",
         201, nullptr, nullptr,
         {{"name", "us"}, {"lat", 39.0}, {"lon", -77.5}, {"prefer", {"eu"}}, {"source", "api"}}},
        {"PUT", "/v1/regions/us", R"({"lat": null, "prefer": []})", 200, nullptr, nullptr,
         {{"name", "us"}, {"prefer", json::array()}, {"source", "api"}}},
        {"PUT", "/v1/regions/eu", R"({})", 409,
         "name: region eu is declared in rotor.json: regions[0]; change it there", "name"},
        {"DELETE", "/v1/regions/eu", "", 409,
         "name: region eu is declared in rotor.json: regions[0]; remove it there", "name"},
        {"DELETE", "/v1/regions/mars", "", 404, "no region mars"},

        {"PUT", "/v1/networks/10.0.0.0/8", R"({"region": "us", "extra": true})", 400, "extra: unknown key", "extra"},
        {"PUT", "/v1/networks/10.0.0.0/8", R"({})", 400, "region: missing; every network needs a region", "region"},
        {"PUT", "/v1/networks/10.0.0.0/8", R"({"region": ""})", 400, "region: empty region name", "region"},
        {"PUT", "/v1/networks/10.0.0.0/33", R"({"region": "us"})", 400,
         "cidr: \"10.0.0.0/33\" is not a network like \"192.0.2.0/24\"", "cidr"},
        {"PUT", "/v1/networks/10.0.0.1/8", R"({"region": "us"})", 400,
         "cidr: bad CIDR \"10.0.0.1/8\" (address has bits set past the prefix)", "cidr"},
        {"PUT", "/v1/networks/10.0.0.0/8", R"({"cidr": "10.0.0.0/16", "region": "us"})", 400,
         "cidr: read-only (the network is the path's); it is \"10.0.0.0/8\", not \"10.0.0.0/16\"", "cidr"},
        {"PUT", "/v1/networks/203.0.113.0%2F24", R"({"region": "us"})", 409,
         "cidr: network 203.0.113.0/24 is declared in rotor.json: networks[0]; change it there", "cidr"},
        {"PUT", "/v1/networks/2001:DB8:0::%2F32", R"({"cidr": "2001:db8::/32", "region": "us"})", 201, nullptr,
         nullptr, {{"cidr", "2001:db8::/32"}, {"region", "us"}, {"source", "api"}}},
        {"PUT", "/v1/networks/2001:db8::/32", R"({"region": "eu", "source": "api"})", 200, nullptr, nullptr,
         {{"cidr", "2001:db8::/32"}, {"region", "eu"}, {"source", "api"}}},
        {"GET", "/v1/networks/2001:db8:0:0::/32", "", 200, nullptr, nullptr,
         {{"cidr", "2001:db8::/32"}, {"region", "eu"}, {"source", "api"}}},
        {"GET", "/v1/networks", "", 200, nullptr, nullptr,
         {{"networks",
           {{{"cidr", "203.0.113.0/24"}, {"region", "eu"}, {"source", "rotor.json: networks[0]"}},
            {{"cidr", "2001:db8::/32"}, {"region", "eu"}, {"source", "api"}}}}}},
        {"GET", "/v1/regions", "", 200, nullptr, nullptr,
         {{"regions",
           {{{"name", "eu"}, {"lat", 50.1}, {"lon", 8.7}, {"prefer", json::array()}, {"source", "rotor.json: regions[0]"}},
            {{"name", "us"}, {"prefer", json::array()}, {"source", "api"}}}}}},
        {"DELETE", "/v1/networks/2001:db8::/32", "", 204},
        {"DELETE", "/v1/networks/2001:db8::/32", "", 404, "no network 2001:db8::/32"},
        {"DELETE", "/v1/regions/us", "", 204},
        {"GET", "/v1/regions/us", "", 404, "no region us"},
    };
    run_steps(rig, steps);
  }

  TEST_CASE("every region and network write is an admin event") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/regions/us", R"({"lat": 39, "lon": -77.5})").status == 201);
    REQUIRE(send(rig, "PUT", "/v1/networks/10.0.0.0/8", R"({"region": "us"})").status == 201);
    REQUIRE(send(rig, "PUT", "/v1/networks/10.0.0.0/8", R"({"region": "eu"})").status == 200);
    REQUIRE(send(rig, "DELETE", "/v1/networks/10.0.0.0/8", "").status == 204);
    const Reply events = send(rig, "GET", "/v1/events?kind=admin", "");
    REQUIRE(events.status == 200);
    std::vector<std::vector<std::string>> seen;
    for (const json& event : events.body["events"]) {
      seen.push_back({event["reason"], event["old"], event["new"]});
    }
    CHECK(seen == std::vector<std::vector<std::string>>{
                      {"region us created", "", R"({"lat":39.0,"lon":-77.5,"name":"us","prefer":[]})"},
                      {"network 10.0.0.0/8 created", "", R"({"cidr":"10.0.0.0/8","region":"us"})"},
                      {"network 10.0.0.0/8 changed", R"({"cidr":"10.0.0.0/8","region":"us"})",
                       R"({"cidr":"10.0.0.0/8","region":"eu"})"},
                      {"network 10.0.0.0/8 deleted", R"({"cidr":"10.0.0.0/8","region":"eu"})", ""}});
  }

  TEST_CASE("an API network places clients at once and the config keeps its own") {
    Rig rig;
    declare_config_geo(rig);
    REQUIRE(send(rig, "PUT", "/v1/networks/198.51.100.0/24", R"({"region": "us"})").status == 201);
    const auto located = [&](uint8_t a, uint8_t b, uint8_t c) {
      geo::ClientAddress client{.family = 4, .bytes = {a, b, c, 1}, .prefix = 32};
      const auto snapshot = rig.publisher.current();
      const geo::ClientLocation location = snapshot->geo.locate(client);
      return location.region == arrays::kNoRegion ? std::string() : snapshot->geo.regions->name(location.region);
    };
    CHECK(located(198, 51, 100) == "us");
    CHECK(located(203, 0, 113) == "eu");
    // A reload of a config that now declares the API's network: the config's wins.
    rig.registry->set_geo({.regions = {{"eu", 50.1, 8.7, {}}},
                           .networks = {{"203.0.113.0/24", "eu"}, {"198.51.100.0/24", "eu"}},
                           .file = "rotor.json"});
    CHECK(located(198, 51, 100) == "eu");
    CHECK(send(rig, "PUT", "/v1/networks/198.51.100.0/24", R"({"region": "us"})").status == 409);
  }
}

}  // namespace
}  // namespace rotor::api
