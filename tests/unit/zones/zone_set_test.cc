// ZoneSet picks the longest origin that a name lies at or below.
#include "zones/zone_set.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace rotor::zones {
namespace {

std::string zone_set_wire(const std::string& text) {
  const auto name = name_from_text(text);
  REQUIRE(name.has_value());
  return *name;
}

std::string under(const std::string& label, const std::string& origin) {
  return origin == "." ? label + "." : label + "." + origin;
}

std::shared_ptr<const Zone> zone_at(const std::string& origin) {
  ZoneBuilder builder(zone_set_wire(origin));
  const std::string ns = zone_set_wire(under("ns", origin));
  const std::string soa = ns + zone_set_wire(under("hostmaster", origin)) + std::string(20, '\1');
  REQUIRE_FALSE(builder.add(zone_set_wire(origin), 6, 1, 3600, soa));
  REQUIRE_FALSE(builder.add(zone_set_wire(origin), 2, 1, 3600, ns));
  std::shared_ptr<const Zone> zone;
  const auto error = builder.finish(zone);
  REQUIRE_MESSAGE(!error, *error);
  return zone;
}

TEST_SUITE("unit/zones/zone_set") {
  TEST_CASE("longest matching origin wins") {
    ZoneSet set;
    CHECK(set.find_authoritative(zone_set_wire("www.example.test.")) == nullptr);
    for (const char* origin : {"example.test.", "sub.example.test.", "test2."}) {
      CHECK(set.add(zone_at(origin)));
    }
    CHECK_FALSE(set.add(zone_at("sub.example.test.")));
    CHECK_FALSE(set.add(nullptr));
    CHECK(set.zones().size() == 3);

    struct Case {
      const char* qname;
      const char* origin;  // empty: no zone
    };
    const std::vector<Case> cases = {
        {"example.test.", "example.test."},
        {"www.example.test.", "example.test."},
        {"a.b.c.example.test.", "example.test."},
        {"sub.example.test.", "sub.example.test."},
        {"www.sub.example.test.", "sub.example.test."},
        {"x.y.sub.example.test.", "sub.example.test."},
        {"subx.example.test.", "example.test."},
        {"xsub.example.test.", "example.test."},
        {"test.", ""},
        {"example.org.", ""},
        {".", ""},
        {"www.test2.", "test2."},
        {"test2.example.test.", "example.test."},
        {"a.very.long.name.with.many.labels.below.sub.example.test.", "sub.example.test."},
    };
    for (const Case& c : cases) {
      const std::string qname = c.qname;
      CAPTURE(qname);
      const Zone* zone = set.find_authoritative(zone_set_wire(c.qname));
      if (std::string(c.origin).empty()) {
        CHECK(zone == nullptr);
      } else {
        REQUIRE(zone != nullptr);
        CHECK(zone->origin_text() == c.origin);
      }
    }
  }

  TEST_CASE("a root zone catches everything else") {
    ZoneSet set;
    CHECK(set.add(zone_at(".")));
    CHECK(set.add(zone_at("example.test.")));
    CHECK(set.find_authoritative(zone_set_wire("www.example.test."))->origin_text() == "example.test.");
    CHECK(set.find_authoritative(zone_set_wire("example.org."))->origin_text() == ".");
    CHECK(set.find_authoritative(zone_set_wire("."))->origin_text() == ".");
  }

  TEST_CASE("malformed names find nothing and stay in bounds") {
    ZoneSet set;
    CHECK(set.add(zone_at("example.test.")));
    CHECK(set.find_authoritative(std::string_view()) == nullptr);
    CHECK(set.find_authoritative(std::string("\x09" "ab", 3)) == nullptr);
  }
}

}  // namespace
}  // namespace rotor::zones
