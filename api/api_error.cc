#include "api/api_error.h"

#include <spdlog/spdlog.h>

#include <httplib.h>

#include <cctype>

#include "server/common/field_error.h"
#include "server/registry/registry.h"

namespace rotor::api {

ApiError::ApiError(int status_in, std::string message, std::optional<std::string> field_in)
    : std::runtime_error(std::move(message)), status(status_in), field(std::move(field_in)) {}

nlohmann::json error_body(int status, const std::string& message,
                          const std::optional<std::string>& field) {
  return {{"error",
           {{"code", status},
            {"message", message},
            {"field", field ? nlohmann::json(*field) : nlohmann::json(nullptr)}}}};
}

void reply_error(httplib::Response& response, int status, const std::string& message,
                 const std::optional<std::string>& field) {
  response.status = status;
  response.set_content(error_body(status, message, field)
                           .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                       "application/json");
}

std::optional<std::string> field_of(const std::string& message) {
  const auto colon = message.find(": ");
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  // A key path is made of key characters, dots and [indices]; anything else
  // (a space, a quote) means the message starts with prose.
  for (size_t i = 0; i < colon; ++i) {
    const auto c = static_cast<unsigned char>(message[i]);
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '[' && c != ']') return std::nullopt;
  }
  return message.substr(0, colon);
}

void reply_current_exception(httplib::Response& response) {
  try {
    throw;
  } catch (const ApiError& error) {
    reply_error(response, error.status, error.what(), error.field);
  } catch (const FieldError& error) {
    // An empty path is the body itself (an API body that is not an object).
    const std::string field = error.path.empty() ? "body" : error.path;
    reply_error(response, 400, field + ": " + error.reason, field);
  } catch (const registry::ValidationError& error) {
    reply_error(response, 400, error.what(), field_of(error.what()));
  } catch (const registry::NotFoundError& error) {
    reply_error(response, 404, error.what());
  } catch (const registry::ConcurrentChangeError& error) {
    reply_error(response, 409, error.what());
  } catch (const registry::ConflictError& error) {
    // An address taken in the array, or a name the zone data already answers for.
    reply_error(response, 409, error.what(), field_of(error.what()).value_or("address"));
  } catch (const registry::StoreUnavailable& error) {
    // A cluster without a reachable etcd quorum; DNS keeps answering. A write
    // that timed out may still commit: the node learns it from the watch.
    spdlog::warn("api: the store is unreachable (503; DNS keeps serving the last data): {}",
                 error.what());
    reply_error(response, 503,
                std::string("store unreachable, the write was not confirmed: ") + error.what());
  } catch (const registry::StoreError& error) {
    // The database refused the write; the served data is unchanged and DNS keeps answering.
    spdlog::error("api: the database refused a write (503; DNS keeps serving the last data): {}",
                  error.what());
    reply_error(response, 503, std::string("store unavailable: ") + error.what());
  } catch (const std::exception& error) {
    reply_error(response, 500, std::string("internal error: ") + error.what());
  } catch (...) {
    reply_error(response, 500, "internal error");
  }
}

std::string status_message(int status) {
  switch (status) {
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 413: return "body larger than 1 MiB";
    case 414: return "URI too long";
    case 415: return "unsupported media type: send Content-Type: application/json";
    case 416: return "range not satisfiable";
    case 503: return "service unavailable";
    default: return status >= 500 ? "internal error" : "request error";
  }
}

}  // namespace rotor::api
