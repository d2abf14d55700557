#pragma once
// Likely mistakes in data that is valid: accepted, but worth a word. Each is
// one sentence starting with the key path under `path` ("degraded_ttl: ..."
// in the API, "arrays[0].degraded_ttl: ..." in the config). The API returns
// them in its write replies' "warnings", `rotor check` prints them and
// `rotor serve` logs them. Pure functions; thread-safe.

#include <string>
#include <vector>

#include "server/arrays/array.h"
#include "server/geo/geo.h"

namespace rotor::registry {

// degraded_ttl above ttl: a degraded array's answers would outlive healthy
// ones. remove_after without the array's check: it removes nothing but the
// instances with a check of their own.
std::vector<std::string> settings_warnings(const arrays::ArraySettings& settings,
                                           const std::string& path);

// A region that no `regions` or `networks` entry defines (not in `declared`):
// no client is ever placed in it, so the geo policy never prefers it.
std::vector<std::string> instance_warnings(const arrays::InstanceSpec& spec,
                                           const geo::RegionTable& declared,
                                           const std::string& path);

}  // namespace rotor::registry
