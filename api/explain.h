#pragma once
// GET /v1/explain: what rotor would answer a client now, and why. The answer
// comes from the real answerer (answer_query on the current snapshot, with a
// query built here, ECS included when asked); the reasons come from the
// snapshot's model of the array: which instances are candidates and why the
// others are not, and which region the geo lookup the answerer uses puts the
// client in. What the reply carries (addresses, TTL, CNAME chain, the ECS
// scope) is decoded from the reply itself; the array reported is the one the
// CNAME chain ends at. Nothing here is a second implementation of the selection.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "server/arrays/array.h"
#include "server/snapshot/snapshot.h"

namespace rotor::api {

struct ExplainRequest {
  std::string name;
  uint16_t type = 1;  // A (1) or AAAA (28)
  std::optional<arrays::IpAddress> client;  // the query's source address; none: unknown
  struct Subnet {
    arrays::IpAddress address;  // bits beyond `prefix` zeroed
    uint8_t prefix = 0;
  };
  std::optional<Subnet> ecs;  // EDNS Client Subnet to send
};

// From the query parameters (name, type, client, ecs); ApiError 400 naming
// the parameter.
ExplainRequest parse_explain_request(const std::optional<std::string>& name,
                                     const std::optional<std::string>& type,
                                     const std::optional<std::string>& client,
                                     const std::optional<std::string>& ecs);

// `health_detail`, when given, adds its keys to each instance of the array
// (the API passes observers_json, who decided the instance's health, and
// damping_json); a non-null "damping" among them makes the reason of a down
// instance that is not a candidate the damping's.
nlohmann::json explain(const Snapshot& snapshot, const ExplainRequest& request,
                       const std::function<nlohmann::json(const arrays::Instance&)>& health_detail = {});

}  // namespace rotor::api
