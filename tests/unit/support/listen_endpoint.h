#pragma once
// A worker pool's listen endpoint from text ("127.0.0.1:0", "[::1]:0") for
// the unit tests that start pools. Errors: bad text throws
// std::runtime_error with the parser's message. Thread-safe (no state).

#include <stdexcept>
#include <string>

#include "server/net/worker_pool.h"

namespace rotor::test {

inline net::ListenEndpoint listen_endpoint(const std::string& text) {
  net::ListenEndpoint parsed;
  std::string error;
  if (!net::parse_endpoint(text, parsed, error)) throw std::runtime_error(error);
  return parsed;
}

}  // namespace rotor::test
