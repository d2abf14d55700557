#pragma once
// Parsers for the config sections that feed the registry; used by config.cc.

#include <string>

#include "server/config/config.h"
#include "server/config/json_fields.h"

namespace rotor::config {

// A zones[] entry with "name" instead of "file".
DeclaredZone parse_declared_zone(const json_fields::json& object, const std::string& path);
// "arrays", "regions" or "networks".
void parse_registry_section(const std::string& key, const json_fields::json& value, Config& config);

}  // namespace rotor::config
