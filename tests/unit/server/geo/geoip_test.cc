#include "server/geo/geoip.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "tests/unit/support/allocation_counter.h"

TEST_SUITE_BEGIN("unit/server/geo/geoip");

namespace rotor::geo {
namespace {

const std::string kDatabase = std::string(ROTOR_TEST_DATA) + "/geo/test-city.mmdb";

ClientAddress geoip_address(const std::string& text, uint8_t prefix) {
  const auto parsed = *IpAddress::parse(text);
  ClientAddress out;
  out.family = parsed.family;
  std::copy(parsed.bytes, parsed.bytes + 16, out.bytes);
  out.prefix = prefix;
  return out;
}

TEST_CASE("geo/GeoIpDatabase finds coordinates and the network's prefix") {
  const GeoIpDatabase database(kDatabase);
  CHECK(database.path() == kDatabase);
  struct Case {
    ClientAddress client;
    bool found;
    double latitude, longitude;
    uint8_t prefix;
  };
  const std::vector<Case> cases = {
      {geoip_address("198.51.100.1", 32), true, 50.11, 8.68, 24},
      {geoip_address("203.0.113.127", 32), true, 35.68, 139.69, 25},
      {geoip_address("203.0.113.128", 32), false, 0, 0, 0},  // past the /25
      {geoip_address("2001:db8:100:1::1", 128), true, 40.71, -74.01, 48},
      {geoip_address("2001:db8:2ff::1", 128), true, 35.68, 139.69, 40},
      {geoip_address("192.0.2.1", 32), false, 0, 0, 0},         // a record without a location
      {geoip_address("2001:db8:300::1", 128), false, 0, 0, 0},  // not in the database
      {ClientAddress{}, false, 0, 0, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(int(c.client.family));
    CAPTURE(int(c.client.bytes[0]));
    const auto found = database.lookup(c.client);
    REQUIRE(found.has_value() == c.found);
    if (!found) continue;
    CHECK(found->latitude == doctest::Approx(c.latitude));
    CHECK(found->longitude == doctest::Approx(c.longitude));
    CHECK(found->prefix == c.prefix);
  }
}

TEST_CASE("geo/GeoIpDatabase lookups do not allocate") {
  const GeoIpDatabase database(kDatabase);
  const auto client = geoip_address("198.51.100.1", 32);
  int found = 0;
  rotor::test::AllocationCounter counter;
  for (int i = 0; i < 100; ++i) found += database.lookup(client).has_value();
  CHECK(counter.allocations() == 0);
  CHECK(found == 100);
}

TEST_CASE("geo/GeoIpDatabase refuses what it cannot open - naming the file") {
  struct Case {
    std::string path;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {std::string(ROTOR_TEST_DATA) + "/geo/missing.mmdb",
       "Error opening the specified MaxMind DB file"},
      {std::string(ROTOR_TEST_DATA) + "/geo/make_test_mmdb.pl",
       "The MaxMind DB file contains invalid metadata"},
  };
  for (const auto& c : cases) {
    const std::string expected = "cannot open GeoIP database \"" + c.path + "\": " + c.reason;
    CHECK_THROWS_WITH_AS(GeoIpDatabase{c.path}, expected.c_str(), std::runtime_error);
  }
}

}  // namespace
}  // namespace rotor::geo

TEST_SUITE_END();
