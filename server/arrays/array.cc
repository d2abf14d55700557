#include "server/arrays/array.h"

namespace rotor::arrays {

namespace {

// One table per enum keeps to_string and from_string from drifting apart.
template <typename Enum>
struct Name {
  Enum value;
  std::string_view text;
};

constexpr Name<Policy> kPolicies[] = {{Policy::round_robin, "round_robin"},
                                      {Policy::weighted, "weighted"},
                                      {Policy::geo, "geo"},
                                      {Policy::sticky, "sticky"}};
constexpr Name<WhenAllDown> kWhenAllDown[] = {{WhenAllDown::all, "all"},
                                              {WhenAllDown::none, "none"}};
constexpr Name<AdminState> kAdminStates[] = {{AdminState::enabled, "enabled"},
                                             {AdminState::draining, "draining"},
                                             {AdminState::disabled, "disabled"}};
constexpr Name<Health> kHealths[] = {
    {Health::unknown, "unknown"}, {Health::up, "up"}, {Health::down, "down"}};

template <typename Enum, size_t N>
std::string_view name_of(const Name<Enum> (&names)[N], Enum value) {
  for (const auto& name : names) {
    if (name.value == value) return name.text;
  }
  return "invalid";
}

template <typename Enum, size_t N>
std::optional<Enum> value_of(const Name<Enum> (&names)[N], std::string_view text) {
  for (const auto& name : names) {
    if (name.text == text) return name.value;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(Policy value) { return name_of(kPolicies, value); }
std::string_view to_string(WhenAllDown value) { return name_of(kWhenAllDown, value); }
std::string_view to_string(AdminState value) { return name_of(kAdminStates, value); }
std::string_view to_string(Health value) { return name_of(kHealths, value); }

std::optional<Policy> policy_from_string(std::string_view text) {
  return value_of(kPolicies, text);
}
std::optional<WhenAllDown> when_all_down_from_string(std::string_view text) {
  return value_of(kWhenAllDown, text);
}
std::optional<AdminState> admin_state_from_string(std::string_view text) {
  return value_of(kAdminStates, text);
}
std::optional<Health> health_from_string(std::string_view text) { return value_of(kHealths, text); }

}  // namespace rotor::arrays
