#include "server/arrays/fallback.h"

namespace rotor::arrays {

AnsweringArray resolve_fallback(const ArrayTable& table, const ArrayState& asked, uint8_t family) noexcept {
  if (!asked.none_healthy(family)) return {&asked, 0};
  const ArrayState* at = &asked;
  for (int hop = 1; hop <= kMaxFallbackHops && !at->fallback.empty(); ++hop) {
    at = table.find(at->fallback);
    if (at == nullptr || at == &asked) break;  // missing, or a cycle the registry let through
    if (at->family(family).exists && !at->none_healthy(family)) return {at, hop};
  }
  return {&asked, 0};
}

}  // namespace rotor::arrays
