#include "server/registry/instance_replacement.h"

#include <set>

#include "server/registry/store.h"

namespace rotor::registry {

InstanceReplacement plan_instance_replacement(std::string_view array,
                                              const std::vector<arrays::InstanceSpec>& specs,
                                              const std::map<std::string, int64_t>& existing) {
  std::set<std::string> wanted;
  for (const arrays::InstanceSpec& spec : specs) {
    if (!wanted.insert(spec.address.to_string()).second) {
      throw ConflictError("address " + spec.address.to_string() + " is listed twice for " +
                          std::string(array));
    }
  }
  InstanceReplacement plan;
  for (const auto& [address, id] : existing) {
    if (!wanted.contains(address)) plan.removed.push_back(id);
  }
  for (const arrays::InstanceSpec& spec : specs) {
    const auto found = existing.find(spec.address.to_string());
    plan.written.push_back({&spec, found == existing.end() ? std::nullopt
                                                           : std::optional<int64_t>(found->second)});
  }
  return plan;
}

}  // namespace rotor::registry
