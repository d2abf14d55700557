#include "api/bearer_auth.h"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

namespace rotor::api {

namespace {

constexpr std::string_view kScheme = "Bearer ";

// The scheme is case-insensitive (RFC 7235 2.1); the token is not.
bool has_bearer_scheme(std::string_view authorization) {
  if (authorization.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (lower(authorization[i]) != lower(kScheme[i])) return false;
  }
  return true;
}

Sha256 from_hex(const std::string& hex) {
  Sha256 out{};
  const auto digit = [](char c) -> uint8_t {
    return static_cast<uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  };
  for (size_t i = 0; i < out.size() && 2 * i + 1 < hex.size(); ++i) {
    out[i] = static_cast<uint8_t>(digit(hex[2 * i]) << 4 | digit(hex[2 * i + 1]));
  }
  return out;
}

std::string_view bytes_of(const Sha256& hash) {
  return {reinterpret_cast<const char*>(hash.data()), hash.size()};
}

}  // namespace

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

Sha256 sha256(std::string_view data) {
  Sha256 out{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != out.size()) {
    throw std::runtime_error("SHA-256 is not available from OpenSSL");
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (const uint8_t byte : sha256(data)) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 15];
  }
  return hex;
}

BearerAuth::BearerAuth(std::string_view plain_token, const std::vector<config::ApiToken>& tokens) {
  if (!plain_token.empty()) {
    tokens_.push_back({config::kDefaultTokenName, config::TokenScope::write, sha256(plain_token)});
  }
  for (const config::ApiToken& token : tokens) {
    tokens_.push_back({token.name, token.scope, from_hex(token.sha256)});
  }
}

bool BearerAuth::identify(std::string_view authorization, Caller& caller) const {
  if (tokens_.empty()) {
    caller = Caller{};
    return true;
  }
  if (!has_bearer_scheme(authorization) || authorization.size() == kScheme.size()) return false;
  const Sha256 presented = sha256(authorization.substr(kScheme.size()));
  // Every configured hash is compared, so the time does not tell which matched.
  const Known* match = nullptr;
  for (const Known& known : tokens_) {
    if (constant_time_equal(bytes_of(presented), bytes_of(known.hash))) match = &known;
  }
  if (match == nullptr) return false;
  caller = Caller{match->name, match->scope};
  return true;
}

}  // namespace rotor::api
