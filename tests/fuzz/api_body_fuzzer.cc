// The JSON bodies of the API's writes, through the code the routes use
// (api/array_routes.cc): nlohmann::json::parse as api/json_body.cc calls it,
// then the config's parsers for array settings (PUT /v1/arrays/{name}), one
// instance (POST .../instances), a list of them (PUT .../instances) and a
// merge patch over an instance (PATCH .../instances/{id}), each instance's
// check validated merged over the array's, through api/instance_body.h as the
// routes call it.
//
// Expected failures are those the API answers 400: json::exception from the
// parse (which parse_json_body turns into ApiError 400) and config::ConfigError. Any other
// exception would be a 500 and escapes, ending the run.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "api/instance_body.h"
#include "server/config/registry_sections.h"

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
  arrays::ArraySettings settings;
  settings.check = R"({"type": "http", "port": 8080, "path": "/healthz", "interval": "2s"})";
  expect_400([&] { settings = config::parse_array_settings(body, ""); });

  expect_400([&] { api::parse_instance_body(body, "", settings); });

  // PUT .../instances: a list.
  if (body.is_array()) {
    for (size_t i = 0; i < body.size(); ++i) {
      expect_400([&] { api::parse_instance_body(body[i], "[" + std::to_string(i) + "]", settings); });
    }
  }

  // PATCH: the given fields over the current instance's (api::spec_json's
  // form), null removing one.
  if (body.is_object()) {
    const json current = {{"address", "203.0.113.10"}, {"weight", 200}, {"state", "enabled"},
                          {"region", "eu"}, {"lat", 50.1}, {"lon", 8.7}, {"check", {{"port", 8081}}}};
    const json merged = api::merge_instance_patch(current, body);
    expect_400([&] { api::parse_instance_body(merged, "", settings); });
  }
  return 0;
}
