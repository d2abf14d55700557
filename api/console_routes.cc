// GET /ui/ and its files: the web console (api/console/), served from the
// binary. Open like /healthz: the files hold no data; the console reads
// everything through the token-protected API with the token the user types.

#include <httplib.h>

#include "api/api_error.h"
#include "api/console_assets.h"
#include "api/routes.h"

namespace rotor::api {

const ConsoleAsset* find_console_asset(std::string_view name) noexcept {
  for (const ConsoleAsset& asset : console_assets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

namespace {

// Only the console's own files run or load: no inline script or style, no
// other origin, no framing; the API calls go to the same origin ('self').
constexpr const char* kConsolePolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

void serve_asset(const std::string& name, httplib::Response& response) {
  const ConsoleAsset* asset = find_console_asset(name);
  if (asset == nullptr) throw ApiError(404, "no console file " + name);
  response.status = 200;
  response.set_header("Content-Security-Policy", kConsolePolicy);
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("Referrer-Policy", "no-referrer");
  // A new binary may bring a new bundle under the same name.
  response.set_header("Cache-Control", "no-cache");
  response.set_content(std::string(asset->body), std::string(asset->content_type));
}

}  // namespace

void add_console_routes(Router& router) {
  router.add("GET", "/ui", [](const RouteRequest&, httplib::Response& response) {
    response.status = 301;
    response.set_header("Location", "/ui/");
  });
  router.add("GET", "/ui/", [](const RouteRequest&, httplib::Response& response) {
    serve_asset("index.html", response);
  });
  router.add("GET", "/ui/{}", [](const RouteRequest& request, httplib::Response& response) {
    serve_asset(request.params[0], response);
  });
}

}  // namespace rotor::api
