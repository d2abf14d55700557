#include "api/json_body.h"

#include <httplib.h>

#include <cctype>

#include "api/api_error.h"

namespace rotor::api {

namespace {

// "application/json", "Application/JSON; charset=utf-8".
bool is_json_media_type(std::string value) {
  const auto semicolon = value.find(';');
  if (semicolon != std::string::npos) value.resize(semicolon);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
  for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return value == "application/json";
}

// nlohmann's messages start with "[json.exception.parse_error.101] ".
std::string without_exception_id(const std::string& message) {
  const auto end = message.find("] ");
  return end == std::string::npos ? message : message.substr(end + 2);
}

}  // namespace

nlohmann::json parse_json_body(const httplib::Request& request) {
  if (!is_json_media_type(request.get_header_value("Content-Type"))) {
    throw ApiError(415, "send the body as Content-Type: application/json");
  }
  try {
    return nlohmann::json::parse(request.body);
  } catch (const nlohmann::json::parse_error& error) {
    throw ApiError(400, "malformed JSON: " + without_exception_id(error.what()), "body");
  }
}

void reply_json(httplib::Response& response, int status, const nlohmann::json& body) {
  response.status = status;
  response.set_content(body.dump(), "application/json");
}

}  // namespace rotor::api
