// POST /v1/reload: the config file read again and applied as SIGHUP does
// (server/app/reloader.h); 200 with what is served now, 400 with every reason
// when the new config was refused and the old one still runs.

#include <httplib.h>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/routes.h"

namespace rotor::api {

void add_reload_route(Router& router, ApiContext& context) {
  router.add("POST", "/v1/reload", [&context](const RouteRequest& request, httplib::Response& response) {
    if (!context.reload) throw ApiError(404, "reload is not available here");
    if (!request.http.body.empty()) throw ApiError(400, "body: POST /v1/reload takes no body", "body");
    const app::ReloadOutcome outcome = context.reload({.source = "api", .token = request.token_name});
    if (!outcome.ok) {
      nlohmann::json body = error_body(
          400, "reload failed, the running config is unchanged: " + outcome.errors.front(), std::nullopt);
      body["errors"] = outcome.errors;
      body["warnings"] = outcome.warnings;
      body["time_ms"] = outcome.time_ms;
      reply_json(response, 400, body);
      return;
    }
    nlohmann::json body = {{"warnings", outcome.warnings}, {"time_ms", outcome.time_ms}};
    body["status"] = "reloaded";
    body["zones"] = outcome.zones;
    body["arrays"] = outcome.arrays;
    reply_json(response, 200, body);
  });
}

}  // namespace rotor::api
