#pragma once
// The instance bodies of the API's writes, without HTTP: parsing one as the
// config parses an instance, and applying a PATCH. Shared by the routes and
// the API body fuzzer, so that the fuzzer runs exactly what the routes run.

#include <string>

#include <nlohmann/json.hpp>

#include "server/arrays/array.h"

namespace rotor::api {

// An instance body, parsed as the config parses an instance (without
// "health"), its check validated merged over the array's. Throws
// config::ConfigError naming the field under `path`.
arrays::InstanceSpec parse_instance_body(const nlohmann::json& body, const std::string& path,
                                         const arrays::ArraySettings& settings);

// `patch`'s fields over `current`; null removes one (back to its default), as
// in a JSON merge patch (RFC 7396), one level deep: a given "check" replaces
// the whole check. `patch` must be an object.
nlohmann::json merge_instance_patch(nlohmann::json current, const nlohmann::json& patch);

}  // namespace rotor::api
