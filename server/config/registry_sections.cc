// The config sections that feed the registry and the geo policy: declared
// zones, regions, networks and arrays. Field names are the API's: the API
// parses array settings and instances with the functions below too.
#include <cctype>
#include <cmath>
#include <limits>

#include "probes/check_spec.h"
#include "server/common/ascii.h"
#include "server/common/json_fields.h"
#include "server/config/registry_sections.h"
#include "zones/zone.h"

namespace rotor::config {

using namespace json_fields;

namespace {

constexpr int64_t kMaxTtl = std::numeric_limits<int32_t>::max();  // RFC 2181 8

std::string domain_name(const json& value, const std::string& path) {
  const std::string& text = expect_string(value, path);
  if (text.empty() || !zones::name_from_text(text)) {
    throw ConfigError(path, "\"" + text + "\" is not a valid domain name");
  }
  return text.back() == '.' ? text : text + ".";
}

double expect_number(const json& value, const std::string& path) {
  if (!value.is_number()) wrong_type(path, "a number", value);
  return value.get<double>();
}

double coordinate(const json& value, const std::string& path, double limit) {
  const double number = expect_number(value, path);
  if (!std::isfinite(number) || number < -limit || number > limit) {
    throw ConfigError(path, "expected -" + std::to_string(static_cast<int>(limit)) + " to " +
                                std::to_string(static_cast<int>(limit)));
  }
  return number;
}

int64_t integer_in(const json& value, const std::string& path, int64_t low, int64_t high) {
  const int64_t number = expect_integer(value, path);
  if (number < low || number > high) {
    throw ConfigError(path, "expected " + std::to_string(low) + " to " + std::to_string(high) +
                                ", got " + std::to_string(number));
  }
  return number;
}

template <typename T>
T enum_value(const json& value, const std::string& path, std::optional<T> (*parse)(std::string_view),
             const char* choices) {
  const std::string& text = expect_string(value, path);
  const std::optional<T> parsed = parse(text);
  if (!parsed) throw ConfigError(path, std::string("expected one of ") + choices + "; got \"" + text + "\"");
  return *parsed;
}

void require(bool present, const std::string& path, const char* what) {
  if (!present) throw ConfigError(path, std::string("missing; ") + what);
}

ArrayConfig parse_array(const json& object, const std::string& path) {
  expect_object(object, path);
  ArrayConfig array;
  bool has_name = false;
  for (const auto& [key, value] : object.items()) {
    const std::string key_path = join_path(path, key);
    if (key == "name") {
      array.name = domain_name(value, key_path);
      has_name = true;
    } else if (parse_array_setting(key, value, key_path, array.settings)) {
      // a setting: ttl, degraded_ttl, policy, max_answers, when_all_down, min_healthy, slow_start, check
    } else if (key == "instances") {
      expect_array(value, key_path);
      if (value.size() > arrays::kMaxInstancesPerArray) {
        throw ConfigError(key_path, "at most " + std::to_string(arrays::kMaxInstancesPerArray) +
                                        " instances per array");
      }
      for (size_t i = 0; i < value.size(); ++i) {
        array.instances.push_back(
            parse_instance(value[i], index_path(key_path, i), InstanceFields::with_health));
        const auto& added = array.instances.back().spec.address;
        for (size_t j = 0; j + 1 < array.instances.size(); ++j) {
          if (array.instances[j].spec.address == added) {
            throw ConfigError(index_path(key_path, i) + ".address",
                              "duplicate of instances[" + std::to_string(j) + "]");
          }
        }
      }
    } else {
      throw ConfigError(key_path, "unknown key");
    }
  }
  require(has_name, join_path(path, "name"), "every array needs a name");
  probes::effective_check(array.settings.check, "", join_path(path, "check"));
  for (size_t i = 0; i < array.instances.size(); ++i) {
    const std::string& check = array.instances[i].spec.check;
    if (check.empty()) continue;
    probes::effective_check(array.settings.check, check,
                            index_path(join_path(path, "instances"), i) + ".check");
  }
  return array;
}

void check_cidr(const std::string& cidr, const std::string& path) {
  const auto slash = cidr.find('/');
  const auto address = arrays::IpAddress::parse(cidr.substr(0, slash));
  bool ok = slash != std::string::npos && address.has_value() && slash + 1 < cidr.size() &&
            cidr.find_first_not_of("0123456789", slash + 1) == std::string::npos &&
            cidr.size() - slash - 1 <= 3;
  if (ok) ok = std::stoi(cidr.substr(slash + 1)) <= (address->family == 4 ? 32 : 128);
  if (!ok) throw ConfigError(path, "\"" + cidr + "\" is not a network like \"192.0.2.0/24\"");
}

bool same_name(std::string a, std::string b) {
  return ascii_lowercase(std::move(a)) == ascii_lowercase(std::move(b));
}

}  // namespace

geo::RegionSpec parse_region(const json& object, const std::string& path) {
  expect_object(object, path);
  geo::RegionSpec region;
  for (const auto& [key, value] : object.items()) {
    const std::string key_path = join_path(path, key);
    if (key == "name") {
      region.name = expect_string(value, key_path);
      if (region.name.empty()) throw ConfigError(key_path, "empty region name");
    } else if (key == "lat") {
      region.lat = coordinate(value, key_path, 90);
    } else if (key == "lon") {
      region.lon = coordinate(value, key_path, 180);
    } else if (key == "prefer") {
      expect_array(value, key_path);
      for (size_t i = 0; i < value.size(); ++i) {
        region.prefer.push_back(expect_string(value[i], index_path(key_path, i)));
      }
    } else {
      throw ConfigError(key_path, "unknown key");
    }
  }
  require(!region.name.empty(), join_path(path, "name"), "every region needs a name");
  if (region.lat.has_value() != region.lon.has_value()) {
    throw ConfigError(join_path(path, region.lat ? "lon" : "lat"), "missing; give lat and lon together");
  }
  return region;
}

geo::NetworkSpec parse_network(const json& object, const std::string& path) {
  expect_object(object, path);
  geo::NetworkSpec network;
  for (const auto& [key, value] : object.items()) {
    const std::string key_path = join_path(path, key);
    if (key == "cidr") {
      network.cidr = expect_string(value, key_path);
      check_cidr(network.cidr, key_path);
    } else if (key == "region") {
      network.region = expect_string(value, key_path);
      if (network.region.empty()) throw ConfigError(key_path, "empty region name");
    } else {
      throw ConfigError(key_path, "unknown key");
    }
  }
  require(!network.cidr.empty(), join_path(path, "cidr"), "every network needs a cidr");
  require(!network.region.empty(), join_path(path, "region"), "every network needs a region");
  return network;
}

namespace {

// A duration of at least 1s ("0s": off), like the other durations.
std::chrono::milliseconds remove_after_value(const json& value, const std::string& path) {
  if (!value.is_string()) wrong_type(path, "a duration string like \"72h\"", value);
  const std::chrono::milliseconds after = parse_duration(value.get<std::string>(), path);
  if (after.count() != 0 && after < std::chrono::seconds(1)) {
    throw ConfigError(path, "must be at least 1s (or 0s: off), got " + probes::format_duration(after));
  }
  return after;
}

}  // namespace

bool parse_array_setting(const std::string& key, const json& value, const std::string& key_path,
                         arrays::ArraySettings& settings) {
  if (key == "ttl") {
    settings.ttl = static_cast<uint32_t>(integer_in(value, key_path, 0, kMaxTtl));
  } else if (key == "degraded_ttl") {
    settings.degraded_ttl = static_cast<uint32_t>(integer_in(value, key_path, 0, kMaxTtl));
  } else if (key == "policy") {
    settings.policy = enum_value(value, key_path, &arrays::policy_from_string,
                                 "round_robin, weighted, geo, sticky");
  } else if (key == "max_answers") {
    settings.max_answers = static_cast<uint16_t>(
        integer_in(value, key_path, 0, static_cast<int64_t>(arrays::kMaxInstancesPerArray)));
  } else if (key == "when_all_down") {
    settings.when_all_down =
        enum_value(value, key_path, &arrays::when_all_down_from_string, "all, none");
  } else if (key == "min_healthy") {
    const double share = expect_number(value, key_path);
    if (!(share >= 0 && share <= 1)) {
      throw ConfigError(key_path, "expected a share from 0 to 1, got " + value.dump());
    }
    settings.min_healthy = share;
  } else if (key == "slow_start") {
    if (!value.is_string()) wrong_type(key_path, "a duration like \"60s\"", value);
    settings.slow_start_ms = parse_duration(value.get<std::string>(), key_path).count();
  } else if (key == "check") {
    expect_object(value, key_path);
    settings.check = value.dump();
  } else if (key == "fallback") {
    settings.fallback = ascii_lowercase(domain_name(value, key_path));
  } else if (key == "remove_after") {
    settings.remove_after = remove_after_value(value, key_path);
  } else {
    return false;
  }
  return true;
}

arrays::ArraySettings parse_array_settings(const json& object, const std::string& path) {
  expect_object(object, path);
  arrays::ArraySettings settings;
  for (const auto& [key, value] : object.items()) {
    const std::string key_path = join_path(path, key);
    if (!parse_array_setting(key, value, key_path, settings)) {
      throw ConfigError(key_path, "unknown key");
    }
  }
  probes::effective_check(settings.check, "", join_path(path, "check"));
  return settings;
}

ArrayInstance parse_instance(const json& object, const std::string& path, InstanceFields fields) {
  expect_object(object, path);
  ArrayInstance instance;
  bool has_address = false;
  for (const auto& [key, value] : object.items()) {
    const std::string key_path = join_path(path, key);
    if (key == "address") {
      const std::string& text = expect_string(value, key_path);
      const auto address = arrays::IpAddress::parse(text);
      if (!address) throw ConfigError(key_path, "\"" + text + "\" is not an IPv4 or IPv6 address");
      instance.spec.address = address->unmapped();
      if (const std::string_view why = instance.spec.address.not_a_server(); !why.empty()) {
        throw ConfigError(key_path, "\"" + text + "\" cannot be a server: " + std::string(why));
      }
      has_address = true;
    } else if (key == "weight") {
      instance.spec.weight = static_cast<uint16_t>(integer_in(value, key_path, 1, 1000));
    } else if (key == "region") {
      instance.spec.region = expect_string(value, key_path);
    } else if (key == "lat") {
      instance.spec.lat = coordinate(value, key_path, 90);
    } else if (key == "lon") {
      instance.spec.lon = coordinate(value, key_path, 180);
    } else if (key == "state") {
      instance.spec.state = enum_value(value, key_path, &arrays::admin_state_from_string,
                                       "enabled, draining, disabled");
    } else if (key == "check") {
      expect_object(value, key_path);  // validated against the array's check by the caller
      instance.spec.check = value.dump();
    } else if (key == "health" && fields == InstanceFields::with_health) {
      instance.health =
          enum_value(value, key_path, &arrays::health_from_string, "unknown, up, down");
    } else if (key == "health") {
      throw ConfigError(key_path, "read-only; health is set by the health checks");
    } else {
      throw ConfigError(key_path, "unknown key");
    }
  }
  require(has_address, join_path(path, "address"), "every instance needs an address");
  if (instance.spec.lat.has_value() != instance.spec.lon.has_value()) {
    throw ConfigError(join_path(path, instance.spec.lat ? "lon" : "lat"),
                      "missing; give lat and lon together");
  }
  return instance;
}

DeclaredZone parse_declared_zone(const json& object, const std::string& path) {
  DeclaredZone zone;
  for (const auto& [key, value] : object.items()) {
    const std::string key_path = join_path(path, key);
    if (key == "name") {
      zone.name = domain_name(value, key_path);
    } else if (key == "name_servers") {
      expect_array(value, key_path);
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string server_path = index_path(key_path, i);
        expect_object(value[i], server_path);
        NameServer server;
        for (const auto& [field, field_value] : value[i].items()) {
          const std::string field_path = join_path(server_path, field);
          if (field == "name") {
            server.name = domain_name(field_value, field_path);
          } else if (field == "addresses") {
            expect_array(field_value, field_path);
            for (size_t j = 0; j < field_value.size(); ++j) {
              const std::string address_path = index_path(field_path, j);
              const std::string& text = expect_string(field_value[j], address_path);
              if (!arrays::IpAddress::parse(text)) {
                throw ConfigError(address_path, "\"" + text + "\" is not an IPv4 or IPv6 address");
              }
              server.addresses.push_back(text);
            }
          } else {
            throw ConfigError(field_path, "unknown key");
          }
        }
        require(!server.name.empty(), join_path(server_path, "name"), "every name server needs a name");
        zone.name_servers.push_back(std::move(server));
      }
    } else {
      throw ConfigError(key_path, "unknown key");
    }
  }
  require(!zone.name_servers.empty(), join_path(path, "name_servers"),
          "a declared zone needs at least one name server");
  return zone;
}

namespace {

// Element `i` of the "arrays", "regions" or "networks" section.
void parse_registry_section_item(const std::string& key, const json& value, size_t i, Config& config) {
  const std::string path = index_path(key, i);
  if (key == "arrays") {
    config.arrays.push_back(parse_array(value[i], path));
    for (size_t j = 0; j + 1 < config.arrays.size(); ++j) {
      if (same_name(config.arrays[j].name, config.arrays.back().name)) {
        throw ConfigError(path + ".name", "duplicate of arrays[" + std::to_string(j) + "]");
      }
    }
  } else if (key == "regions") {
    config.regions.push_back(parse_region(value[i], path));
  } else {
    config.networks.push_back(parse_network(value[i], path));
  }
}

}  // namespace

void parse_registry_section(const std::string& key, const json& value, Config& config,
                            std::vector<ConfigError>* errors) {
  expect_array(value, key);
  for (size_t i = 0; i < value.size(); ++i) {
    if (errors == nullptr) {
      parse_registry_section_item(key, value, i, config);
      continue;
    }
    try {
      parse_registry_section_item(key, value, i, config);
    } catch (const ConfigError& error) {
      errors->push_back(error);
    }
  }
}

}  // namespace rotor::config
