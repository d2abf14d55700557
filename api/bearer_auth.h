#pragma once
// The API's access check: `Authorization: Bearer <token>` against the
// configured token, compared in time that does not depend on where the two
// differ. The token is never logged.

#include <string>
#include <string_view>

namespace rotor::api {

// Every byte of both strings is looked at, whatever their lengths, so that
// the time taken says nothing about how much of a guess was right.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

class BearerAuth {
 public:
  explicit BearerAuth(std::string token) : token_(std::move(token)) {}
  bool required() const noexcept { return !token_.empty(); }
  // True when no token is configured or `authorization` carries it.
  bool allows(std::string_view authorization) const noexcept;

 private:
  std::string token_;
};

}  // namespace rotor::api
