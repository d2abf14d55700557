#include "server/arrays/array.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

TEST_SUITE_BEGIN("unit/server/arrays/array");

namespace rotor::arrays {
namespace {

struct GoodAddress {
  std::string text;
  uint8_t family;
  std::vector<uint8_t> bytes;
  std::string canonical;
};

TEST_CASE("arrays/IpAddress parses addresses and prints them canonically") {
  const std::vector<GoodAddress> cases = {
      {"192.0.2.1", 4, {192, 0, 2, 1}, "192.0.2.1"},
      {"0.0.0.0", 4, {0, 0, 0, 0}, "0.0.0.0"},
      {"255.255.255.255", 4, {255, 255, 255, 255}, "255.255.255.255"},
      {"2001:db8::1",
       6,
       {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
       "2001:db8::1"},
      {"2001:DB8:0:0:0:0:0:1",
       6,
       {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
       "2001:db8::1"},
      {"::", 6, std::vector<uint8_t>(16, 0), "::"},
      {"::ffff:192.0.2.1",
       6,
       {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1},
       "::ffff:192.0.2.1"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const auto address = IpAddress::parse(c.text);
    REQUIRE(address.has_value());
    CHECK(address->family == c.family);
    CHECK(std::vector<uint8_t>(address->bytes, address->bytes + c.bytes.size()) == c.bytes);
    CHECK(address->to_string() == c.canonical);
    CHECK(IpAddress::parse(address->to_string()) == address);
  }
}

TEST_CASE("arrays/IpAddress rejects what is not exactly one address") {
  const std::vector<std::string> cases = {
      "",
      "192.0.2",
      "192.0.2.256",
      "192.0.2.1/24",
      " 192.0.2.1",
      "192.0.2.1 ",
      "192.0.2.01",
      "0x7f.0.0.1",
      "2001:db8::1::2",
      "2001:db8::g",
      "fe80::1%eth0",
      "[2001:db8::1]",
      "localhost",
      std::string("192.0.2.1\0", 10),
      std::string(60, '1'),
  };
  for (const auto& text : cases) {
    CAPTURE(text);
    CHECK_FALSE(IpAddress::parse(text).has_value());
  }
  CHECK(IpAddress{}.to_string().empty());
}

TEST_CASE("arrays/enums round-trip through their names") {
  for (auto value : {Policy::round_robin, Policy::weighted, Policy::geo, Policy::sticky}) {
    CHECK(policy_from_string(to_string(value)) == value);
  }
  for (auto value : {WhenAllDown::all, WhenAllDown::none}) {
    CHECK(when_all_down_from_string(to_string(value)) == value);
  }
  for (auto value : {AdminState::enabled, AdminState::draining, AdminState::disabled}) {
    CHECK(admin_state_from_string(to_string(value)) == value);
  }
  for (auto value : {Health::unknown, Health::up, Health::down}) {
    CHECK(health_from_string(to_string(value)) == value);
  }
  CHECK(to_string(Policy::round_robin) == "round_robin");
  CHECK(to_string(AdminState::draining) == "draining");
  CHECK_FALSE(policy_from_string("Round_Robin").has_value());
  CHECK_FALSE(policy_from_string("").has_value());
  CHECK_FALSE(when_all_down_from_string("some").has_value());
  CHECK_FALSE(admin_state_from_string("paused").has_value());
  CHECK_FALSE(health_from_string("sick").has_value());
}

}  // namespace
}  // namespace rotor::arrays

TEST_SUITE_END();
