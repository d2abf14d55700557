#pragma once
// The rules of automatic removal (an array's `remove_after`), in one place
// for the reaper that looks for expired instances (app::InstanceReaper) and
// the registry that removes one (Registry::remove_expired_instance), which
// asks them again on what the store holds at commit time.
//
// A candidate is an instance of an array with remove_after set that its
// check probes (the array's check merged with the instance's is valid and
// present: an array without a check has no down instances), that is not
// disabled (an operator parked it on purpose) and whose health is down or
// unknown. It expires once it has been a candidate for remove_after without
// a health transition: each transition starts a new period.
//
// Pure functions: thread-safe, no I/O; nothing throws but std::bad_alloc.

#include <cstdint>
#include <optional>
#include <string>

#include "server/arrays/array.h"

namespace rotor::registry {

bool removal_candidate(const arrays::ArraySettings& settings, const arrays::Instance& instance);

// The removal's reason ("remove_after 72h: down for 72h0m4s since TIME")
// when `instance`, not up since `not_up_since_ms` (the caller's measure, at
// least its last health transition), has expired at `now_ms`; nullopt when
// it is no candidate, its health changed after `not_up_since_ms` (it came
// back, or went down anew), or the period is shorter than remove_after.
std::optional<std::string> expiry_reason(const arrays::ArraySettings& settings,
                                         const arrays::Instance& instance, int64_t not_up_since_ms,
                                         int64_t now_ms);

// A length of time for people: "4.2s", "3m07s", "72h00m04s".
std::string elapsed_text(int64_t ms);

}  // namespace rotor::registry
