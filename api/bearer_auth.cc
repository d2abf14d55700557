#include "api/bearer_auth.h"

#include <algorithm>
#include <cstdint>

namespace rotor::api {

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  const size_t length = std::max(a.size(), b.size());
  // A length mismatch is a difference too, but the loop still runs in full.
  uint8_t difference = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < length; ++i) {
    const auto left = static_cast<uint8_t>(i < a.size() ? a[i] : 0);
    const auto right = static_cast<uint8_t>(i < b.size() ? b[i] : 0);
    difference = static_cast<uint8_t>(difference | (left ^ right));
  }
  return difference == 0;
}

bool BearerAuth::allows(std::string_view authorization) const noexcept {
  if (token_.empty()) return true;
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() < kScheme.size()) return false;
  // The scheme is case-insensitive (RFC 7235 2.1); the token is not.
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = authorization[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    const char expected = (kScheme[i] >= 'A' && kScheme[i] <= 'Z')
                              ? static_cast<char>(kScheme[i] + 32)
                              : kScheme[i];
    if (lower != expected) return false;
  }
  return constant_time_equal(authorization.substr(kScheme.size()), token_);
}

}  // namespace rotor::api
