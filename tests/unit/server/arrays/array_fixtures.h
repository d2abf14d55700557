#pragma once
// Builders shared by the array tests: instances and states from short specs.

#include <string>
#include <vector>

#include "server/arrays/array_state.h"
#include "server/geo/geo.h"
#include "zones/zone.h"

namespace rotor::arrays::test {

inline Instance instance(const std::string& address, uint16_t weight = 100,
                         Health health = Health::up, AdminState state = AdminState::enabled,
                         const std::string& region = {}) {
  static int64_t next_id = 1;
  Instance out;
  out.id = next_id++;
  out.spec.address = *IpAddress::parse(address);
  out.spec.weight = weight;
  out.spec.region = region;
  out.spec.state = state;
  out.health = health;
  return out;
}

inline std::shared_ptr<const ArrayState> build(std::vector<Instance> instances,
                                               ArraySettings settings = {},
                                               const geo::RegionTable* regions = nullptr) {
  static const auto empty = geo::RegionTable::build({});
  return ArrayState::build(*zones::name_from_text("web.lb.example.com."), 7, settings,
                           std::move(instances), regions != nullptr ? *regions : *empty);
}

// The textual address of an answer.
inline std::string text(const AnswerInstance& answer, uint8_t family) {
  IpAddress address;
  address.family = family;
  std::copy(answer.rdata, answer.rdata + (family == 4 ? 4 : 16), address.bytes);
  return address.to_string();
}

inline std::vector<std::string> texts(const FamilyCandidates& candidates, uint8_t family) {
  std::vector<std::string> out;
  for (const auto& answer : candidates.instances) out.push_back(text(answer, family));
  return out;
}

inline geo::ClientAddress client(const std::string& address, uint8_t prefix, bool from_ecs = true) {
  geo::ClientAddress out;
  const auto parsed = *IpAddress::parse(address);
  out.family = parsed.family;
  std::copy(parsed.bytes, parsed.bytes + 16, out.bytes);
  out.prefix = prefix;
  out.from_ecs = from_ecs;
  return out;
}

}  // namespace rotor::arrays::test
