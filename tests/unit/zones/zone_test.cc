// ZoneBuilder's per-record and zone-wide rules, and the name text helpers.
#include "zones/zone.h"

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace rotor::zones {
namespace {

constexpr uint16_t kA = 1, kNS = 2, kCNAME = 5, kSOA = 6, kMX = 15, kTXT = 16, kAAAA = 28,
                   kDNAME = 39, kRRSIG = 46, kNSEC = 47, kIN = 1;

std::string zone_wire(const std::string& text) {
  const auto name = name_from_text(text);
  REQUIRE(name.has_value());
  return *name;
}

// SOA RDATA: MNAME RNAME then SERIAL REFRESH RETRY EXPIRE MINIMUM.
std::string soa_rdata(uint32_t serial, uint32_t minimum) {
  std::string rdata = zone_wire("ns1.example.test.") + zone_wire("hostmaster.example.test.");
  for (const uint32_t v : {serial, 7200u, 3600u, 1209600u, minimum}) {
    for (int shift = 24; shift >= 0; shift -= 8) rdata += static_cast<char>((v >> shift) & 0xff);
  }
  return rdata;
}

std::string a_rdata(uint8_t last) { return std::string("\xc0\x00\x02", 3) + static_cast<char>(last); }

struct Record {
  std::string owner;  // presentation form
  uint16_t type;
  uint32_t ttl;
  std::string rdata;
};

// The records every valid test zone starts from.
std::vector<Record> minimal_zone(uint32_t soa_ttl = 3600, uint32_t minimum = 300) {
  return {{"example.test.", kSOA, soa_ttl, soa_rdata(2026112201, minimum)},
          {"example.test.", kNS, 3600, zone_wire("ns1.example.test.")}};
}

std::shared_ptr<const Zone> build(const std::vector<Record>& records, std::string& error,
                                  const std::string& origin = "example.test.") {
  ZoneBuilder builder(zone_wire(origin));
  for (const Record& r : records) {
    const auto add_error = builder.add(zone_wire(r.owner), r.type, kIN, r.ttl, r.rdata);
    REQUIRE_MESSAGE(!add_error, *add_error);
  }
  std::shared_ptr<const Zone> zone;
  error = builder.finish(zone).value_or("");
  return zone;
}

std::shared_ptr<const Zone> build(std::vector<Record> records) {
  std::string error;
  auto zone = build(records, error);
  REQUIRE_MESSAGE(zone != nullptr, error);
  return zone;
}

std::vector<Record> operator+(std::vector<Record> a, const std::vector<Record>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_SUITE("unit/zones/zone") {
  TEST_CASE("the SOA gives origin - serial and negative TTL") {
    struct Case {
      uint32_t soa_ttl, minimum, negative_ttl;
    };
    for (const Case c : {Case{3600, 300, 300}, Case{60, 300, 60}, Case{300, 300, 300}}) {
      CAPTURE(c.soa_ttl);
      CAPTURE(c.minimum);
      const auto zone = build(minimal_zone(c.soa_ttl, c.minimum));
      CHECK(zone->origin() == zone_wire("example.test."));
      CHECK(zone->origin_text() == "example.test.");
      CHECK(zone->serial() == 2026112201);
      CHECK(zone->negative_ttl() == c.negative_ttl);
      CHECK(&zone->apex() == zone->find(zone_wire("example.test.")));
      CHECK(zone->soa().type == kSOA);
    }
  }

  TEST_CASE("owners are lower-cased - RDATA keeps its case") {
    const auto zone = build(minimal_zone() + std::vector<Record>{
                                                 {"WWW.Example.TEST.", kCNAME, 60, zone_wire("Host.Example.NET.")}});
    const Node* node = zone->find(zone_wire("www.example.test."));
    REQUIRE(node != nullptr);
    CHECK(node->name == zone_wire("www.example.test."));
    CHECK(node->find(kCNAME)->rdatas.at(0) == zone_wire("Host.Example.NET."));
    CHECK(zone->find(zone_wire("WWW.example.test.")) == nullptr);  // callers hand in lower case
  }

  TEST_CASE("RRsets keep the first TTL - drop duplicates - sort by type") {
    const auto zone = build(minimal_zone() + std::vector<Record>{
                                                 {"www.example.test.", kTXT, 60, "\x01x"},
                                                 {"www.example.test.", kAAAA, 60, std::string(16, '\1')},
                                                 {"www.example.test.", kA, 300, a_rdata(1)},
                                                 {"www.example.test.", kA, 60, a_rdata(2)},
                                                 {"WWW.example.test.", kA, 600, a_rdata(1)},
                                                 {"www.example.test.", kMX, 60, std::string("\0\x0a", 2) + zone_wire("mail.example.test.")},
                                             });
    const Node* node = zone->find(zone_wire("www.example.test."));
    REQUIRE(node != nullptr);
    std::vector<uint16_t> types;
    for (const RRset& rrset : node->rrsets) types.push_back(rrset.type);
    CHECK(types == std::vector<uint16_t>{kA, kMX, kTXT, kAAAA});
    const RRset* a = node->find(kA);
    REQUIRE(a != nullptr);
    CHECK(a->ttl == 300);
    CHECK(a->rdatas == std::vector<std::string>{a_rdata(1), a_rdata(2)});
    CHECK(node->find(kNS) == nullptr);
    CHECK(zone->record_count() == 2 + 5);
  }

  TEST_CASE("empty non-terminals - delegations - glue and wildcards") {
    const auto zone = build(minimal_zone() + std::vector<Record>{
                                                 {"a.b.c.example.test.", kA, 60, a_rdata(1)},
                                                 {"child.example.test.", kNS, 60, zone_wire("ns.child.example.test.")},
                                                 {"ns.child.example.test.", kA, 60, a_rdata(2)},
                                                 {"deep.x.child.example.test.", kA, 60, a_rdata(3)},
                                                 {"*.wild.example.test.", kA, 60, a_rdata(4)},
                                                 {"*.example.test.", kTXT, 60, "\x01w"},
                                             });
    struct Expect {
      const char* name;
      bool exists, empty, delegation, below, wildcard_child;
    };
    const std::vector<Expect> table = {
        {"example.test.", true, false, false, false, true},
        {"c.example.test.", true, true, false, false, false},
        {"b.c.example.test.", true, true, false, false, false},
        {"a.b.c.example.test.", true, false, false, false, false},
        {"child.example.test.", true, false, true, false, false},
        {"ns.child.example.test.", true, false, false, true, false},
        {"x.child.example.test.", true, true, false, true, false},
        {"deep.x.child.example.test.", true, false, false, true, false},
        {"wild.example.test.", true, true, false, false, true},
        {"*.wild.example.test.", true, false, false, false, false},
        {"nothere.example.test.", false, false, false, false, false},
        {"test.", false, false, false, false, false},
    };
    for (const Expect& e : table) {
      const std::string name = e.name;
      CAPTURE(name);
      const Node* node = zone->find(zone_wire(e.name));
      REQUIRE((node != nullptr) == e.exists);
      if (node == nullptr) continue;
      CHECK(node->rrsets.empty() == e.empty);
      CHECK(node->is_delegation == e.delegation);
      CHECK(node->below_delegation == e.below);
      CHECK(node->has_wildcard_child == e.wildcard_child);
    }
    CHECK(zone->node_count() == 11);
  }

  TEST_CASE("DNSSEC records may sit beside a CNAME") {
    const auto zone = build(minimal_zone() + std::vector<Record>{
                                                 {"alias.example.test.", kCNAME, 60, zone_wire("www.example.test.")},
                                                 {"alias.example.test.", kRRSIG, 60, "sig"},
                                                 {"alias.example.test.", kNSEC, 60, "nsec"},
                                             });
    CHECK(zone->find(zone_wire("alias.example.test."))->rrsets.size() == 3);
  }

  TEST_CASE("add rejects data outside the zone and other classes") {
    ZoneBuilder builder(zone_wire("example.test."));
    struct Case {
      const char* owner;
      uint16_t rrclass;
      const char* error;  // empty: accepted
    };
    const std::vector<Case> cases = {
        {"example.test.", kIN, ""},
        {"a.b.EXAMPLE.test.", kIN, ""},
        {"example.org.", kIN, "out of zone: example.org. is not under example.test."},
        {"test.", kIN, "out of zone: test. is not under example.test."},
        {"badexample.test.", kIN, "out of zone: badexample.test. is not under example.test."},
        {".", kIN, "out of zone: . is not under example.test."},
        {"www.example.test.", 3, "class CH is not served, only IN"},
        {"www.example.test.", 255, "class ANY is not served, only IN"},
        {"www.example.test.", 42, "class CLASS42 is not served, only IN"},
    };
    for (const Case& c : cases) {
      const std::string owner = c.owner;
      CAPTURE(owner);
      const auto error = builder.add(zone_wire(c.owner), kA, c.rrclass, 60, a_rdata(1));
      CHECK(error.value_or("") == c.error);
    }
    CHECK(builder.add(std::string("\x05" "ab", 3), kA, kIN, 60, a_rdata(1)).value_or("") ==
          "malformed owner name");
  }

  TEST_CASE("finish rejects zones that break the zone-wide rules") {
    struct Case {
      const char* what;
      std::vector<Record> records;
      const char* error;
    };
    const Record soa = minimal_zone()[0];
    const Record ns = minimal_zone()[1];
    const std::vector<Case> cases = {
        {"empty", {}, "no SOA record at the apex example.test."},
        {"no SOA", {ns}, "no SOA record at the apex example.test."},
        {"SOA below the apex",
         {ns, {"sub.example.test.", kSOA, 60, soa_rdata(1, 1)}},
         "no SOA record at the apex example.test."},
        {"two SOA records", {soa, ns, {"example.test.", kSOA, 60, soa_rdata(2, 1)}}, "more than one SOA"},
        {"second SOA below the apex",
         {soa, ns, {"sub.example.test.", kSOA, 60, soa_rdata(2, 1)}},
         "more than one SOA"},
        {"no NS at the apex", {soa}, "no NS records at the apex example.test."},
        {"CNAME and A",
         {soa, ns, {"x.example.test.", kCNAME, 60, zone_wire("y.example.test.")}, {"x.example.test.", kA, 60, a_rdata(1)}},
         "CNAME and other data at x.example.test."},
        {"CNAME at the apex",
         {soa, ns, {"example.test.", kCNAME, 60, zone_wire("y.example.test.")}},
         "CNAME and other data at example.test."},
        {"two CNAMEs",
         {soa, ns, {"x.example.test.", kCNAME, 60, zone_wire("y.example.test.")}, {"x.example.test.", kCNAME, 60, zone_wire("z.example.test.")}},
         "more than one CNAME at x.example.test."},
        {"data below a DNAME",
         {soa, ns, {"d.example.test.", kDNAME, 60, zone_wire("example.net.")}, {"a.b.d.example.test.", kA, 60, a_rdata(1)}},
         "a.b.d.example.test. is below the DNAME at d.example.test."},
        {"data below an apex DNAME",
         {soa, ns, {"example.test.", kDNAME, 60, zone_wire("example.net.")}, {"a.example.test.", kA, 60, a_rdata(1)}},
         "a.example.test. is below the DNAME at example.test."},
    };
    for (const Case& c : cases) {
      const std::string what = c.what;
      CAPTURE(what);
      std::string error;
      CHECK(build(c.records, error) == nullptr);
      CHECK(error == c.error);
    }
  }

  TEST_CASE("a DNAME with data beside it but none below is fine") {
    const auto zone = build(minimal_zone() + std::vector<Record>{
                                                 {"d.example.test.", kDNAME, 60, zone_wire("example.net.")},
                                                 {"d.example.test.", kA, 60, a_rdata(1)},
                                             });
    CHECK(zone->find(zone_wire("d.example.test."))->find(kDNAME) != nullptr);
  }

  TEST_CASE("NameHash spreads names that differ in one byte") {
    const NameHash hash;
    CHECK(hash(zone_wire("a.example.test.")) != hash(zone_wire("b.example.test.")));
    CHECK(hash(zone_wire("www.example.test.")) != hash(zone_wire("www.example.tesu.")));
    CHECK(hash(std::string_view()) == hash(std::string_view()));
    CHECK(hash(zone_wire("www.example.test.")) == hash(zone_wire("www.example.test.")));
  }

  TEST_CASE("name_to_text and name_from_text") {
    struct Case {
      std::string text;
      std::string zone_wire;
      std::string round_trip;  // name_to_text(zone_wire)
    };
    const std::vector<Case> cases = {
        {".", std::string(1, '\0'), "."},
        {"example.test.", std::string("\x07" "example\x04test\x00", 14), "example.test."},
        {"example.test", std::string("\x07" "example\x04test\x00", 14), "example.test."},
        {"Ex.TEST.", std::string("\x02" "Ex\x04TEST\x00", 9), "Ex.TEST."},
        {"a\\.b.test.", std::string("\x03" "a.b\x04test\x00", 10), "a\\.b.test."},
        {"a\\032b.", std::string("\x03" "a b\x00", 5), "a\\032b."},
        {"\\000\\255.", std::string("\x02\x00\xff\x00", 4), "\\000\\255."},
        {"back\\\\slash.", std::string("\x0a" "back\\slash\x00", 12), "back\\\\slash."},
        {"\\a\\b.", std::string("\x02" "ab\x00", 4), "ab."},
        {"*.wild.", std::string("\x01*\x04wild\x00", 8), "*.wild."},
    };
    for (const Case& c : cases) {
      CAPTURE(c.text);
      const auto wire_name = name_from_text(c.text);
      REQUIRE(wire_name.has_value());
      CHECK(*wire_name == c.zone_wire);
      CHECK(name_to_text(*wire_name) == c.round_trip);
      CHECK(name_from_text(name_to_text(*wire_name)) == wire_name);
    }
  }

  TEST_CASE("name_from_text rejects malformed names") {
    const std::string label63(63, 'a');
    const std::string name255 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b') + ".";
    CHECK(name_from_text(label63 + ".test.").has_value());
    CHECK(name_from_text(name255).value().size() == 255);
    const std::vector<std::string> bad = {
        "",
        "a..b.",
        ".a.",
        "..",
        label63 + "a.test.",                    // label of 64
        label63 + "." + name255,                // over 255
        "a." + name255,                         // 257
        "trailing\\",                           // lone backslash
        "\\25.",                                // short decimal escape
        "\\256.",                               // above 255
        "\\2x5.",
    };
    for (const std::string& text : bad) {
      CAPTURE(text);
      CHECK_FALSE(name_from_text(text).has_value());
    }
  }
}

}  // namespace
}  // namespace rotor::zones
