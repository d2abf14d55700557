// IpAddress::to_string writes IPv4 by hand (not through inet_ntop, whose
// sprintf the prober paid on every check): the text must stay exactly
// inet_ntop's, and parse() must read it back.
#include "server/common/ip_address.h"

#include <doctest/doctest.h>
#include <arpa/inet.h>

#include <cstdint>
#include <string>

TEST_SUITE_BEGIN("unit/server/common/ip_address");

namespace rotor {
namespace {

std::string ntop_text(const IpAddress& address) {
  char buffer[INET6_ADDRSTRLEN];
  REQUIRE(inet_ntop(address.family == 4 ? AF_INET : AF_INET6, address.bytes, buffer, sizeof buffer) != nullptr);
  return buffer;
}

IpAddress ipv4_of(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress address;
  address.family = 4;
  address.bytes[0] = a;
  address.bytes[1] = b;
  address.bytes[2] = c;
  address.bytes[3] = d;
  return address;
}

}  // namespace

TEST_CASE("IPv4 text is inet_ntop's for every octet value in every position") {
  for (unsigned value = 0; value < 256; ++value) {
    const auto octet = static_cast<uint8_t>(value);
    for (const IpAddress& address : {ipv4_of(octet, 0, 9, 255), ipv4_of(10, octet, 100, 1),
                                     ipv4_of(255, 99, octet, 0), ipv4_of(1, 200, 20, octet)}) {
      const std::string text = address.to_string();
      CHECK(text == ntop_text(address));
      const auto parsed = IpAddress::parse(text);
      REQUIRE(parsed.has_value());
      CHECK(*parsed == address);
    }
  }
  CHECK(ipv4_of(0, 0, 0, 0).to_string() == "0.0.0.0");
  CHECK(ipv4_of(255, 255, 255, 255).to_string() == "255.255.255.255");
  CHECK(ipv4_of(192, 0, 2, 10).to_string() == "192.0.2.10");
}

TEST_CASE("IPv6 text is unchanged and an address of no family has none") {
  const auto v6 = IpAddress::parse("2001:db8::1");
  REQUIRE(v6.has_value());
  CHECK(v6->to_string() == "2001:db8::1");
  CHECK(v6->to_string() == ntop_text(*v6));
  CHECK(IpAddress{}.to_string().empty());
}

}  // namespace rotor

TEST_SUITE_END();
