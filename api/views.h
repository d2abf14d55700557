#pragma once
// The JSON forms of the registry's model. Field names are the config file's
// (README "Configuration"), so what GET returns can be edited and sent back.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "server/arrays/array.h"
#include "server/registry/registry.h"
#include "server/registry/store.h"

namespace rotor::api {

// "2026-11-30T08:19:56.123Z"; null for 0 (never).
nlohmann::json rfc3339(int64_t unix_ms);

// The array's settings, with "check" as an object or null.
nlohmann::json settings_json(const arrays::ArraySettings& settings);
// The operator's fields of an instance (what PATCH merges over).
nlohmann::json spec_json(const arrays::InstanceSpec& spec);
// spec_json plus "id" and "health".
nlohmann::json instance_json(const arrays::Instance& instance);
// instance_json(instance) as reply_json writes it (dump(-1), invalid UTF-8
// replaced), appended to `out` without building the JSON object: a write of
// one instance replies with it, and building, dumping and freeing the object
// were about 10,000 instructions of an API PATCH. Byte for byte the same
// (tests/unit/api/views_test.cc): a region, a check and the coordinates go
// through nlohmann's serializer, the other values are plain text.
void append_instance_json(std::string& out, const arrays::Instance& instance);
// "name", the settings, "instance_count" and "source" (who owns the settings:
// "api", or where the config declares the array, "rotor.json: arrays[0]"); with
// every instance when `with_instances`.
nlohmann::json array_json(const registry::RegisteredArray& array, bool with_instances);
// The read-only part of array_json for an array that does not exist yet:
// "name" (lower case, final dot), "instance_count" 0, "source" "api", "instances" [].
nlohmann::json new_array_json(const std::string& name);
nlohmann::json event_json(const registry::Event& event);
// The config's fields of a region or network plus "source": "api" for one
// made through the API, or where the config declares it ("rotor.json: regions[0]").
nlohmann::json region_view(const registry::RegisteredRegion& region);
nlohmann::json network_view(const registry::RegisteredNetwork& network);

}  // namespace rotor::api
