#include "server/app/instance_reaper.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

#include "server/common/utc_time.h"
#include "server/registry/instance_expiry.h"

namespace rotor::app {

namespace {

// How often sweeps run: a tenth of the shortest remove_after, between 1 s and 1 min.
std::chrono::milliseconds sweep_interval(const std::vector<registry::RegisteredArray>& arrays) {
  std::chrono::milliseconds shortest = std::chrono::minutes(10);
  for (const auto& array : arrays) {
    if (array.settings.remove_after.count() > 0) shortest = std::min(shortest, array.settings.remove_after);
  }
  return std::clamp<std::chrono::milliseconds>(shortest / 10, std::chrono::seconds(1), std::chrono::minutes(1));
}

}  // namespace

std::vector<ExpiredInstance> expired_instances(const std::vector<registry::RegisteredArray>& arrays,
                                               int64_t now_ms, ReaperMemory& memory) {
  std::vector<ExpiredInstance> expired;
  std::unordered_set<int64_t> unchanged;  // candidates without a transition
  for (const registry::RegisteredArray& array : arrays) {
    for (const arrays::Instance& instance : array.instances) {
      if (!registry::removal_candidate(array.settings, instance)) continue;
      int64_t since = instance.health_changed_ms;
      if (since == 0) {
        since = memory.first_seen_ms.try_emplace(instance.id, now_ms).first->second;
        unchanged.insert(instance.id);
      }
      since = std::max(since, memory.started_ms);
      if (auto reason = registry::expiry_reason(array.settings, instance, since, now_ms)) {
        expired.push_back({array.name, instance.id, since, std::move(*reason)});
      }
    }
  }
  std::erase_if(memory.first_seen_ms, [&](const auto& entry) { return !unchanged.contains(entry.first); });
  return expired;
}

InstanceReaper::InstanceReaper(registry::Registry& registry, InstanceReaperOptions options)
    : registry_(registry), options_(std::move(options)) {
  if (!options_.now_ms) options_.now_ms = unix_now_ms;
  state_.lock()->memory.started_ms = options_.now_ms();
}

InstanceReaper::~InstanceReaper() { stop(); }

void InstanceReaper::start() {
  thread_.start([this] { return tick(); });
}

void InstanceReaper::stop() { thread_.stop(); }

size_t InstanceReaper::sweep() { return sweep(registry_.arrays()); }

size_t InstanceReaper::sweep(const std::vector<registry::RegisteredArray>& arrays) {
  std::vector<ExpiredInstance> expired;
  {
    auto state = state_.lock();
    expired = expired_instances(arrays, options_.now_ms(), state->memory);
  }
  size_t removed = 0;
  for (const ExpiredInstance& instance : expired) {
    if (options_.removes && !options_.removes(instance.id)) continue;
    using Outcome = registry::Registry::ExpiredRemoval;
    try {
      switch (registry_.remove_expired_instance(instance.array, instance.id, instance.not_up_since_ms)) {
        case Outcome::removed:
          ++removed;
          spdlog::info("remove_after: removed instance {} of {}: {}", instance.id, instance.array, instance.reason);
          break;
        case Outcome::listed_in_config:
          if (state_.lock()->logged_listed.insert(instance.id).second) {
            spdlog::info("remove_after: instance {} of {} stays: the config lists it", instance.id, instance.array);
          }
          break;
        case Outcome::not_expired:
          break;  // it came back (or changed) since the sweep looked
      }
    } catch (const registry::NotFoundError&) {
      // Gone already (another node's reaper, or the API).
    } catch (const std::exception& error) {
      spdlog::warn("remove_after: cannot remove instance {} of {}: {}", instance.id, instance.array, error.what());
    }
  }
  return removed;
}

std::chrono::milliseconds InstanceReaper::tick() {
  try {
    const std::vector<registry::RegisteredArray> arrays = registry_.arrays();
    sweep(arrays);
    return sweep_interval(arrays);
  } catch (const std::exception& error) {
    spdlog::warn("remove_after: sweep failed: {}", error.what());
    return std::chrono::seconds(10);
  }
}

}  // namespace rotor::app
