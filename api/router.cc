#include "api/router.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "api/api_error.h"

namespace rotor::api {

namespace {

// The length of the UTF-8 sequence at `at`, 0 when it is not one (overlong
// forms, surrogates and code points past U+10FFFF included).
size_t utf8_sequence(const std::string& text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  if (byte(at + 1) < low || byte(at + 1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(at + i) < 0x80 || byte(at + i) > 0xBF) return 0;
  }
  return length;
}

// Throws 400 naming `field` when `text` (decoded from the URL) holds a
// control character or is not UTF-8: a NUL would end the name early in the
// layers below, and such a name cannot be an array's.
void require_text(const std::string& text, const std::string& what, const std::string& field) {
  for (size_t at = 0; at < text.size();) {
    const auto c = static_cast<unsigned char>(text[at]);
    const size_t length = utf8_sequence(text, at);
    if (c < 0x20 || c == 0x7F || length == 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", c);
      throw ApiError(400,
                     field + ": " + what + " holds the byte " + hex + " at offset " +
                         std::to_string(at) + "; only UTF-8 text without control characters is taken",
                     field);
    }
    at += length;
  }
}

// The parameters of the URL's query alone: httplib adds those of a form
// body (application/x-www-form-urlencoded) to request.params too, and such a
// body is answered 415, not taken as parameters.
httplib::Params query_parameters(const httplib::Request& request) {
  httplib::Params params;
  const auto question = request.target.find('?');
  if (question != std::string::npos) {
    httplib::detail::parse_query_text(request.target.substr(question + 1), params);
  }
  return params;
}

std::string comma_separated(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (const std::string& name : names) out += out.empty() ? name : ", " + name;
  return out;
}

}  // namespace

void Router::add(const std::string& method, const std::string& pattern, RouteHandler handler,
                 std::vector<std::string> query_parameters) {
  Method entry{std::move(handler), std::move(query_parameters)};
  for (Route& route : routes_) {
    if (route.pattern == pattern) {
      route.by_method[method] = std::move(entry);
      return;
    }
  }
  Route route{pattern, {}};
  route.by_method[method] = std::move(entry);
  routes_.push_back(std::move(route));
}

bool Router::match(const std::string& pattern, const std::string& path,
                   std::vector<std::string_view>& params) {
  // Runs for every route until one matches: no allocation, no call per byte.
  params.clear();
  size_t at_pattern = 0;
  size_t at_path = 0;
  while (at_pattern < pattern.size() && at_path < path.size()) {
    if (pattern[at_pattern] == '{' && at_pattern + 1 < pattern.size() && pattern[at_pattern + 1] == '}') {
      const size_t end = std::min(path.find('/', at_path), path.size());
      if (end == at_path) return false;  // an empty segment
      params.emplace_back(path.data() + at_path, end - at_path);
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

std::vector<RouteEntry> Router::route_table() const {
  std::vector<RouteEntry> table;
  for (const Route& route : routes_) {
    for (const auto& [method, entry] : route.by_method) {
      table.push_back({method, route.pattern, entry.query_parameters});
    }
  }
  return table;
}

void Router::dispatch(const httplib::Request& request, httplib::Response& response,
                      const std::string& token_name) const {
  require_text(request.path, "the path", "path");
  const httplib::Params query = query_parameters(request);
  for (const auto& [name, value] : query) {
    require_text(name, "a query parameter's name", "query");
    require_text(value, "the value", name);
  }
  std::vector<std::string_view> params;
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
    const Method& entry = handler->second;
    for (const auto& [name, value] : query) {
      if (std::find(entry.query_parameters.begin(), entry.query_parameters.end(), name) ==
          entry.query_parameters.end()) {
        throw ApiError(400,
                       name + ": unknown query parameter; " + method + " " + request.path +
                           " takes " + comma_separated(entry.query_parameters),
                       name);
      }
    }
    RouteRequest route_request{request, std::vector<std::string>(params.begin(), params.end()), token_name};
    entry.handler(route_request, response);
    return;
  }
  throw ApiError(404, "no route " + request.path);
}

}  // namespace rotor::api
