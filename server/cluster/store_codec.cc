#include "server/cluster/store_codec.h"

#include <cinttypes>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "server/registry/array_options.h"
#include "server/registry/geo_sources.h"

namespace rotor::cluster::codec {

namespace {

using json = nlohmann::json;

std::string digits20(int64_t number) {
  char text[24];
  std::snprintf(text, sizeof text, "%020" PRId64, number);
  return text;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

json parse(std::string_view key, std::string_view value) {
  json document = json::parse(value, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    throw registry::StoreError("etcd key " + std::string(key) + ": not a JSON object");
  }
  return document;
}

// Parses `value` and reads the document with `read`; a JSON error (a
// missing or mistyped field) becomes a StoreError naming the key.
template <typename Read>
auto decode(std::string_view key, std::string_view value, Read read) {
  try {
    return read(parse(key, value));
  } catch (const json::exception& error) {
    throw registry::StoreError("etcd key " + std::string(key) + ": " + error.what());
  }
}

template <typename T, typename Parse>
T enum_field(const json& object, const char* name, Parse parse, std::string_view key) {
  const std::string text = object.value(name, std::string());
  if (const auto parsed = parse(text)) return *parsed;
  throw registry::StoreError("etcd key " + std::string(key) + ": bad " + name + " '" + text + "'");
}

}  // namespace

std::string array_key(std::string_view name) { return std::string(kArrays) + std::string(name); }

std::string instances_prefix(std::string_view array) {
  return std::string(kInstances) + std::string(array) + "/";
}

std::string instance_key(std::string_view array, int64_t id) {
  return instances_prefix(array) + digits20(id);
}

std::string health_key(int64_t id) { return std::string(kHealth) + digits20(id); }

std::string region_key(std::string_view name) { return std::string(kRegions) + std::string(name); }
std::string network_key(std::string_view cidr) { return std::string(kNetworks) + std::string(cidr); }

std::string encode_region(const geo::RegionSpec& region) { return registry::region_json(region).dump(); }

geo::RegionSpec decode_region(std::string_view key, std::string_view value) {
  const json document = parse(key, value);
  try {
    return registry::region_from_json(document);
  } catch (const std::invalid_argument& error) {
    throw registry::StoreError("etcd key " + std::string(key) + ": " + error.what());
  }
}

std::string encode_network(const geo::NetworkSpec& network) {
  return registry::network_json(network).dump();
}

geo::NetworkSpec decode_network(std::string_view key, std::string_view value) {
  const json document = parse(key, value);
  try {
    return registry::network_from_json(document);
  } catch (const std::invalid_argument& error) {
    throw registry::StoreError("etcd key " + std::string(key) + ": " + error.what());
  }
}

std::string zone_key(std::string_view origin) { return std::string(kZones) + std::string(origin); }

std::string event_key(int64_t time_ms, std::string_view node, uint64_t sequence) {
  return std::string(kEvents) + digits20(time_ms) + "-" + std::string(node) + "-" +
         std::to_string(sequence);
}

std::optional<std::string> array_of_key(std::string_view key) {
  if (starts_with(key, kArrays)) return std::string(key.substr(kArrays.size()));
  if (!starts_with(key, kInstances)) return std::nullopt;
  const std::string_view rest = key.substr(kInstances.size());
  const auto slash = rest.rfind('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return std::string(rest.substr(0, slash));
}

std::optional<std::string> zone_of_key(std::string_view key) {
  if (!starts_with(key, kZones)) return std::nullopt;
  return std::string(key.substr(kZones.size()));
}

int64_t instance_id_of_key(std::string_view key) {
  if (!starts_with(key, kInstances)) return 0;
  const auto slash = key.rfind('/');
  int64_t id = 0;
  for (char c : key.substr(slash + 1)) {
    if (c < '0' || c > '9') return 0;
    id = id * 10 + (c - '0');
  }
  return id;
}

std::string encode_array(const ArrayRecord& record) {
  const arrays::ArraySettings& s = record.settings;
  return json{{"id", record.id},
              {"settings",
               {{"ttl", s.ttl},
                {"degraded_ttl", s.degraded_ttl},
                {"policy", arrays::to_string(s.policy)},
                {"max_answers", s.max_answers},
                {"when_all_down", arrays::to_string(s.when_all_down)},
                {"check", s.check},
                {"options", registry::array_options_text(s)}}},
              {"created_ms", record.created_ms},
              {"updated_ms", record.updated_ms}}
      .dump();
}

ArrayRecord decode_array(std::string_view key, std::string_view value) {
  return decode(key, value, [&](const json& document) {
    const json& s = document.at("settings");
    ArrayRecord record;
    record.id = document.at("id").get<int64_t>();
    record.created_ms = document.value("created_ms", int64_t{0});
    record.updated_ms = document.value("updated_ms", int64_t{0});
    record.settings.ttl = s.at("ttl").get<uint32_t>();
    record.settings.degraded_ttl = s.at("degraded_ttl").get<uint32_t>();
    record.settings.policy = enum_field<arrays::Policy>(s, "policy", arrays::policy_from_string, key);
    record.settings.max_answers = s.at("max_answers").get<uint16_t>();
    record.settings.when_all_down = enum_field<arrays::WhenAllDown>(
        s, "when_all_down", arrays::when_all_down_from_string, key);
    record.settings.check = s.value("check", std::string());
    try {
      registry::read_array_options(s.value("options", std::string()), record.settings);
    } catch (const std::exception& error) {
      throw registry::StoreError("etcd key " + std::string(key) + ": bad options: " + error.what());
    }
    return record;
  });
}

std::string encode_instance(int64_t id, const arrays::InstanceSpec& spec) {
  json encoded{{"address", spec.address.to_string()},
               {"weight", spec.weight},
               {"region", spec.region},
               {"state", arrays::to_string(spec.state)},
               {"check", spec.check}};
  if (spec.lat) encoded["lat"] = *spec.lat;
  if (spec.lon) encoded["lon"] = *spec.lon;
  return json{{"id", id}, {"spec", std::move(encoded)}}.dump();
}

arrays::Instance decode_instance(std::string_view key, std::string_view value) {
  return decode(key, value, [&](const json& document) {
    const json& spec = document.at("spec");
    arrays::Instance instance;
    instance.id = document.at("id").get<int64_t>();
    const std::string address = spec.at("address").get<std::string>();
    const auto parsed = arrays::IpAddress::parse(address);
    if (!parsed) throw registry::StoreError("etcd key " + std::string(key) + ": bad address");
    instance.spec.address = *parsed;
    instance.spec.weight = spec.at("weight").get<uint16_t>();
    instance.spec.region = spec.value("region", std::string());
    if (spec.contains("lat")) instance.spec.lat = spec.at("lat").get<double>();
    if (spec.contains("lon")) instance.spec.lon = spec.at("lon").get<double>();
    instance.spec.state =
        enum_field<arrays::AdminState>(spec, "state", arrays::admin_state_from_string, key);
    instance.spec.check = spec.value("check", std::string());
    return instance;
  });
}

std::string encode_health(const HealthRecord& record) {
  return json{{"health", arrays::to_string(record.health)},
              {"reason", record.reason},
              {"time_ms", record.time_ms}}
      .dump();
}

HealthRecord decode_health(std::string_view key, std::string_view value) {
  return decode(key, value, [&](const json& document) -> HealthRecord {
    return {enum_field<arrays::Health>(document, "health", arrays::health_from_string, key),
            document.value("reason", std::string()), document.value("time_ms", int64_t{0})};
  });
}

std::string encode_serial(uint32_t serial) { return json{{"serial", serial}}.dump(); }

uint32_t decode_serial(std::string_view key, std::string_view value) {
  return decode(key, value,
                [](const json& document) { return document.at("serial").get<uint32_t>(); });
}

std::string encode_counter(int64_t next) { return std::to_string(next); }

int64_t decode_counter(std::string_view key, std::string_view value) {
  int64_t next = 0;
  for (char c : value) {
    if (c < '0' || c > '9') throw registry::StoreError("etcd key " + std::string(key) + ": not a number");
    next = next * 10 + (c - '0');
  }
  return next;
}

std::string encode_event(const registry::Event& event) {
  return json{{"time_ms", event.time_ms},   {"array", event.array_name},
              {"instance_id", event.instance_id}, {"address", event.address},
              {"kind", event.kind},         {"old", event.old_value},
              {"new", event.new_value},     {"reason", event.reason},
              {"node", event.node},         {"source", event.source},
              {"token", event.token}}
      .dump();
}

registry::Event decode_event(std::string_view key, std::string_view value, int64_t id) {
  return decode(key, value, [&](const json& document) -> registry::Event {
    return {.id = id,
            .time_ms = document.value("time_ms", int64_t{0}),
            .array_name = document.value("array", std::string()),
            .instance_id = document.value("instance_id", int64_t{0}),
            .address = document.value("address", std::string()),
            .kind = document.value("kind", std::string()),
            .old_value = document.value("old", std::string()),
            .new_value = document.value("new", std::string()),
            .reason = document.value("reason", std::string()),
            .node = document.value("node", std::string()),
            .source = document.value("source", std::string()),
            .token = document.value("token", std::string())};
  });
}

}  // namespace rotor::cluster::codec
