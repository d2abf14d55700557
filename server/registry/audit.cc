#include "server/registry/audit.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

#include "probes/check_spec.h"
#include "server/common/utc_time.h"
#include "server/registry/geo_sources.h"

namespace rotor::registry::audit {

namespace {

using arrays::ArraySettings;
using arrays::InstanceSpec;
using json = nlohmann::ordered_json;  // the fields in the API's order

// One field as the API shows it; null when unset.
template <typename T>
struct Field {
  const char* name;
  json (*value)(const T&);
  // Whether two values show alike, without building what they show (an
  // address's text, a check parsed twice): true only when `value` would
  // compare equal. nullptr: `value` is compared. An instance write that
  // changes one field no longer shows every field twice to find it.
  bool (*same)(const T&, const T&) = nullptr;
};

// A check is a JSON object text, kept as the operator wrote it: its keys are
// sorted (a different order or spacing is no change). One that does not parse
// (not from the registry, which validates) is shown as the text it is.
json check_value(const std::string& text) {
  if (text.empty()) return nullptr;
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? json(text) : json::parse(parsed.dump());
}

json optional_value(const std::optional<double>& value) {
  return value ? json(*value) : json(nullptr);
}

const Field<ArraySettings> kArrayFields[] = {
    {"policy", [](const ArraySettings& s) { return json(std::string(arrays::to_string(s.policy))); }},
    {"ttl", [](const ArraySettings& s) { return json(s.ttl); }},
    {"degraded_ttl", [](const ArraySettings& s) { return json(s.degraded_ttl); }},
    {"max_answers", [](const ArraySettings& s) { return json(s.max_answers); }},
    {"when_all_down",
     [](const ArraySettings& s) { return json(std::string(arrays::to_string(s.when_all_down))); }},
    {"check", [](const ArraySettings& s) { return check_value(s.check); }},
    {"min_healthy", [](const ArraySettings& s) { return s.min_healthy == 0 ? json(nullptr) : json(s.min_healthy); }},
    {"fallback", [](const ArraySettings& s) { return s.fallback.empty() ? json(nullptr) : json(s.fallback); }},
    {"slow_start", [](const ArraySettings& s) {
       return s.slow_start_ms == 0 ? json(nullptr)
                                   : json(probes::format_duration(std::chrono::milliseconds(s.slow_start_ms)));
     }},
    {"remove_after",
     [](const ArraySettings& s) {
       return s.remove_after.count() == 0 ? json(nullptr) : json(probes::format_duration(s.remove_after));
     }},
};

const Field<InstanceSpec> kInstanceFields[] = {
    {"address", [](const InstanceSpec& s) { return json(s.address.to_string()); },
     [](const InstanceSpec& a, const InstanceSpec& b) { return a.address == b.address; }},
    {"weight", [](const InstanceSpec& s) { return json(s.weight); },
     [](const InstanceSpec& a, const InstanceSpec& b) { return a.weight == b.weight; }},
    {"region", [](const InstanceSpec& s) { return s.region.empty() ? json(nullptr) : json(s.region); },
     [](const InstanceSpec& a, const InstanceSpec& b) { return a.region == b.region; }},
    {"lat", [](const InstanceSpec& s) { return optional_value(s.lat); },
     [](const InstanceSpec& a, const InstanceSpec& b) { return a.lat == b.lat; }},
    {"lon", [](const InstanceSpec& s) { return optional_value(s.lon); },
     [](const InstanceSpec& a, const InstanceSpec& b) { return a.lon == b.lon; }},
    {"state", [](const InstanceSpec& s) { return json(std::string(arrays::to_string(s.state))); },
     [](const InstanceSpec& a, const InstanceSpec& b) { return a.state == b.state; }},
    // The same text is the same check; different texts may still be (key order, spacing).
    {"check", [](const InstanceSpec& s) { return check_value(s.check); },
     [](const InstanceSpec& a, const InstanceSpec& b) { return a.check == b.check; }},
};

// Every field that is set.
template <typename T, size_t N>
json all_fields(const Field<T> (&fields)[N], const T& value) {
  json out = json::object();
  for (const Field<T>& field : fields) {
    json shown = field.value(value);
    if (!shown.is_null()) out[field.name] = std::move(shown);
  }
  return out;
}

template <typename T, size_t N>
std::vector<std::string> changed(const Field<T> (&fields)[N], const T& old_value, const T& new_value) {
  std::vector<std::string> names;
  for (const Field<T>& field : fields) {
    if (field.same != nullptr && field.same(old_value, new_value)) continue;
    if (field.value(old_value) != field.value(new_value)) names.emplace_back(field.name);
  }
  return names;
}

// old/new of an update: the fields that differ as JSON object texts, and the
// reason naming them. The texts are written member by member, as
// ordered_json's dump() writes an object: building the objects only to dump
// them was most of an instance write's audit cost.
struct Difference {
  std::string old_fields;  // {"ttl":300,"policy":"rr"}
  std::string new_fields;
  std::string names;  // "ttl, policy"
};

// Whether dump() writes `text` between quotes as it is: printable ASCII
// without a quote or a backslash.
bool plain_text(const std::string& text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
}

// `value` as dump() writes it. The common scalars are written here: dump()
// sets up a serializer (and its locale) per call, a third of an instance
// write's audit cost.
void append_value(std::string& out, const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      out += "null";
      return;
    case json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case json::value_t::number_integer:
      out += std::to_string(value.get<int64_t>());
      return;
    case json::value_t::number_unsigned:
      out += std::to_string(value.get<uint64_t>());
      return;
    case json::value_t::string:
      if (const auto& text = value.get_ref<const std::string&>(); plain_text(text)) {
        out += '"';
        out += text;
        out += '"';
        return;
      }
      break;
    default:
      break;
  }
  out += value.dump();
}

void append_member(std::string& object, const char* name, const json& value) {
  object += object.empty() ? "{\"" : ",\"";
  object += name;  // a field name: plain ASCII, nothing to escape
  object += "\":";
  append_value(object, value);
}

template <typename T, size_t N>
Difference difference(const Field<T> (&fields)[N], const T& old_value, const T& new_value) {
  Difference out;
  for (const Field<T>& field : fields) {
    if (field.same != nullptr && field.same(old_value, new_value)) continue;
    const json before = field.value(old_value);
    const json after = field.value(new_value);
    if (before == after) continue;
    append_member(out.old_fields, field.name, before);
    append_member(out.new_fields, field.name, after);
    if (!out.names.empty()) out.names += ", ";
    out.names += field.name;
  }
  if (!out.names.empty()) {
    out.old_fields += '}';
    out.new_fields += '}';
  }
  return out;
}

Event admin(std::string_view array, int64_t time_ms, std::string reason) {
  return {.time_ms = time_ms, .array_name = std::string(array), .kind = "admin", .reason = std::move(reason)};
}

}  // namespace

std::vector<std::string> changed_fields(const ArraySettings& old_settings, const ArraySettings& new_settings) {
  return changed(kArrayFields, old_settings, new_settings);
}

std::vector<std::string> changed_fields(const InstanceSpec& old_spec, const InstanceSpec& new_spec) {
  return changed(kInstanceFields, old_spec, new_spec);
}

std::optional<Event> array_written(std::string_view array, const std::optional<ArraySettings>& old_settings,
                                   const ArraySettings& new_settings, int64_t time_ms) {
  if (!old_settings) {
    Event event = admin(array, time_ms, "array created");
    event.new_value = all_fields(kArrayFields, new_settings).dump();
    return event;
  }
  Difference diff = difference(kArrayFields, *old_settings, new_settings);
  if (diff.names.empty()) return std::nullopt;
  Event event = admin(array, time_ms, "array updated: " + diff.names);
  event.old_value = std::move(diff.old_fields);
  event.new_value = std::move(diff.new_fields);
  return event;
}

Event array_deleted(std::string_view array, const ArraySettings& settings, size_t instances,
                    int64_t time_ms) {
  Event event = admin(array, time_ms, "array deleted");
  json old_fields = all_fields(kArrayFields, settings);
  old_fields["instances"] = instances;
  event.old_value = old_fields.dump();
  return event;
}

Event instance_added(std::string_view array, const arrays::Instance& instance, int64_t time_ms) {
  Event event = admin(array, time_ms, "instance added");
  event.instance_id = instance.id;
  event.address = instance.spec.address.to_string();
  event.new_value = all_fields(kInstanceFields, instance.spec).dump();
  return event;
}

std::optional<Event> instance_changed(std::string_view array, int64_t id, const InstanceSpec& old_spec,
                                      const InstanceSpec& new_spec, int64_t time_ms) {
  Difference diff = difference(kInstanceFields, old_spec, new_spec);
  if (diff.names.empty()) return std::nullopt;
  Event event = admin(array, time_ms, "instance changed: " + diff.names);
  event.instance_id = id;
  event.address = new_spec.address.to_string();
  event.old_value = std::move(diff.old_fields);
  event.new_value = std::move(diff.new_fields);
  return event;
}

Event instance_removed(std::string_view array, const arrays::Instance& instance, int64_t time_ms,
                       std::string_view why) {
  Event event = admin(array, time_ms, why.empty() ? "instance removed" : "instance removed: " + std::string(why));
  event.instance_id = instance.id;
  event.address = instance.spec.address.to_string();
  json old_fields = all_fields(kInstanceFields, instance.spec);
  if (!why.empty()) {
    old_fields["health"] = std::string(arrays::to_string(instance.health));
    if (!instance.health_reason.empty()) old_fields["health_reason"] = instance.health_reason;
    if (instance.health_changed_ms > 0) old_fields["health_changed"] = utc_text(instance.health_changed_ms);
  }
  event.old_value = old_fields.dump();
  return event;
}

namespace {

// "region NAME created" and the like: `old_value`/`new_value` JSON texts, "" when absent.
template <typename Spec, typename Name, typename Json>
Event geo_written(const char* what, const std::optional<Spec>& old_spec, const std::optional<Spec>& new_spec,
                  int64_t time_ms, Name name, Json to_json) {
  const Spec& either = new_spec ? *new_spec : *old_spec;
  const char* verb = !old_spec ? " created" : !new_spec ? " deleted" : " changed";
  Event event = admin("", time_ms, std::string(what) + " " + name(either) + verb);
  if (old_spec) event.old_value = to_json(*old_spec).dump();
  if (new_spec) event.new_value = to_json(*new_spec).dump();
  return event;
}

}  // namespace

Event region_written(const std::optional<geo::RegionSpec>& old_region,
                     const std::optional<geo::RegionSpec>& new_region, int64_t time_ms) {
  return geo_written("region", old_region, new_region, time_ms,
                     [](const geo::RegionSpec& region) { return region.name; }, region_json);
}

Event network_written(const std::optional<geo::NetworkSpec>& old_network,
                      const std::optional<geo::NetworkSpec>& new_network, int64_t time_ms) {
  return geo_written("network", old_network, new_network, time_ms,
                     [](const geo::NetworkSpec& network) { return network.cidr; }, network_json);
}

Event health_changed(std::string_view array, int64_t instance_id, std::string_view address,
                     arrays::Health old_health, arrays::Health new_health, std::string reason,
                     int64_t time_ms) {
  return {.time_ms = time_ms,
          .array_name = std::string(array),
          .instance_id = instance_id,
          .address = std::string(address),
          .kind = "health",
          .old_value = std::string(arrays::to_string(old_health)),
          .new_value = std::string(arrays::to_string(new_health)),
          .reason = std::move(reason)};
}

Event damping_started(std::string_view array, int64_t instance_id, std::string_view address,
                      int64_t until_ms, int64_t time_ms) {
  return {.time_ms = time_ms,
          .array_name = std::string(array),
          .instance_id = instance_id,
          .address = std::string(address),
          .kind = "damping",
          .old_value = "off",
          .new_value = "held",
          .reason = "the last checks passed; flap damping holds it down until " + utc_text(until_ms)};
}

Event damping_ended(std::string_view array, int64_t instance_id, std::string_view address,
                    std::string reason, int64_t time_ms) {
  return {.time_ms = time_ms,
          .array_name = std::string(array),
          .instance_id = instance_id,
          .address = std::string(address),
          .kind = "damping",
          .old_value = "held",
          .new_value = "off",
          .reason = std::move(reason)};
}

Event reloaded(std::string summary, int64_t time_ms) {
  return {.time_ms = time_ms, .kind = "reload", .new_value = "ok", .reason = std::move(summary)};
}

Event reload_failed(const std::vector<std::string>& errors, int64_t time_ms) {
  std::string reason;
  for (const std::string& error : errors) reason += (reason.empty() ? "" : "; ") + error;
  if (reason.size() > kMaxReasonLength) {
    size_t cut = kMaxReasonLength - 3;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;  // a whole UTF-8 character
    reason = reason.substr(0, cut) + "...";
  }
  return {.time_ms = time_ms, .kind = "reload", .new_value = "failed", .reason = std::move(reason)};
}

}  // namespace rotor::registry::audit
