#include "server/registry/synthetic_zone.h"

#include <doctest/doctest.h>

#include <string>

#include "server/dns/wire.h"

namespace rotor::registry {
namespace {

std::string synthetic_wire(const char* text) { return *zones::name_from_text(text); }

SyntheticZoneSpec lb_zone() {
  return {
      "LB.Example.COM.",
      {{"ns1.lb.example.com.", {"192.0.2.53", "2001:db8::53"}}, {"ns.elsewhere.example.net.", {}}}};
}

TEST_SUITE("unit/server/registry/synthetic_zone") {
  TEST_CASE("a declared zone gets an SOA - NS and glue for in-zone name servers") {
    const auto zone = build_synthetic_zone(lb_zone(), 2026112201);
    REQUIRE(zone != nullptr);
    CHECK(zone->origin_text() == "lb.example.com.");
    CHECK(zone->serial() == 2026112201u);
    CHECK(zone->soa().ttl == 3600);
    CHECK(zone->negative_ttl() == 60);

    const std::string& soa = zone->soa().rdatas.at(0);
    const std::string mname = synthetic_wire("ns1.lb.example.com.");
    const std::string rname = synthetic_wire("hostmaster.lb.example.com.");
    CHECK(soa.substr(0, mname.size()) == mname);
    CHECK(soa.substr(mname.size(), rname.size()) == rname);
    const auto* fields = reinterpret_cast<const uint8_t*>(soa.data() + mname.size() + rname.size());
    CHECK(dns::read_u32(fields) == 2026112201u);
    CHECK(dns::read_u32(fields + 4) == 3600u);
    CHECK(dns::read_u32(fields + 8) == 600u);
    CHECK(dns::read_u32(fields + 12) == 604800u);
    CHECK(dns::read_u32(fields + 16) == 60u);

    const zones::RRset* ns = zone->apex().find(dns::type::NS);
    REQUIRE(ns != nullptr);
    CHECK(ns->ttl == 3600);
    CHECK(ns->rdatas ==
          std::vector<std::string>{synthetic_wire("ns1.lb.example.com."), synthetic_wire("ns.elsewhere.example.net.")});

    const zones::Node* ns1 = zone->find(synthetic_wire("ns1.lb.example.com."));
    REQUIRE(ns1 != nullptr);
    REQUIRE(ns1->find(dns::type::A) != nullptr);
    CHECK(ns1->find(dns::type::A)->rdatas.at(0) == std::string("\xc0\x00\x02\x35", 4));
    REQUIRE(ns1->find(dns::type::AAAA) != nullptr);
    CHECK(ns1->find(dns::type::AAAA)->rdatas.at(0).size() == 16);
    CHECK(zone->record_count() == 5);  // SOA, 2 NS, A, AAAA: no glue for the outside server
  }

  TEST_CASE("bad declarations are refused with the zone's name") {
    struct Case {
      const char* name;
      SyntheticZoneSpec spec;
      const char* error;
    };
    const Case cases[] = {
        {"no name servers", {"lb.example.com.", {}}, "zone lb.example.com.: no name servers"},
        {"in-zone server without address",
         {"lb.example.com.", {{"ns1.lb.example.com.", {}}}},
         "zone lb.example.com.: name server ns1.lb.example.com. is inside the zone and needs an "
         "address"},
        {"bad address",
         {"lb.example.com.", {{"ns1.lb.example.com.", {"192.0.2.300"}}}},
         "zone lb.example.com.: name server ns1.lb.example.com. address '192.0.2.300' is not an IP "
         "address"},
        {"bad zone name",
         {"lb..example.com.", {{"ns.example.net.", {}}}},
         "zone lb..example.com.: name 'lb..example.com.' is not a valid name"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      CHECK_THROWS_WITH_AS(build_synthetic_zone(c.spec, 1), c.error, SyntheticZoneError);
    }
  }

}  // TEST_SUITE

}  // namespace
}  // namespace rotor::registry
