// Arrays and their instances: reads from the registry's model, writes through
// the registry (validated, committed, then published) before the reply.

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <charconv>

#include "api/api_error.h"
#include "api/health_views.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "api/views.h"
#include "api/write_bodies.h"

namespace rotor::api {

namespace {

using nlohmann::json;

constexpr const char* kArray = "/v1/arrays/{}";
constexpr const char* kInstances = "/v1/arrays/{}/instances";
constexpr const char* kInstance = "/v1/arrays/{}/instances/{}";
constexpr const char* kInstanceChecks = "/v1/arrays/{}/instances/{}/checks";

registry::RegisteredArray find_array(const ApiContext& context, const std::string& name) {
  auto array = context.registry.find(name);
  if (!array) throw ApiError(404, "no array " + name);
  return std::move(*array);
}

int64_t instance_id(const std::string& text) {
  int64_t id = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (error != std::errc() || end != text.data() + text.size() || id <= 0) {
    throw ApiError(404, "no instance " + text);
  }
  return id;
}

// The instance the path names (array, then id) with its array's name and
// settings, without a copy of the array's other instances; 404 naming what
// is missing, the array first.
registry::Registry::FoundInstance find_instance(const ApiContext& context, const std::string& array,
                                                const std::string& id_text) {
  int64_t id = 0;
  const auto [end, error] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  const bool valid_id = error == std::errc() && end == id_text.data() + id_text.size() && id > 0;
  auto found = context.registry.find_instance_in(array, valid_id ? id : 0);
  if (!found) throw ApiError(404, "no array " + array);
  if (!valid_id) throw ApiError(404, "no instance " + id_text);
  if (!found->instance) throw ApiError(404, "no instance " + std::to_string(id) + " in " + found->array);
  return std::move(*found);
}

// ?address=IP, the only parameter of /v1/instances. An IPv4-mapped IPv6
// address (::ffff:192.0.2.1) is looked up as the IPv4 address it is.
arrays::IpAddress address_parameter(const httplib::Request& request) {
  for (const auto& [name, value] : request.params) {
    if (name != "address") throw ApiError(400, name + ": unknown query parameter", name);
  }
  if (!request.has_param("address")) {
    throw ApiError(400, "address: missing; give ?address=IP", "address");
  }
  const std::string text = request.get_param_value("address");
  auto address = arrays::IpAddress::parse(text);
  if (!address) throw ApiError(400, "address: \"" + text + "\" is not an IP address", "address");
  return address->unmapped();
}

// Adds a write reply's "warnings" (likely mistakes in what was just
// accepted, registry/warnings.h), each also logged with what it is about.
// Without any the reply is the GET view, so that it compares equal.
json with_warnings(json reply, const std::vector<std::string>& warnings, const std::string& about) {
  for (const std::string& warning : warnings) spdlog::warn("api: {}: {}", about, warning);
  if (!warnings.empty()) reply["warnings"] = warnings;
  return reply;
}

// An instance as a write reply shows it: with its warnings.
json written_instance_json(const ApiContext& context, const std::string& array,
                           const arrays::Instance& instance) {
  const std::vector<std::string> warnings = context.registry.warnings(instance.spec);
  if (warnings.empty()) return instance_json(instance);  // the usual case: no "about" text to build
  return with_warnings(instance_json(instance), warnings, array + " instance " + instance.spec.address.to_string());
}

// The same, as the reply to a write of that one instance: without warnings
// (the usual case) written straight from the instance (views.h
// append_instance_json), no JSON object built.
void reply_written_instance(const ApiContext& context, httplib::Response& response, int status,
                            const std::string& array, const arrays::Instance& instance) {
  const std::vector<std::string> warnings = context.registry.warnings(instance.spec);
  if (!warnings.empty()) {
    const std::string about = array + " instance " + instance.spec.address.to_string();
    reply_json(response, status, with_warnings(instance_json(instance), warnings, about));
    return;
  }
  std::string body;
  body.reserve(128);
  append_instance_json(body, instance);
  reply_json_text(response, status, std::move(body));
}

}  // namespace

void add_array_routes(Router& router, ApiContext& context) {
  router.add("GET", "/v1/instances", [&context](const RouteRequest& request, httplib::Response& response) {
    const arrays::IpAddress address = address_parameter(request.http);
    json instances = json::array();
    for (const auto& located : context.registry.find_instances(address)) {
      json instance = instance_json(located.instance);
      instance["array"] = located.array;
      instances.push_back(std::move(instance));
    }
    reply_json(response, 200, {{"address", address.to_string()}, {"instances", std::move(instances)}});
  }, {"address"});

  router.add("GET", "/v1/arrays", [&context](const RouteRequest&, httplib::Response& response) {
    json arrays = json::array();
    for (const auto& array : context.registry.arrays()) arrays.push_back(array_json(array, false));
    reply_json(response, 200, {{"arrays", std::move(arrays)}});
  });

  router.add("GET", kArray, [&context](const RouteRequest& request, httplib::Response& response) {
    reply_json(response, 200, array_json(find_array(context, request.params[0]), true));
  });

  router.add("PUT", kArray, [&context](const RouteRequest& request, httplib::Response& response) {
    const json body = parse_json_body(request.http);
    const auto current = context.registry.find(request.params[0]);
    const json view = current ? array_json(*current, true) : new_array_json(request.params[0]);
    const auto settings = array_settings_from_put(body, view);
    const auto array = context.registry.upsert_array(request.params[0], settings, request.token_name);
    reply_json(response, current ? 200 : 201,
               with_warnings(array_json(array, true), context.registry.warnings(settings), array.name));
  });

  router.add("PATCH", kArray, [&context](const RouteRequest& request, httplib::Response& response) {
    const json patch = parse_json_body(request.http, BodyMediaTypes::json_or_merge_patch);
    const auto current = find_array(context, request.params[0]);
    const auto settings = array_settings_from_patch(patch, array_json(current, true));
    reply_json(response, 200,
               with_warnings(
                   array_json(context.registry.upsert_array(current.name, settings, request.token_name), true),
                   context.registry.warnings(settings), current.name));
  });

  router.add("DELETE", kArray,
             [&context](const RouteRequest& request, httplib::Response& response) {
               context.registry.delete_array(request.params[0], request.token_name);
               response.status = 204;
             });

  router.add("GET", kInstances,
             [&context](const RouteRequest& request, httplib::Response& response) {
               const auto array = find_array(context, request.params[0]);
               reply_json(response, 200, array_json(array, true)["instances"]);
             });

  router.add("POST", kInstances,
             [&context](const RouteRequest& request, httplib::Response& response) {
               const json body = parse_json_body(request.http);
               const auto array = find_array(context, request.params[0]);
               const auto spec = instance_from_post(body, array.settings);
               const auto added = context.registry.add_instance(array.name, spec, request.token_name);
               reply_written_instance(context, response, 201, array.name, added);
             });

  router.add("PUT", kInstances,
             [&context](const RouteRequest& request, httplib::Response& response) {
               const json body = parse_json_body(request.http);
               const auto array = find_array(context, request.params[0]);
               const auto specs = instances_from_put(body, array_json(array, true)["instances"],
                                                     array.settings);
               json instances = json::array();
               for (const auto& instance :
                    context.registry.replace_instances(array.name, specs, request.token_name)) {
                 instances.push_back(written_instance_json(context, array.name, instance));
               }
               reply_json(response, 200, instances);
             });

  router.add("GET", kInstance,
             [&context](const RouteRequest& request, httplib::Response& response) {
               std::string body;
               append_instance_json(body, *find_instance(context, request.params[0], request.params[1]).instance);
               reply_json_text(response, 200, std::move(body));
             });

  // This node's recent checks of the instance, newest first (a cluster node
  // shows its own; the health route has every observer's latest).
  router.add("GET", kInstanceChecks,
             [&context](const RouteRequest& request, httplib::Response& response) {
               const auto found = find_instance(context, request.params[0], request.params[1]);
               const arrays::Instance& instance = *found.instance;
               probes::CheckHistory history;
               if (context.check_history) history = context.check_history(instance.id);
               json checks = json::array();
               for (const probes::LastCheck& check : history.checks) {
                 json entry = last_check_json(check);
                 entry["held_down_until_ms"] =
                     check.held_down_until_ms ? json(*check.held_down_until_ms) : json(nullptr);
                 // What the backend reported with this check (weight_from_response).
                 entry["reported_weight"] = check.reported_weight ? json(*check.reported_weight) : json(nullptr);
                 entry["reported_state"] =
                     check.reported_draining ? json(*check.reported_draining ? "draining" : "up") : json(nullptr);
                 entry["report_ignored"] = check.report_problem.empty() ? json(nullptr) : json(check.report_problem);
                 checks.push_back(std::move(entry));
               }
               reply_json(response, 200,
                          {{"array", found.array},
                           {"id", instance.id},
                           {"address", instance.spec.address.to_string()},
                           {"node", context.node},
                           {"kept", probes::CheckHistory::kKept},
                           {"transitions", history.transitions},
                           {"damping_starts", history.damping_starts},
                           {"checks", std::move(checks)}});
             });

  router.add("PATCH", kInstance,
             [&context](const RouteRequest& request, httplib::Response& response) {
               json patch = parse_json_body(request.http, BodyMediaTypes::json_or_merge_patch);
               const auto found = find_instance(context, request.params[0], request.params[1]);
               const auto spec =
                   instance_from_patch(std::move(patch), instance_json(*found.instance), found.settings);
               const auto updated =
                   context.registry.update_instance(found.array, found.instance->id, spec, request.token_name);
               reply_written_instance(context, response, 200, found.array, updated);
             });

  router.add("DELETE", kInstance,
             [&context](const RouteRequest& request, httplib::Response& response) {
               context.registry.remove_instance(request.params[0], instance_id(request.params[1]),
                                                request.token_name);
               response.status = 204;
             });
}

}  // namespace rotor::api
