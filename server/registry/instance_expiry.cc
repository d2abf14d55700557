#include "server/registry/instance_expiry.h"

#include <cstdio>
#include <exception>

#include "probes/check_spec.h"
#include "server/common/utc_time.h"

namespace rotor::registry {

bool removal_candidate(const arrays::ArraySettings& settings, const arrays::Instance& instance) {
  if (settings.remove_after.count() <= 0) return false;
  if (instance.spec.state == arrays::AdminState::disabled || instance.health == arrays::Health::up) {
    return false;
  }
  try {
    return probes::effective_check(settings.check, instance.spec.check, "check").has_value();
  } catch (const std::exception&) {
    return false;  // a check that cannot run says nothing about the instance
  }
}

std::optional<std::string> expiry_reason(const arrays::ArraySettings& settings,
                                         const arrays::Instance& instance, int64_t not_up_since_ms,
                                         int64_t now_ms) {
  if (!removal_candidate(settings, instance)) return std::nullopt;
  if (instance.health_changed_ms > not_up_since_ms) return std::nullopt;
  const int64_t not_up_ms = now_ms - not_up_since_ms;
  if (not_up_ms < settings.remove_after.count()) return std::nullopt;
  return "remove_after " + probes::format_duration(settings.remove_after) + ": " +
         std::string(arrays::to_string(instance.health)) + " for " + elapsed_text(not_up_ms) + " since " +
         utc_text(not_up_since_ms);
}

std::string elapsed_text(int64_t ms) {
  char text[48];
  if (ms < 60 * 1000) {
    std::snprintf(text, sizeof text, "%.1fs", static_cast<double>(ms) / 1000);
  } else {
    const int64_t seconds = ms / 1000;
    if (seconds < 3600) {
      std::snprintf(text, sizeof text, "%lldm%02llds", static_cast<long long>(seconds / 60),
                    static_cast<long long>(seconds % 60));
    } else {
      std::snprintf(text, sizeof text, "%lldh%02lldm%02llds", static_cast<long long>(seconds / 3600),
                    static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
    }
  }
  return text;
}

}  // namespace rotor::registry
