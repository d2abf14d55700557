#include "api/router.h"

#include <httplib.h>

#include <algorithm>

#include "api/api_error.h"

namespace rotor::api {

void Router::add(const std::string& method, const std::string& pattern, RouteHandler handler) {
  for (Route& route : routes_) {
    if (route.pattern == pattern) {
      route.by_method[method] = std::move(handler);
      return;
    }
  }
  Route route{pattern, {}};
  route.by_method[method] = std::move(handler);
  routes_.push_back(std::move(route));
}

bool Router::match(const std::string& pattern, const std::string& path,
                   std::vector<std::string>& params) {
  params.clear();
  size_t at_pattern = 0;
  size_t at_path = 0;
  while (at_pattern < pattern.size() && at_path < path.size()) {
    if (pattern.compare(at_pattern, 2, "{}") == 0) {
      const size_t end = std::min(path.find('/', at_path), path.size());
      if (end == at_path) return false;  // an empty segment
      params.push_back(path.substr(at_path, end - at_path));
      at_pattern += 2;
      at_path = end;
    } else if (pattern[at_pattern] == path[at_path]) {
      ++at_pattern;
      ++at_path;
    } else {
      return false;
    }
  }
  return at_pattern == pattern.size() && at_path == path.size();
}

bool Router::is_write(const std::string& method) {
  return method == "PUT" || method == "POST" || method == "PATCH" || method == "DELETE";
}

void Router::dispatch(const httplib::Request& request, httplib::Response& response,
                      const std::string& token_name) const {
  std::vector<std::string> params;
  for (const Route& route : routes_) {
    if (!match(route.pattern, request.path, params)) continue;
    // httplib answers HEAD with the GET handler, body dropped.
    const std::string method = request.method == "HEAD" ? "GET" : request.method;
    const auto handler = route.by_method.find(method);
    if (handler == route.by_method.end()) {
      std::string allow;
      for (const auto& [known, ignored] : route.by_method) {
        allow += allow.empty() ? known : ", " + known;
      }
      response.set_header("Allow", allow);
      throw ApiError(405, request.method + " is not allowed on " + request.path + "; use " + allow);
    }
    RouteRequest route_request{request, std::move(params), token_name};
    handler->second(route_request, response);
    return;
  }
  throw ApiError(404, "no route " + request.path);
}

}  // namespace rotor::api
