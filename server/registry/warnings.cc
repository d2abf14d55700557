#include "server/registry/warnings.h"

#include "server/common/json_fields.h"

namespace rotor::registry {

using json_fields::join_path;

std::vector<std::string> settings_warnings(const arrays::ArraySettings& settings,
                                           const std::string& path) {
  std::vector<std::string> warnings;
  if (settings.degraded_ttl > settings.ttl) {
    warnings.push_back(join_path(path, "degraded_ttl") + ": " +
                       std::to_string(settings.degraded_ttl) + " is above ttl " +
                       std::to_string(settings.ttl) +
                       "; while instances are down, answers would be cached longer, not shorter");
  }
  if (settings.remove_after.count() != 0 && settings.check.empty()) {
    warnings.push_back(join_path(path, "remove_after") +
                       ": the array has no check, so only instances with a check of their own are ever "
                       "found down and removed");
  }
  return warnings;
}

std::vector<std::string> instance_warnings(const arrays::InstanceSpec& spec,
                                           const geo::RegionTable& declared,
                                           const std::string& path) {
  std::vector<std::string> warnings;
  if (!spec.region.empty() && declared.id(spec.region) == kNoRegion) {
    warnings.push_back(join_path(path, "region") + ": \"" + spec.region +
                       "\" is not defined by any regions or networks entry; no client is placed "
                       "in it, so the geo policy never prefers this instance");
  }
  return warnings;
}

}  // namespace rotor::registry
