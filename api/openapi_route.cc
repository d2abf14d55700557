// GET /v1/openapi.json, and the list of every route group: the document
// describes exactly what add_api_routes adds (unit/api/openapi holds them
// to each other).

#include <httplib.h>

#include <string>

#include "api/openapi_document.h"
#include "api/routes.h"

namespace rotor::api {

void add_openapi_route(Router& router) {
  router.add("GET", "/v1/openapi.json", [](const RouteRequest&, httplib::Response& response) {
    response.status = 200;
    const std::string_view document = openapi_document();
    response.set_content(document.data(), document.size(), "application/json");
  });
}

void add_api_routes(Router& router, ApiContext& context) {
  add_status_routes(router, context);
  add_array_routes(router, context);
  add_geo_routes(router, context);
  add_explain_routes(router, context);
  add_reload_route(router, context);
  add_openapi_route(router);
  add_console_routes(router);
}

}  // namespace rotor::api
