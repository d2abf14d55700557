#pragma once
// The rule every Store follows for replace_instances, as a pure planner: an
// address that stays keeps its instance (id, health) and takes the new spec,
// an address no longer wanted is removed, a new one is added. The stores
// (SqliteStore, cluster::EtcdStore) read what they hold, ask for the plan and
// carry it out in their own transaction. Pure and thread-safe; throws
// ConflictError when `specs` lists an address twice.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/arrays/array.h"

namespace rotor::registry {

struct InstanceReplacement {
  // One wanted spec: the instance that keeps its address, or a new one.
  struct Kept {
    const arrays::InstanceSpec* spec;
    std::optional<int64_t> id;  // nullopt: add
  };
  std::vector<int64_t> removed;  // by address
  std::vector<Kept> written;     // in the order of `specs`
};

// `existing`: the array's instances now, address (IpAddress::to_string) -> id.
InstanceReplacement plan_instance_replacement(std::string_view array,
                                              const std::vector<arrays::InstanceSpec>& specs,
                                              const std::map<std::string, int64_t>& existing);

}  // namespace rotor::registry
