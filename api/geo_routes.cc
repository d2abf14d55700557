// Regions and networks: the config's and the API's, read from the registry;
// writes of the API's through it (validated, committed, served) before the
// reply. A network's path is its CIDR, the slash as is or as %2F
// (/v1/networks/192.0.2.0/24), so the route has two segments.

#include <httplib.h>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "api/views.h"
#include "api/write_bodies.h"

namespace rotor::api {

namespace {

using nlohmann::json;

constexpr const char* kRegion = "/v1/regions/{}";
constexpr const char* kNetwork = "/v1/networks/{}/{}";

std::optional<registry::RegisteredRegion> find_region(const ApiContext& context, const std::string& name) {
  for (registry::RegisteredRegion& region : context.registry.regions()) {
    if (region.spec.name == name) return std::move(region);
  }
  return std::nullopt;
}

// The path's CIDR in its canonical spelling (as GET shows it), or as given
// when it is no network (the body's parser then says why).
std::string path_cidr(const RouteRequest& request) {
  const std::string given = request.params[0] + "/" + request.params[1];
  return geo::canonical_cidr(given).value_or(given);
}

std::optional<registry::RegisteredNetwork> find_network(const ApiContext& context, const std::string& cidr) {
  for (registry::RegisteredNetwork& network : context.registry.networks()) {
    if (geo::canonical_cidr(network.spec.cidr).value_or(network.spec.cidr) == cidr) {
      return std::move(network);
    }
  }
  return std::nullopt;
}

void add_region_routes(Router& router, ApiContext& context) {
  router.add("GET", "/v1/regions", [&context](const RouteRequest&, httplib::Response& response) {
    json regions = json::array();
    for (const auto& region : context.registry.regions()) regions.push_back(region_view(region));
    reply_json(response, 200, {{"regions", std::move(regions)}});
  });

  router.add("GET", kRegion, [&context](const RouteRequest& request, httplib::Response& response) {
    const auto region = find_region(context, request.params[0]);
    if (!region) throw ApiError(404, "no region " + request.params[0]);
    reply_json(response, 200, region_view(*region));
  });

  router.add("PUT", kRegion, [&context](const RouteRequest& request, httplib::Response& response) {
    const json body = parse_json_body(request.http);
    const auto current = find_region(context, request.params[0]);
    const json view = current ? region_view(*current) : json{{"name", request.params[0]}, {"source", "api"}};
    const geo::RegionSpec region = region_from_put(body, view);
    const bool created = context.registry.put_region(region, request.token_name);
    reply_json(response, created ? 201 : 200, region_view({region, ""}));
  });

  router.add("DELETE", kRegion, [&context](const RouteRequest& request, httplib::Response& response) {
    context.registry.delete_region(request.params[0], request.token_name);
    response.status = 204;
  });
}

void add_network_routes(Router& router, ApiContext& context) {
  router.add("GET", "/v1/networks", [&context](const RouteRequest&, httplib::Response& response) {
    json networks = json::array();
    for (const auto& network : context.registry.networks()) networks.push_back(network_view(network));
    reply_json(response, 200, {{"networks", std::move(networks)}});
  });

  router.add("GET", kNetwork, [&context](const RouteRequest& request, httplib::Response& response) {
    const std::string cidr = path_cidr(request);
    const auto network = find_network(context, cidr);
    if (!network) throw ApiError(404, "no network " + cidr);
    reply_json(response, 200, network_view(*network));
  });

  router.add("PUT", kNetwork, [&context](const RouteRequest& request, httplib::Response& response) {
    const json body = parse_json_body(request.http);
    const std::string cidr = path_cidr(request);
    const auto current = find_network(context, cidr);
    const json view = current ? network_view(*current) : json{{"cidr", cidr}, {"source", "api"}};
    geo::NetworkSpec network = network_from_put(body, view);
    network.cidr = cidr;  // canonical: the parser accepted it
    const bool created = context.registry.put_network(network, request.token_name);
    reply_json(response, created ? 201 : 200, network_view({network, ""}));
  });

  router.add("DELETE", kNetwork, [&context](const RouteRequest& request, httplib::Response& response) {
    context.registry.delete_network(path_cidr(request), request.token_name);
    response.status = 204;
  });
}

}  // namespace

void add_geo_routes(Router& router, ApiContext& context) {
  add_region_routes(router, context);
  add_network_routes(router, context);
}

}  // namespace rotor::api
