#include "api/write_bodies.h"

#include <cctype>
#include <span>

#include "probes/check_spec.h"
#include "server/common/ascii.h"
#include "server/common/json_fields.h"
#include "server/config/registry_sections.h"

namespace rotor::api {

namespace {


using nlohmann::json;
namespace fields = json_fields;

struct ReadOnlyField {
  const char* key;
  const char* why;  // who sets it, for the error message
};

constexpr ReadOnlyField kArrayReadOnly[] = {
    {"name", "the name is the path's"},
    {"instance_count", "the number of instances"},
    {"source", "who owns the settings"},
    {"instances", "change them with PUT /v1/arrays/{name}/instances"},
};

constexpr ReadOnlyField kInstanceReadOnly[] = {
    {"id", "rotor assigns it"},
    {"health", "the health checks set it"},
};

constexpr ReadOnlyField kRegionReadOnly[] = {
    {"name", "the name is the path's"},
    {"source", "who owns it"},
};

constexpr ReadOnlyField kNetworkReadOnly[] = {
    {"cidr", "the network is the path's"},
    {"source", "who owns it"},
};

// A value for an error message: short, whatever the client sent.
std::string shown(const json& value) {
  constexpr size_t kMaxShown = 64;
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return text;
}

std::string read_only_reason(const ReadOnlyField& field, const json& now, const json& given) {
  std::string reason = std::string("read-only (") + field.why + "); ";
  if (now.is_structured() || given.is_structured()) {
    return reason + "it differs from the current value; leave it out";
  }
  if (now.is_null()) return reason + "it has none, not " + shown(given);
  return reason + "it is " + shown(now) + ", not " + shown(given);
}

// Removes from `body` the read-only fields that equal their value in
// `current`; throws naming the first that does not.
void drop_read_only(json& body, const json& current, std::span<const ReadOnlyField> read_only,
                    const std::string& path) {
  if (!body.is_object()) return;  // the parser names the body's type
  for (const ReadOnlyField& field : read_only) {
    const auto given = body.find(field.key);
    if (given == body.end()) continue;
    const auto now = current.find(field.key);
    const json& now_value = now == current.end() ? json() : *now;
    if (*given != now_value) {
      throw FieldError(fields::join_path(path, field.key),
                        read_only_reason(field, now_value, *given));
    }
    body.erase(given);
  }
}

// A write reply's "warnings" (api/README.md, Warnings) describe the reply,
// not the resource: sent back in a body, they are ignored.
void drop_warnings(json& body) {
  if (body.is_object()) body.erase("warnings");
}

// A null field is the field left out (RFC 7396 reads null as "remove").
void drop_nulls(json& body) {
  if (!body.is_object()) return;
  for (auto it = body.begin(); it != body.end();) {
    it = it->is_null() ? body.erase(it) : std::next(it);
  }
}

// "WEB.lb.example.com" -> "web.lb.example.com.", as GET shows names, so that
// a name sent back compares equal whatever its case or final dot.
void normalize_name(json& body) {
  if (!body.is_object()) return;
  const auto name = body.find("name");
  if (name == body.end() || !name->is_string()) return;
  *name = canonical_text_name(name->get<std::string>());
}

// The fields of `view` a PATCH merges over: the read-only ones and nulls left out.
json writable_part(json view, std::span<const ReadOnlyField> read_only) {
  for (const ReadOnlyField& field : read_only) view.erase(field.key);
  drop_nulls(view);
  return view;
}

bool has_check(const json& view) {
  const auto check = view.find("check");
  return check != view.end() && !check->is_null();
}

}  // namespace

arrays::ArraySettings array_settings_from_put(json body, const json& current) {
  fields::expect_object(body, "");
  normalize_name(body);
  drop_warnings(body);
  drop_read_only(body, current, kArrayReadOnly, "");
  if (has_check(current) && !body.contains("check")) {
    throw FieldError("check",
                      "missing; the array has a check and a PUT replaces every setting: send the "
                      "check, \"check\": null to remove it, or PATCH the settings to change");
  }
  drop_nulls(body);
  return config::parse_array_settings(body, "");
}

arrays::ArraySettings array_settings_from_patch(const json& patch, const json& current) {
  fields::expect_object(patch, "");
  json changes = patch;
  normalize_name(changes);
  drop_warnings(changes);
  drop_read_only(changes, current, kArrayReadOnly, "");
  json merged = writable_part(current, kArrayReadOnly);
  merged.merge_patch(changes);
  return config::parse_array_settings(merged, "");
}

arrays::InstanceSpec parse_instance_body(const json& body, const std::string& path,
                                         const arrays::ArraySettings& settings) {
  arrays::InstanceSpec spec =
      config::parse_instance(body, path, config::InstanceFields::without_health).spec;
  if (!spec.check.empty()) {
    probes::effective_check(settings.check, spec.check, fields::join_path(path, "check"));
  }
  return spec;
}

arrays::InstanceSpec instance_from_post(json body, const arrays::ArraySettings& settings) {
  drop_warnings(body);
  drop_read_only(body, json{{"health", "unknown"}}, kInstanceReadOnly, "");
  drop_nulls(body);
  return parse_instance_body(body, "", settings);
}

arrays::InstanceSpec instance_from_patch(json patch, json current, const arrays::ArraySettings& settings) {
  fields::expect_object(patch, "");
  drop_warnings(patch);
  drop_read_only(patch, current, kInstanceReadOnly, "");
  json merged = writable_part(std::move(current), kInstanceReadOnly);
  merged.merge_patch(patch);
  return parse_instance_body(merged, "", settings);
}

std::vector<arrays::InstanceSpec> instances_from_put(const json& body, const json& current,
                                                     const arrays::ArraySettings& settings) {
  if (!body.is_array()) {
    throw FieldError("", "expected an array of instances, got " + fields::describe(body));
  }
  std::vector<arrays::InstanceSpec> specs;
  for (size_t i = 0; i < body.size(); ++i) {
    const std::string path = fields::index_path("", i);
    json element = body[i];
    drop_warnings(element);
    json read_only = json::object();  // compared once the address is known
    if (element.is_object()) {
      for (const ReadOnlyField& field : kInstanceReadOnly) {
        if (!element.contains(field.key)) continue;
        read_only[field.key] = element[field.key];
        element.erase(field.key);
      }
    }
    drop_nulls(element);
    arrays::InstanceSpec spec = parse_instance_body(element, path, settings);
    for (size_t j = 0; j < specs.size(); ++j) {
      if (specs[j].address == spec.address) {
        throw FieldError(path + ".address",
                          "duplicate of [" + std::to_string(j) + "] (" + spec.address.to_string() + ")");
      }
    }
    json now = {{"health", "unknown"}};  // a new instance's
    for (const json& instance : current) {
      const auto address = arrays::IpAddress::parse(instance.value("address", ""));
      if (address && *address == spec.address) now = instance;
    }
    drop_read_only(read_only, now, kInstanceReadOnly, path);
    specs.push_back(std::move(spec));
  }
  return specs;
}

geo::RegionSpec region_from_put(json body, const json& current) {
  fields::expect_object(body, "");
  drop_warnings(body);
  drop_read_only(body, current, kRegionReadOnly, "");
  drop_nulls(body);
  body["name"] = current.at("name");
  return config::parse_region(body, "");
}

geo::NetworkSpec network_from_put(json body, const json& current) {
  fields::expect_object(body, "");
  drop_warnings(body);
  if (const auto cidr = body.find("cidr"); cidr != body.end() && cidr->is_string()) {
    // Another spelling of the path's network is the path's network.
    if (const auto canonical = geo::canonical_cidr(cidr->get<std::string>())) *cidr = *canonical;
  }
  drop_read_only(body, current, kNetworkReadOnly, "");
  drop_nulls(body);
  body["cidr"] = current.at("cidr");
  return config::parse_network(body, "");
}

}  // namespace rotor::api
