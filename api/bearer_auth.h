#pragma once
// The API's access check: `Authorization: Bearer <token>` against the
// configured tokens, each known by a name and a scope and stored only as the
// SHA-256 of its secret. The presented token is hashed and compared with
// every configured hash in time that does not depend on where they differ or
// which one matched. The secret is never kept or logged; the name is.
//
// Thread-safety: immutable after construction, so any thread may call it.
// Errors: none (a bad header is simply no match).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/config/config.h"

namespace rotor::api {

// Every byte of both strings is looked at, whatever their lengths, so that
// the time taken says nothing about how much of a guess was right.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

using Sha256 = std::array<uint8_t, 32>;
Sha256 sha256(std::string_view data);
// 64 lower-case hex digits, the form api.tokens[].sha256 takes.
std::string sha256_hex(std::string_view data);

// The token a request was made with.
struct Caller {
  std::string token_name;  // empty: no token is configured, anyone may call
  config::TokenScope scope = config::TokenScope::write;
};

class BearerAuth {
 public:
  // `plain_token` (api.token / ROTOR_API_TOKEN; empty: none) becomes the
  // write token named "default"; `tokens` are api.tokens, already validated.
  BearerAuth(std::string_view plain_token, const std::vector<config::ApiToken>& tokens);
  bool required() const noexcept { return !tokens_.empty(); }
  size_t token_count() const noexcept { return tokens_.size(); }
  // The caller `authorization` (the header's value) identifies; false when
  // a token is required and none matches. With no token configured every
  // request passes as an anonymous writer.
  bool identify(std::string_view authorization, Caller& caller) const;

 private:
  struct Known {
    std::string name;
    config::TokenScope scope;
    Sha256 hash;
  };
  std::vector<Known> tokens_;
};

}  // namespace rotor::api
