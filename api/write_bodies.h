#pragma once
// The bodies of the API's writes, without HTTP or the registry: what a PUT,
// POST or PATCH body means given the resource's current GET view
// (api/views.h), parsed by the config's parsers so that a field accepts and
// refuses exactly what it does in the config file. Shared by the routes and
// the API body fuzzer, so that the fuzzer runs exactly what the routes run.
//
// Rules (api/README.md, "Writing what GET returns"):
// - A read-only field of the GET view (an array's "name", "instance_count",
//   "instances"; an instance's "id", "health") may be sent back: it is
//   ignored when it equals the current value and refused otherwise.
// - "warnings", which write replies carry, is ignored in any body, so that a
//   write reply can be sent back too.
// - A null field is the field left out (its default); in a PATCH it removes
//   the key at any depth, as in a JSON merge patch (RFC 7396).
// - A PUT of an array that has a check must name "check" (the check, or null
//   to remove it): a full replacement would otherwise drop the check unseen.
//
// Every function is pure and thread-safe. Errors are FieldError
// (server/common/field_error.h) naming the key path under the body
// ("check.port", "[2].address"; "" for the body itself), which the API
// answers 400 naming that field.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/arrays/array.h"
#include "server/geo/geo.h"

namespace rotor::api {

// PUT /v1/arrays/{name}. `current` is the array's GET view with instances
// (views.h array_json), or for a new array {"name": <the path's name>,
// "instance_count": 0, "instances": []}.
arrays::ArraySettings array_settings_from_put(nlohmann::json body, const nlohmann::json& current);

// PATCH /v1/arrays/{name}: `patch` merged over the settings of `current`
// (the array's GET view with instances), the result parsed as the config
// parses an array's settings.
arrays::ArraySettings array_settings_from_patch(const nlohmann::json& patch,
                                                const nlohmann::json& current);

// An instance body (no "id" or "health"), parsed as the config parses an
// instance, its check validated merged over the array's `settings`. `path`
// prefixes the key paths of errors.
arrays::InstanceSpec parse_instance_body(const nlohmann::json& body, const std::string& path,
                                         const arrays::ArraySettings& settings);

// POST /v1/arrays/{name}/instances: a new instance ("id" absent or null,
// "health" absent or "unknown").
arrays::InstanceSpec instance_from_post(nlohmann::json body, const arrays::ArraySettings& settings);

// PATCH /v1/arrays/{name}/instances/{id}: `patch` merged over `current` (the
// instance's GET view, views.h instance_json). Both by value: the merge is
// made in them, so that a caller that moves them in pays no copy.
arrays::InstanceSpec instance_from_patch(nlohmann::json patch, nlohmann::json current,
                                         const arrays::ArraySettings& settings);

// PUT /v1/arrays/{name}/instances: a list of instances. An element's "id" and
// "health" are compared with the current instance of the same address
// (`current`: the GET list, views.h instance_json each), or with a new
// instance's. A second element with an address already listed is refused
// naming "[i].address".
std::vector<arrays::InstanceSpec> instances_from_put(const nlohmann::json& body,
                                                     const nlohmann::json& current,
                                                     const arrays::ArraySettings& settings);

// PUT /v1/regions/{name}: a region body, parsed as the config's regions[]
// elements. `current` is the region's GET view (views.h region_view), or for
// a new one {"name": <the path's>, "source": "api"}; "name" and "source" are
// read-only.
geo::RegionSpec region_from_put(nlohmann::json body, const nlohmann::json& current);
// PUT /v1/networks/{cidr}: {"region"}, parsed as the config's networks[]
// elements. `current` as for regions, with "cidr" (canonical) for "name"; a
// "cidr" in the body may be any spelling of the path's.
geo::NetworkSpec network_from_put(nlohmann::json body, const nlohmann::json& current);

}  // namespace rotor::api
