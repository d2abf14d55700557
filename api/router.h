#pragma once
// Routes of the API: a path pattern and a handler per method. Matching is done
// here rather than by httplib so that a known path with a wrong method is 405
// (with Allow) and an unknown path is 404, both in the API's error shape.
// Before a handler runs, the router refuses (400) a path or query parameter
// with a control character (NUL included, as %00) or bytes that are not
// UTF-8, and a query parameter the route does not take, naming it.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace rotor::api {

struct RouteRequest {
  const httplib::Request& http;
  std::vector<std::string> params;  // the pattern's capture groups, in order
  // The name of the API token the request was made with (api.tokens[].name,
  // "default" for api.token); empty when the API needs no token. Never the secret.
  std::string token_name;
};
using RouteHandler = std::function<void(const RouteRequest&, httplib::Response&)>;

// One method of one route, as the router serves it (for the route table).
struct RouteEntry {
  std::string method;                         // "GET", "PUT", ...
  std::string pattern;                        // "/v1/arrays/{}/instances/{}"
  std::vector<std::string> query_parameters;  // the names it takes
};

class Router {
 public:
  // `pattern` is a path whose segments are literal or "{}", which matches one
  // non-empty segment and becomes a param ("/v1/arrays/{}/instances/{}");
  // `method` "GET", ...; `query_parameters` the names it takes (others: 400).
  void add(const std::string& method, const std::string& pattern, RouteHandler handler,
           std::vector<std::string> query_parameters = {});
  // Runs the handler with `token_name` in its RouteRequest; 404 for an
  // unknown path, 405 for a known path with another method. Exceptions
  // propagate to the caller.
  void dispatch(const httplib::Request& request, httplib::Response& response,
                const std::string& token_name = "") const;
  // True when `method` on `path` writes (PUT, POST, PATCH, DELETE).
  static bool is_write(const std::string& method);
  // Every method of every route, in the order added (methods by name), so
  // that a test can hold the OpenAPI document to what is served.
  std::vector<RouteEntry> route_table() const;

 private:
  struct Method {
    RouteHandler handler;
    std::vector<std::string> query_parameters;
  };
  struct Route {
    std::string pattern;
    std::map<std::string, Method> by_method;
  };
  // The params of `path` when it matches `pattern` (views into `path`), else false.
  static bool match(const std::string& pattern, const std::string& path,
                    std::vector<std::string_view>& params);
  std::vector<Route> routes_;
};

}  // namespace rotor::api
