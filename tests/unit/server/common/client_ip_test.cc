// The one sockaddr -> client address helper the responder and the rate limiter share.
#include "server/common/client_ip.h"

#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <sys/un.h>

#include <string>
#include <vector>

TEST_SUITE_BEGIN("unit/server/common/client_ip");

namespace rotor {
namespace {

sockaddr_storage v4(const char* text) {
  sockaddr_storage storage{};
  auto& in = reinterpret_cast<sockaddr_in&>(storage);
  in.sin_family = AF_INET;
  REQUIRE(inet_pton(AF_INET, text, &in.sin_addr) == 1);
  return storage;
}

sockaddr_storage v6(const char* text) {
  sockaddr_storage storage{};
  auto& in6 = reinterpret_cast<sockaddr_in6&>(storage);
  in6.sin6_family = AF_INET6;
  REQUIRE(inet_pton(AF_INET6, text, &in6.sin6_addr) == 1);
  return storage;
}

TEST_CASE("client_ip folds IPv4-mapped IPv6 to IPv4") {
  struct Case {
    const char* what;
    sockaddr_storage address;
    uint8_t family;
    std::vector<uint8_t> bytes;  // the first 4 or 16
  };
  const std::vector<Case> cases = {
      {"IPv4", v4("198.51.100.7"), 4, {198, 51, 100, 7}},
      {"IPv4-mapped IPv6", v6("::ffff:198.51.100.7"), 4, {198, 51, 100, 7}},
      {"IPv6", v6("2001:db8::1"), 6, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
      {"IPv4-compatible IPv6 stays IPv6", v6("::198.51.100.7"), 6,
       {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 198, 51, 100, 7}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const ClientIp ip = client_ip(reinterpret_cast<const sockaddr*>(&c.address));
    CHECK(ip.family == c.family);
    CHECK(std::vector<uint8_t>(ip.bytes, ip.bytes + c.bytes.size()) == c.bytes);
    if (c.family == 4) CHECK(std::vector<uint8_t>(ip.bytes + 4, ip.bytes + 16) == std::vector<uint8_t>(12, 0));
  }
}

TEST_CASE("client_ip of no address or another family is family 0") {
  CHECK(client_ip(nullptr).family == 0);
  sockaddr_un unix_address{};
  unix_address.sun_family = AF_UNIX;
  CHECK(client_ip(reinterpret_cast<const sockaddr*>(&unix_address)).family == 0);
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
