#include "api/views.h"

#include <cctype>
#include <charconv>
#include <string_view>

#include "probes/check_spec.h"
#include "server/common/ascii.h"
#include "server/common/utc_time.h"

namespace rotor::api {

using nlohmann::json;

json rfc3339(int64_t unix_ms) {
  if (unix_ms <= 0) return nullptr;
  return utc_text(unix_ms);
}

namespace {

json check_json(const std::string& text) {
  if (text.empty()) return nullptr;
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

void append_dumped(std::string& out, const json& value) {
  out += value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A JSON string as dump writes it: printable ASCII but '"' and '\\' as is,
// anything else (an escape, a control byte, UTF-8, invalid or not) through
// the serializer.
void append_string(std::string& out, std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7F || c == '"' || c == '\\') {
      append_dumped(out, json(std::string(text)));
      return;
    }
  }
  out += '"';
  out += text;
  out += '"';
}

void append_integer(std::string& out, int64_t value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

}  // namespace

json settings_json(const arrays::ArraySettings& settings) {
  return {{"policy", std::string(arrays::to_string(settings.policy))},
          {"ttl", settings.ttl},
          {"degraded_ttl", settings.degraded_ttl},
          {"max_answers", settings.max_answers},
          {"when_all_down", std::string(arrays::to_string(settings.when_all_down))},
          {"min_healthy", settings.min_healthy},
          {"fallback", settings.fallback.empty() ? json(nullptr) : json(settings.fallback)},
          {"slow_start", settings.slow_start_ms > 0
                             ? json(probes::format_duration(std::chrono::milliseconds(settings.slow_start_ms)))
                             : json(nullptr)},
          {"remove_after", settings.remove_after.count() == 0 ? json(nullptr)
                                                              : json(probes::format_duration(settings.remove_after))},
          {"check", check_json(settings.check)}};
}

json spec_json(const arrays::InstanceSpec& spec) {
  // Key by key rather than from an initializer list, which builds each pair
  // as a JSON array and copies it into the object: half the instructions of
  // an instance's view, and every write of an instance shows one or two.
  json out(json::value_t::object);
  out["address"] = spec.address.to_string();
  out["weight"] = spec.weight;
  out["state"] = arrays::to_string(spec.state);
  if (!spec.region.empty()) out["region"] = spec.region;
  if (spec.lat) out["lat"] = *spec.lat;
  if (spec.lon) out["lon"] = *spec.lon;
  if (!spec.check.empty()) out["check"] = check_json(spec.check);
  return out;
}

json instance_json(const arrays::Instance& instance) {
  json out = spec_json(instance.spec);
  out["id"] = instance.id;
  out["health"] = arrays::to_string(instance.health);
  return out;
}

void append_instance_json(std::string& out, const arrays::Instance& instance) {
  const arrays::InstanceSpec& spec = instance.spec;
  // instance_json's keys in the order dump writes them: its objects are
  // std::maps, so by name.
  out += "{\"address\":";
  append_string(out, spec.address.to_string());
  if (!spec.check.empty()) {
    out += ",\"check\":";
    append_dumped(out, check_json(spec.check));
  }
  out += ",\"health\":";
  append_string(out, arrays::to_string(instance.health));
  out += ",\"id\":";
  append_integer(out, instance.id);
  if (spec.lat) {
    out += ",\"lat\":";
    append_dumped(out, json(*spec.lat));
  }
  if (spec.lon) {
    out += ",\"lon\":";
    append_dumped(out, json(*spec.lon));
  }
  if (!spec.region.empty()) {
    out += ",\"region\":";
    append_string(out, spec.region);
  }
  out += ",\"state\":";
  append_string(out, arrays::to_string(spec.state));
  out += ",\"weight\":";
  append_integer(out, spec.weight);
  out += '}';
}

json array_json(const registry::RegisteredArray& array, bool with_instances) {
  json out = settings_json(array.settings);
  out["name"] = array.name;
  out["instance_count"] = array.instances.size();
  out["source"] = array.config_source.empty() ? "api" : array.config_source;
  if (with_instances) {
    json instances = json::array();
    for (const arrays::Instance& instance : array.instances) {
      instances.push_back(instance_json(instance));
    }
    out["instances"] = std::move(instances);
  }
  return out;
}

json new_array_json(const std::string& name) {
  return {{"name", canonical_text_name(name)},
          {"instance_count", 0},
          {"source", "api"},
          {"instances", json::array()}};
}

json event_json(const registry::Event& event) {
  json out{{"id", event.id},
          {"time_ms", event.time_ms},
          {"time", rfc3339(event.time_ms)},
          {"array", event.array_name},
          {"instance_id", event.instance_id},
          {"address", event.address},
          {"kind", event.kind},
          {"old", event.old_value},
          {"new", event.new_value},
          {"reason", event.reason}};
  // In a cluster: the node that made the change.
  if (!event.node.empty()) out["node"] = event.node;
  // Who asked for it: "api", "config", "signal" or "remove_after" (absent for health and damping).
  if (!event.source.empty()) out["source"] = event.source;
  // The API token that made an admin change (absent when no token is configured).
  if (!event.token.empty()) out["token"] = event.token;
  return out;
}

json region_view(const registry::RegisteredRegion& region) {
  json out = registry::region_json(region.spec);
  out["source"] = region.source.empty() ? "api" : region.source;
  return out;
}

json network_view(const registry::RegisteredNetwork& network) {
  json out = registry::network_json(network.spec);
  out["source"] = network.source.empty() ? "api" : network.source;
  return out;
}

}  // namespace rotor::api
