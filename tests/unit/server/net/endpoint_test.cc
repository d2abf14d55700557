#include <doctest/doctest.h>

#include <string>

#include "server/net/socket.h"
#include "server/net/worker_pool.h"

TEST_SUITE_BEGIN("unit/server/net/endpoint");

namespace {

using rotor::net::ListenEndpoint;
using rotor::net::parse_endpoint;

TEST_CASE("parse_endpoint accepts numeric v4 and bracketed v6 addresses") {
  struct Case {
    std::string text;
    std::string canonical;
    int family;
    uint16_t port;
  };
  const Case cases[] = {
      {"127.0.0.1:53", "127.0.0.1:53", AF_INET, 53},
      {"0.0.0.0:5353", "0.0.0.0:5353", AF_INET, 5353},
      {"127.0.0.1:0", "127.0.0.1:0", AF_INET, 0},
      {"[::1]:5353", "[::1]:5353", AF_INET6, 5353},
      {"[::]:65535", "[::]:65535", AF_INET6, 65535},
      {"[2001:DB8::0:1]:53", "[2001:db8::1]:53", AF_INET6, 53},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    ListenEndpoint endpoint;
    std::string error;
    REQUIRE(parse_endpoint(c.text, endpoint, error));
    CHECK(endpoint.text == c.canonical);
    CHECK(endpoint.address.ss_family == c.family);
    CHECK(rotor::net::address_port(endpoint.address) == c.port);
  }
}

TEST_CASE("parse_endpoint rejects bad input with a reason") {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"", "missing port in \"\""},
      {"127.0.0.1", "missing port in \"127.0.0.1\""},
      {"127.0.0.1:", "missing port in \"127.0.0.1:\""},
      {"[::1]", "missing port in \"[::1]\""},
      {"[::1]:", "missing port in \"[::1]:\""},
      {"x:53", "bad address \"x\""},
      {"localhost:53", "bad address \"localhost\""},
      {":53", "bad address \"\""},
      {"256.0.0.1:53", "bad address \"256.0.0.1\""},
      {"[127.0.0.1]:53", "bad address \"127.0.0.1\""},
      {"[::1:53", "bad address \"[::1:53\": missing \"]\""},
      {"[::1]x53", "bad address \"[::1]x53\""},
      {"::1:53", "bad address \"::1:53\": write IPv6 addresses as \"[ADDR]:PORT\""},
      {"127.0.0.1:65536", "bad port \"65536\" in \"127.0.0.1:65536\""},
      {"127.0.0.1:-1", "bad port \"-1\" in \"127.0.0.1:-1\""},
      {"127.0.0.1:53x", "bad port \"53x\" in \"127.0.0.1:53x\""},
      {"[::1]:http", "bad port \"http\" in \"[::1]:http\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    ListenEndpoint endpoint;
    std::string error;
    CHECK_FALSE(parse_endpoint(c.text, endpoint, error));
    CHECK(error == c.error);
  }
}

}  // namespace

TEST_SUITE_END();
