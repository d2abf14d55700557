#pragma once
// The API's routes, one function per group; api/README.md documents them.

#include "api/api_context.h"
#include "api/router.h"

namespace rotor::api {

// /v1/arrays, /v1/arrays/{name}, /v1/arrays/{name}/instances[/{id}],
// /v1/instances?address=IP
void add_array_routes(Router& router, ApiContext& context);
// /healthz, /metrics, /v1/rates, /v1/zones, /v1/events, /v1/arrays/{name}/health,
// /v1/cluster/nodes
void add_status_routes(Router& router, ApiContext& context);
// /v1/regions[/{name}], /v1/networks[/{cidr}]
void add_geo_routes(Router& router, ApiContext& context);
// /v1/explain
void add_explain_routes(Router& router, ApiContext& context);
// POST /v1/reload
void add_reload_route(Router& router, ApiContext& context);
// GET /ui, /ui/ and /ui/{file}: the web console (api/console_assets.h)
void add_console_routes(Router& router);
// GET /v1/openapi.json (api/openapi.json, embedded at build time)
void add_openapi_route(Router& router);

// Every route above: what ApiServer serves.
void add_api_routes(Router& router, ApiContext& context);

}  // namespace rotor::api
