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

// Which Content-Types a write takes: PATCH takes a JSON merge patch
// (RFC 7396) under its own media type too.
enum class BodyMediaTypes { json, json_or_merge_patch };

// The body of a write. ApiError 415 unless Content-Type is application/json
// (or application/merge-patch+json when `accepted` says so), 400 naming
// "body" when it is empty (whitespace only: "empty body"), does not parse
// (invalid UTF-8 included) or nests deeper than kMaxBodyDepth.
nlohmann::json parse_json_body(const httplib::Request& request,
                               BodyMediaTypes accepted = BodyMediaTypes::json);

void reply_json(httplib::Response& response, int status, const nlohmann::json& body);
// The same reply for a body already written as JSON (views.h's append_*):
// what reply_json would send for the value those bytes are.
void reply_json_text(httplib::Response& response, int status, std::string body);

}  // namespace rotor::api
