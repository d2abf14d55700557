#include "api/json_body.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>

#include "api/api_error.h"
#include "server/common/ascii.h"

namespace rotor::api {

namespace {

// "Application/JSON; charset=utf-8" -> "application/json".
std::string media_type(std::string value) {
  const auto semicolon = value.find(';');
  if (semicolon != std::string::npos) value.resize(semicolon);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
  return ascii_lowercase(std::move(value));
}

void require_media_type(const std::string& content_type, BodyMediaTypes accepted) {
  const std::string type = media_type(content_type);
  if (type == "application/json") return;
  if (accepted == BodyMediaTypes::json_or_merge_patch) {
    if (type == "application/merge-patch+json") return;
    throw ApiError(415, "send the body as Content-Type: application/merge-patch+json or application/json");
  }
  throw ApiError(415, "send the body as Content-Type: application/json");
}

bool is_blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  });
}

// nlohmann's messages start with "[json.exception.parse_error.101] ".
std::string without_exception_id(const std::string& message) {
  const auto end = message.find("] ");
  return end == std::string::npos ? message : message.substr(end + 2);
}

// How deep arrays and objects nest, strings skipped; stops counting past
// `limit`. The parser itself would accept any depth, and every layer of a
// hostile body costs a recursive call when the value is walked or freed.
size_t nesting_depth(const std::string& text, size_t limit) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

nlohmann::json parse_json_body(const httplib::Request& request, BodyMediaTypes accepted) {
  require_media_type(request.get_header_value("Content-Type"), accepted);
  if (is_blank(request.body)) throw ApiError(400, "empty body; send a JSON document", "body");
  if (nesting_depth(request.body, kMaxBodyDepth) > kMaxBodyDepth) {
    throw ApiError(400, "JSON nested deeper than " + std::to_string(kMaxBodyDepth) + " levels",
                   "body");
  }
  try {
    return nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::exception& error) {
    // parse_error, and out_of_range for a number too large for a double (1e500).
    throw ApiError(400, "malformed JSON: " + without_exception_id(error.what()), "body");
  }
}

void reply_json_text(httplib::Response& response, int status, std::string body) {
  response.status = status;
  // set_content's effect without its copy of the body.
  response.body = std::move(body);
  const auto types = response.headers.equal_range("Content-Type");
  response.headers.erase(types.first, types.second);
  response.set_header("Content-Type", "application/json");
}

void reply_json(httplib::Response& response, int status, const nlohmann::json& body) {
  // Replacing bytes that are not UTF-8 (a name echoed from a hostile path)
  // rather than throwing: an error reply must always go out.
  reply_json_text(response, status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace rotor::api
