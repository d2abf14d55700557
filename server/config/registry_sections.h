#pragma once
// Parsers for the config sections that feed the registry; used by config.cc
// and by the HTTP API (api/), so that a field means and accepts exactly the
// same in the config file and in an API body. Errors are ConfigError naming
// the key path under `path` ("arrays[0].ttl" in the config, "ttl" in the API).

#include <string>

#include "server/config/config.h"
#include "server/common/json_fields.h"

namespace rotor::config {

// A zones[] entry with "name" instead of "file".
DeclaredZone parse_declared_zone(const json_fields::json& object, const std::string& path);
// "arrays", "regions" or "networks".
// With `errors`, a bad element's ConfigError is added to them and the next
// element is still parsed.
void parse_registry_section(const std::string& key, const json_fields::json& value, Config& config,
                            std::vector<ConfigError>* errors = nullptr);

// One array-settings key (ttl, degraded_ttl, policy, max_answers,
// when_all_down, min_healthy, slow_start, check) into `settings`; false when `key` is not a setting.
// A check is stored as given; parse_array_settings validates it.
bool parse_array_setting(const std::string& key, const json_fields::json& value,
                         const std::string& key_path, arrays::ArraySettings& settings);
// An object holding only settings keys; the check is validated.
arrays::ArraySettings parse_array_settings(const json_fields::json& object, const std::string& path);

// A regions[] / networks[] element (the API's region and network bodies
// too). The network's cidr is checked for its form; NetworkTable::build
// refuses bits past the prefix, a duplicate, as for the config.
geo::RegionSpec parse_region(const json_fields::json& object, const std::string& path);
geo::NetworkSpec parse_network(const json_fields::json& object, const std::string& path);

// Whether an instance object may carry "health": the config may (startup
// health for demos and tests); the API may not, since probes own it.
enum class InstanceFields { with_health, without_health };
// An instance object. Its "check" is only checked to be an object: whether it
// is valid merged over the array's check is the caller's to test
// (probes::effective_check), since only the caller knows the array.
ArrayInstance parse_instance(const json_fields::json& object, const std::string& path,
                             InstanceFields fields);

}  // namespace rotor::config
