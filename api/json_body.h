#pragma once
// Request bodies and replies in JSON.

#include <string>

#include <nlohmann/json.hpp>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace rotor::api {

inline constexpr size_t kMaxBodyBytes = 1 << 20;  // larger bodies get 413
inline constexpr size_t kMaxBodyDepth = 32;        // deeper nesting gets 400

// The body of a write. ApiError 415 unless Content-Type is application/json,
// 400 naming "body" when it does not parse (invalid UTF-8 included) or nests
// deeper than kMaxBodyDepth.
nlohmann::json parse_json_body(const httplib::Request& request);

void reply_json(httplib::Response& response, int status, const nlohmann::json& body);

}  // namespace rotor::api
