// Registry::remove_expired_instance: automatic removal (remove_after).
#include <algorithm>

#include "server/registry/instance_expiry.h"
#include "server/registry/registry.h"

namespace rotor::registry {

Registry::ExpiredRemoval Registry::remove_expired_instance(std::string_view array_name, int64_t id,
                                                           int64_t not_up_since_ms) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  ArrayModel& array = model(*state, array_name);
  const auto found = std::find_if(array.instances.begin(), array.instances.end(),
                                  [id](const arrays::Instance& instance) { return instance.id == id; });
  if (found == array.instances.end()) {
    throw NotFoundError("no instance " + std::to_string(id) + " in " + array.name);
  }
  if (const auto claim = state->claimed.find(array.name); claim != state->claimed.end()) {
    const auto& listed = claim->second.addresses;
    if (std::find(listed.begin(), listed.end(), found->spec.address) != listed.end()) {
      return ExpiredRemoval::listed_in_config;
    }
  }
  const int64_t now = now_ms();
  const arrays::ArraySettings settings = array.settings;
  if (!expiry_reason(settings, *found, not_up_since_ms, now)) return ExpiredRemoval::not_expired;

  // Decided again on the stored instance inside the transaction: the model
  // of a cluster node may lag a verdict another node recorded.
  const std::optional<std::string> zone = synthetic_zone_of(array.wire_name);
  const OriginScope origin(state->store, {.source = "remove_after"});
  bool removed = false;
  std::optional<uint32_t> serial;
  state->store.atomically([&] {
    removed = state->store.remove_instance_if(array.name, id, now, [&](const arrays::Instance& stored) {
      return expiry_reason(settings, stored, not_up_since_ms, now);
    });
    if (removed && zone) serial = state->store.bump_zone_serial(*zone);
  });
  if (serial) serve_synthetic_zone(*state, *zone, *serial);
  if (!removed) return ExpiredRemoval::not_expired;
  array.instances.erase(found);
  state->owner_of.erase(id);
  publish(*state, array);
  changed(*state);
  return ExpiredRemoval::removed;
}

}  // namespace rotor::registry
