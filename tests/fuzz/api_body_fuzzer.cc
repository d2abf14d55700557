// The JSON bodies of the API's writes, through the code the routes use
// (api/array_routes.cc): nlohmann::json::parse as api/json_body.cc calls it,
// then the config's parsers for array settings (PUT /v1/arrays/{name}), one
// instance (POST .../instances), a list of them (PUT .../instances) and
// merge patches over an array and an instance (PATCH), each instance's check
// validated merged over the array's, through api/write_bodies.h as the routes
// call it, against GET views as api/views.h writes them.
//
// Expected failures are those the API answers 400: json::exception from the
// parse (which parse_json_body turns into ApiError 400) and config::ConfigError. Any other
// exception would be a 500 and escapes, ending the run.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "api/write_bodies.h"
#include "server/config/config.h"

namespace {

using nlohmann::json;
using namespace rotor;

template <typename F>
void expect_400(F&& f) {
  try {
    f();
  } catch (const config::ConfigError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  json body;
  try {
    body = json::parse(data, data + size);
  } catch (const json::exception&) {  // as parse_json_body: parse_error, out_of_range (1e500)
    return 0;
  }

  // The array the instance bodies are checked against: the body's own
  // settings when they are valid, else an array with an http check.
  const json array_view = {
      {"name", "web.lb.example.com."}, {"policy", "geo"}, {"ttl", 30}, {"degraded_ttl", 10},
      {"max_answers", 0}, {"when_all_down", "all"},
      {"check", {{"type", "http"}, {"port", 8080}, {"path", "/healthz"}, {"interval", "2s"}}},
      {"instance_count", 1},
      {"instances", json::array({json{{"address", "203.0.113.10"}, {"weight", 200},
                                      {"state", "enabled"}, {"id", 7}, {"health", "up"}}})}};
  arrays::ArraySettings settings;
  settings.check = array_view["check"].dump();
  expect_400([&] { settings = api::array_settings_from_put(body, array_view); });
  expect_400([&] { api::array_settings_from_patch(body, array_view); });

  expect_400([&] { api::instance_from_post(body, settings); });
  expect_400([&] { api::instances_from_put(body, array_view["instances"], settings); });

  // PATCH: the given fields over the current instance's GET view, null
  // removing a key at any depth.
  const json instance_view = {{"address", "203.0.113.10"}, {"weight", 200}, {"state", "enabled"},
                              {"region", "eu"}, {"lat", 50.1}, {"lon", 8.7},
                              {"check", {{"port", 8081}}}, {"id", 7}, {"health", "up"}};
  expect_400([&] { api::instance_from_patch(body, instance_view, settings); });
  return 0;
}
