#pragma once
// Who decided an instance's health: each observer's view (node, health,
// reason, time of its last transition, this node's last check) and how the
// quorum combined them. Shared by GET /v1/arrays/{name}/health and
// /v1/explain. A single node is the one observer of its instances.
//
// Thread-safety: reads the context's thread-safe lookups only. No errors.

#include <nlohmann/json.hpp>

#include "api/api_context.h"
#include "server/arrays/array.h"

namespace rotor::api {

// {"observers": [{"node", "health", "reason", "time_ms", "time", "counted",
//   "abstaining", "last_check"}], "quorum": {"rule", "decision"}}
nlohmann::json observers_json(const ApiContext& context, const arrays::Instance& instance);

// The last probe of an instance as JSON; null when never checked.
nlohmann::json last_check_json(const std::optional<probes::LastCheck>& check);

// Whether flap damping holds the instance down after its last probe:
// {"held_down": true, "until_ms", "until", "reason"}; null when it does not
// (or the instance was never checked).
nlohmann::json damping_json(const std::optional<probes::LastCheck>& check);

}  // namespace rotor::api
