#include "server/geo/geo.h"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

TEST_SUITE_BEGIN("unit/server/geo/geo");

namespace rotor::geo {
namespace {

ClientAddress address(const std::string& text, uint8_t prefix) {
  const auto parsed = *IpAddress::parse(text);
  ClientAddress out;
  out.family = parsed.family;
  std::copy(parsed.bytes, parsed.bytes + 16, out.bytes);
  out.prefix = prefix;
  return out;
}

std::shared_ptr<const RegionTable> world() {
  return RegionTable::build({
      {"fra", 50.1, 8.7, {"ams", "nyc"}},
      {"ams", 52.4, 4.9, {}},
      {"nyc", 40.7, -74.0, {}},
      {"tyo", 35.7, 139.7, {}},
      {"lon", 51.5, -0.1, {}},
      {"lab", std::nullopt, std::nullopt, {"mars"}},  // "mars" appears only here
  });
}

TEST_CASE("geo/region ids follow the specs - then labels first named in prefer") {
  const auto regions = world();
  const std::vector<std::string> names = {"fra", "ams", "nyc", "tyo", "lon", "lab", "mars"};
  REQUIRE(regions->size() == names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    CHECK(regions->id(names[i]) == i);
    CHECK(regions->name(static_cast<uint16_t>(i)) == names[i]);
  }
  CHECK(regions->id("FRA") == kNoRegion);
  CHECK(regions->id("") == kNoRegion);
  CHECK_THROWS_AS(regions->name(99), std::out_of_range);

  const auto more = regions->with_label("syd")->with_label("fra")->with_label("gru");
  CHECK(more->size() == names.size() + 2);
  CHECK(more->id("syd") == names.size());
  CHECK(more->id("gru") == names.size() + 1);
  CHECK(more->id("tyo") == regions->id("tyo"));
  CHECK(regions->id("syd") == kNoRegion);  // the original is untouched
  CHECK(more->rank(more->id("fra"), more->id("nyc")) == regions->rank(0, 2));
}

TEST_CASE("geo/region specs are checked") {
  struct Case {
    std::vector<RegionSpec> specs;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{{"eu", 1, 2, {}}, {"eu", 3, 4, {}}}, "duplicate region \"eu\""},
      {{{"", 1, 2, {}}}, "empty region name"},
      {{{"eu", 1, 2, {""}}}, "empty region name in prefer"},
  };
  for (const auto& c : cases) {
    CHECK_THROWS_WITH_AS(RegionTable::build(c.specs), c.error.c_str(), std::invalid_argument);
  }
  CHECK(RegionTable::build({})->size() == 0);
}

TEST_CASE("geo/rank: same region - then preferences - then distance - then the rest") {
  const auto regions = world();
  auto rank = [&](const char* from, const char* to) {
    return regions->rank(regions->id(from), regions->id(to));
  };
  // fra prefers ams then nyc; then by distance: lon (~640 km), tyo (~9300 km).
  CHECK(rank("fra", "fra") == 0);
  CHECK(rank("fra", "ams") == 1);
  CHECK(rank("fra", "nyc") == 2);
  CHECK(rank("fra", "lon") == 3);
  CHECK(rank("fra", "tyo") == 4);
  CHECK(rank("fra", "lab") > 4);
  CHECK(rank("fra", "lab") == rank("fra", "mars"));  // unranked share a tier
  // ams: no preferences, distance only: lon 360, fra 360ish, nyc 5860, tyo 9300.
  CHECK(rank("ams", "ams") == 0);
  CHECK(rank("ams", "lon") < rank("ams", "nyc"));
  CHECK(rank("ams", "fra") < rank("ams", "nyc"));
  CHECK(rank("ams", "nyc") < rank("ams", "tyo"));
  // lab has no position: its preference, then nothing is nearer than anything else.
  CHECK(rank("lab", "mars") == 1);
  CHECK(rank("lab", "fra") == rank("lab", "tyo"));
  CHECK(rank("lab", "fra") > 1);
  // An unknown client region: everything ties.
  CHECK(regions->rank(kNoRegion, 0) == regions->rank(kNoRegion, 3));
  CHECK(regions->rank(0, kNoRegion) == rank("fra", "lab"));
}

TEST_CASE("geo/equally distant regions share a rank") {
  const auto regions = RegionTable::build(
      {{"here", 0, 0, {}}, {"east", 0, 10, {}}, {"west", 0, -10, {}}, {"far", 0, 50, {}}});
  CHECK(regions->rank(0, 1) == regions->rank(0, 2));
  CHECK(regions->rank(0, 1) < regions->rank(0, 3));
}

TEST_CASE("geo/nearest region by great-circle distance") {
  const auto regions = world();
  struct Case {
    double lat, lon;
    const char* region;
  };
  const std::vector<Case> cases = {
      {48.1, 11.6, "fra"},    // Munich
      {53.6, 10.0, "ams"},    // Hamburg
      {42.4, -71.1, "nyc"},   // Boston
      {34.7, 135.5, "tyo"},   // Osaka
      {64.1, -21.9, "lon"},   // Reykjavik
      {21.3, -157.9, "tyo"},  // Honolulu: across the date line, not around the globe
  };
  for (const auto& c : cases) {
    CAPTURE(c.region);
    CHECK(regions->nearest(c.lat, c.lon) == regions->id(c.region));
  }
  CHECK(RegionTable::build({{"lab", std::nullopt, std::nullopt, {}}})->nearest(0, 0) ==
        kNoRegion);
}

TEST_CASE("geo/networks: longest prefix within the client's significant bits") {
  const auto regions = world();
  const auto networks = NetworkTable::build({{"10.0.0.0/8", "nyc"},
                                             {"10.1.0.0/16", "fra"},
                                             {"10.1.2.0/28", "tyo"},
                                             {"0.0.0.0/0", "lab"},
                                             {"2001:db8::/32", "ams"},
                                             {"2001:db8:ab00::/40", "lon"},
                                             {"2001:db8:abcd::/48", "tyo"}},
                                            *regions);
  struct Case {
    ClientAddress client;
    const char* region;  // nullptr: no match
    uint8_t prefix;
  };
  const std::vector<Case> cases = {
      {address("10.1.2.3", 32), "tyo", 28},
      {address("10.1.2.0", 24), "fra", 24},  // the /28 is longer than the ECS /24: scope /24 only
      {address("10.1.2.0", 28), "tyo", 28},
      {address("10.1.200.9", 32), "fra", 16},
      {address("10.200.0.1", 32), "nyc", 8},
      {address("10.1.2.3", 7), "lab", 7},
      {address("192.0.2.1", 32), "lab", 0},
      {address("2001:db8:abcd:1::1", 128), "tyo", 48},
      {address("2001:db8:abcd::", 44), "lon", 44},
      {address("2001:db8:ffff::1", 128), "ams", 32},
      {address("2001:db9::1", 128), nullptr, 48},     // a miss, checked up to /48
      {address("::ffff:10.1.2.3", 128), "tyo", 124},  // IPv4-mapped: an IPv4 client
      {ClientAddress{}, nullptr, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(int(c.client.prefix));
    const auto match = networks->lookup(c.client);
    CHECK(match.region == (c.region != nullptr ? regions->id(c.region) : kNoRegion));
    CHECK(match.prefix == c.prefix);
  }
}

TEST_CASE("geo/bad networks are refused with the reason") {
  const auto regions = world();
  struct Case {
    NetworkSpec spec;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"10.0.0.0", "fra"}, "bad CIDR \"10.0.0.0\" (missing /length)"},
      {{"10.0.0/8", "fra"}, "bad CIDR \"10.0.0/8\""},
      {{"10.0.0.0/", "fra"}, "bad CIDR \"10.0.0.0/\""},
      {{"10.0.0.0/x", "fra"}, "bad CIDR \"10.0.0.0/x\""},
      {{"10.0.0.0/-1", "fra"}, "bad CIDR \"10.0.0.0/-1\""},
      {{"10.0.0.0/0008", "fra"}, "bad CIDR \"10.0.0.0/0008\""},
      {{"10.0.0.0/33", "fra"}, "bad CIDR \"10.0.0.0/33\" (prefix length too long)"},
      {{"2001:db8::/129", "fra"}, "bad CIDR \"2001:db8::/129\" (prefix length too long)"},
      {{"10.1.0.0/8", "fra"}, "bad CIDR \"10.1.0.0/8\" (address has bits set past the prefix)"},
      {{"2001:db8::1/64", "fra"},
       "bad CIDR \"2001:db8::1/64\" (address has bits set past the prefix)"},
      {{"example.com/8", "fra"}, "bad CIDR \"example.com/8\""},
      {{"10.0.0.0/8", "atlantis"}, "unknown region \"atlantis\""},
  };
  for (const auto& c : cases) {
    CHECK_THROWS_WITH_AS(NetworkTable::build({c.spec}, *regions), c.error.c_str(),
                         std::invalid_argument);
  }
  CHECK_THROWS_WITH_AS(
      NetworkTable::build({{"10.0.0.0/8", "fra"}, {"10.0.0.0/8", "nyc"}}, *regions),
      "duplicate network \"10.0.0.0/8\"", std::invalid_argument);
  // The same bits in the other family are another network.
  CHECK_NOTHROW(NetworkTable::build({{"0.0.0.0/0", "fra"}, {"::/0", "nyc"}}, *regions));
}

TEST_CASE("geo/locate: networks table - and the scope of a miss") {
  const auto regions = world();
  GeoContext geo{regions,
                 NetworkTable::build({{"10.0.0.0/8", "nyc"}, {"10.1.2.0/28", "tyo"}}, *regions),
                 nullptr};
  struct Case {
    ClientAddress client;
    uint16_t region;
    uint8_t scope;
  };
  const std::vector<Case> cases = {
      {address("10.1.2.1", 32), regions->id("tyo"), 28},
      {address("10.1.2.9", 32), regions->id("tyo"), 28},
      {address("10.1.3.1", 32), regions->id("nyc"), 8},
      {address("192.0.2.1", 32), kNoRegion, 28},
      // Sources shorter than the /28: the answer holds for the source's prefix
      // only (10.1.2.0/24 holds the tyo /28; a scope of 8 would hand nyc to it).
      {address("10.1.2.0", 24), regions->id("nyc"), 24},
      {address("10.0.0.0", 8), regions->id("nyc"), 8},
      {address("192.0.2.0", 24), kNoRegion, 24},
      {address("192.0.2.0", 4), kNoRegion, 4},
      {address("2001:db8::", 56), kNoRegion, 0},
      {ClientAddress{}, kNoRegion, 0},
  };
  for (const auto& c : cases) {
    const auto location = geo.locate(c.client);
    CHECK(location.region == c.region);
    CHECK(location.scope == c.scope);
  }
  CHECK(GeoContext{}.locate(address("10.1.2.1", 32)).region == kNoRegion);
}

}  // namespace
}  // namespace rotor::geo

TEST_SUITE_END();
