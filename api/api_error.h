#pragma once
// The API's one error shape, {"error": {"code", "message", "field"}}, and
// the mapping from what the layers below throw to an HTTP status: a config
// parse error or a registry ValidationError is 400 naming the key path,
// NotFoundError 404, ConflictError 409 (ConcurrentChangeError: another
// node changed the data meanwhile, retry), StoreUnavailable 503 (the
// cluster's store is unreachable), any other StoreError 503.

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace httplib {
struct Response;
}

namespace rotor::api {

// Thrown by handlers for errors of the request itself.
struct ApiError : std::runtime_error {
  ApiError(int status, std::string message, std::optional<std::string> field = std::nullopt);
  int status;
  std::optional<std::string> field;  // the key path the error is about; nullopt: none
};

nlohmann::json error_body(int status, const std::string& message,
                          const std::optional<std::string>& field);
void reply_error(httplib::Response& response, int status, const std::string& message,
                 const std::optional<std::string>& field = std::nullopt);
// Replies for the exception being handled (call inside a catch block).
void reply_current_exception(httplib::Response& response);

// "check.interval: expected ..." -> "check.interval"; nullopt when the message
// does not start with a key path.
std::optional<std::string> field_of(const std::string& validation_message);

// The standard reason phrase's words, lower case, for httplib's own errors.
std::string status_message(int status);

}  // namespace rotor::api
