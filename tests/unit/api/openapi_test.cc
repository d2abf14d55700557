// The OpenAPI document (api/openapi.json, embedded) against the router the
// API really serves: every route and method in both directions, each route's
// query parameters, and the scope each operation needs. The document's
// validity and its examples are ctest openapi/validate's (tests/openapi).

#include "api/openapi_document.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/router.h"
#include "api/routes.h"
#include "tests/unit/api/api_rig.h"

namespace rotor::api {
namespace {

using nlohmann::json;
using test::Rig;
using test::send;

constexpr const char* kMethods[] = {"get", "put", "post", "patch", "delete", "head", "options"};

json document() { return json::parse(openapi_document()); }

// "/v1/arrays/{name}/instances/{id}" -> "/v1/arrays/{}/instances/{}", the router's form.
std::string router_pattern(const std::string& path) {
  static const std::regex parameter(R"(\{[^}/]+\})");
  return std::regex_replace(path, parameter, "{}");
}

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::toupper(c); });
  return text;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// A parameter, its $ref to components.parameters followed.
const json& resolved(const json& doc, const json& parameter) {
  if (!parameter.contains("$ref")) return parameter;
  const std::string ref = parameter["$ref"];
  const std::string prefix = "#/components/parameters/";
  REQUIRE_MESSAGE(ref.rfind(prefix, 0) == 0, "unexpected parameter reference " << ref);
  return doc["components"]["parameters"].at(ref.substr(prefix.size()));
}

// The query parameters of `method` on `path`: the path's and the operation's.
std::set<std::string> documented_query(const json& doc, const std::string& path, const std::string& method) {
  std::set<std::string> names;
  const json& item = doc["paths"][path];
  for (const json* list : {&item, &item[method]}) {
    for (const json& parameter : list->value("parameters", json::array())) {
      const json& real = resolved(doc, parameter);
      if (real["in"] == "query") names.insert(real["name"].get<std::string>());
    }
  }
  return names;
}

std::string joined(const std::set<std::string>& names) {
  std::ostringstream out;
  for (const std::string& name : names) out << (out.tellp() > 0 ? ", " : "") << name;
  return out.str();
}

// The router with every route the server adds, over a scratch registry.
std::vector<RouteEntry> served_routes(Rig& rig) {
  ApiContext context{.registry = *rig.registry, .composer = rig.composer, .publisher = rig.publisher};
  Router router;
  add_api_routes(router, context);
  return router.route_table();
}

TEST_SUITE("unit/api/openapi") {
  TEST_CASE("every served route is documented and every documented route is served") {
    Rig rig;
    const json doc = document();
    std::set<std::string> served;
    for (const RouteEntry& route : served_routes(rig)) served.insert(route.method + " " + route.pattern);
    std::set<std::string> documented;
    std::map<std::string, std::string> documented_as;  // "GET /v1/arrays/{}" -> the document's path
    for (const auto& [path, item] : doc["paths"].items()) {
      for (const char* method : kMethods) {
        if (!item.contains(method)) continue;
        const std::string key = upper(method) + " " + router_pattern(path);
        documented.insert(key);
        documented_as[key] = path;
      }
    }
    CHECK(served.size() >= 29);
    for (const std::string& route : served) {
      CHECK_MESSAGE(documented.contains(route),
                    route << " is served but not in api/openapi.json: document it");
    }
    for (const std::string& route : documented) {
      CHECK_MESSAGE(served.contains(route), documented_as[route]
                                                << " (" << route
                                                << ") is in api/openapi.json but the router has no such route");
    }
  }

  TEST_CASE("each route documents exactly the query parameters it takes") {
    Rig rig;
    const json doc = document();
    int checked = 0;
    for (const RouteEntry& route : served_routes(rig)) {
      for (const auto& [path, item] : doc["paths"].items()) {
        if (router_pattern(path) != route.pattern || !item.contains(lower(route.method))) continue;
        const std::set<std::string> taken(route.query_parameters.begin(), route.query_parameters.end());
        const std::set<std::string> documented = documented_query(doc, path, lower(route.method));
        CHECK_MESSAGE(taken == documented, route.method << " " << path << " takes {" << joined(taken)
                                                        << "} but the document lists {" << joined(documented)
                                                        << "}");
        ++checked;
      }
    }
    CHECK(checked >= 29);
  }

  TEST_CASE("each operation names the scope the server asks for") {
    const json doc = document();
    const json read = json::array({{{"bearer", {"read"}}}});
    const json write = json::array({{{"bearer", {"write"}}}});
    CHECK(doc["security"] == read);
    for (const auto& [path, item] : doc["paths"].items()) {
      for (const char* method : kMethods) {
        if (!item.contains(method)) continue;
        const json& operation = item[method];
        const json security = operation.value("security", doc["security"]);
        // api_server.cc: /healthz, /metrics and the console's files are open;
        // writes need scope write.
        const bool open = path == "/healthz" || path == "/metrics" || path == "/ui" || path.starts_with("/ui/");
        const json expected = open ? json::array() : Router::is_write(upper(method)) ? write : read;
        CHECK_MESSAGE(security == expected, upper(method) << " " << path << " has security "
                                                          << security.dump() << ", expected " << expected.dump());
      }
    }
  }

  TEST_CASE("GET /v1/openapi.json serves the embedded document") {
    Rig rig;
    const auto reply = send(rig, "GET", "/v1/openapi.json");
    CHECK(reply.status == 200);
    CHECK(reply.body == document());
    CHECK(reply.body["openapi"] == "3.1.0");
    CHECK(reply.body["paths"].contains("/v1/openapi.json"));
  }

  TEST_CASE("GET /v1/openapi.json needs a token like every route but healthz and metrics") {
    Rig rig("s3cret-token");
    CHECK(send(rig, "GET", "/v1/openapi.json").status == 401);
    const auto reply =
        send(rig, "GET", "/v1/openapi.json", "", "", {{"Authorization", "Bearer s3cret-token"}});
    CHECK(reply.status == 200);
    CHECK(reply.body == document());
  }
}

}  // namespace
}  // namespace rotor::api
