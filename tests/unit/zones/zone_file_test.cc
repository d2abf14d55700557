// load_zone_file against the master files in tests/data/zones.
#include "zones/zone_file.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace rotor::zones {
namespace {

const std::string kDir = std::string(ROTOR_TEST_DATA) + "/zones/";

std::string zone_file_wire(const std::string& text) {
  const auto name = name_from_text(text);
  REQUIRE(name.has_value());
  return *name;
}

std::string u16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)) + u16(static_cast<uint16_t>(v)); }

struct Expect {
  const char* owner;
  uint16_t type;
  uint32_t ttl;
  std::vector<std::string> rdatas;
};

void check_rrset(const Zone& zone, const Expect& e) {
  const std::string owner = e.owner;
  CAPTURE(owner);
  CAPTURE(e.type);
  const Node* node = zone.find(zone_file_wire(e.owner));
  REQUIRE(node != nullptr);
  const RRset* rrset = node->find(e.type);
  REQUIRE(rrset != nullptr);
  CHECK(rrset->ttl == e.ttl);
  CHECK(rrset->rdatas == e.rdatas);
}

TEST_SUITE("unit/zones/zone_file") {
  TEST_CASE("a zone using most of the syntax loads as written") {
    // With and without the zone name: without, the SOA owner names the zone.
    for (const char* origin : {"example.test.", "Example.Test", ""}) {
      const std::string origin_text = origin;
      CAPTURE(origin_text);
      const auto zone = load_zone_file(kDir + "good.zone", origin);
      CHECK(zone->origin() == zone_file_wire("example.test."));
      CHECK(zone->serial() == 2026112201);
      CHECK(zone->negative_ttl() == 300);
      CHECK(zone->record_count() == 20);

      const std::string apex_ns1 = zone_file_wire("ns1.Example.TEST.");
      const std::vector<Expect> table = {
          {"example.test.", 6, 3600,
           {apex_ns1 + zone_file_wire("hostmaster.Example.TEST.") + u32(2026112201) + u32(7200) + u32(3600) +
            u32(1209600) + u32(300)}},
          {"example.test.", 2, 3600, {apex_ns1, zone_file_wire("ns2.example.net.")}},
          {"example.test.", 15, 3600, {u16(10) + zone_file_wire("Mail.Example.TEST.")}},
          {"ns1.example.test.", 1, 3600, {std::string("\xc0\x00\x02\x01", 4)}},
          // First TTL wins; the repeated 192.0.2.25 is dropped.
          {"mail.example.test.", 1, 300, {std::string("\xc0\x00\x02\x19", 4), std::string("\xc0\x00\x02\x1a", 4)}},
          {"mail.example.test.", 28, 3600,
           {std::string("\x20\x01\x0d\xb8", 4) + std::string(11, '\0') + "\x25"}},
          {"txt.example.test.", 16, 3600, {"\x0bhello world\x0dsecond string"}},
          {"_sip._udp.example.test.", 33, 3600,
           {u16(0) + u16(5) + u16(5060) + zone_file_wire("mail.Example.TEST.")}},
          {"caa.example.test.", 257, 3600, {std::string("\x00\x05", 2) + "issueca.example.net"}},
          {"unknown.example.test.", 65280, 3600, {std::string("\x0a\x00\x00\x01", 4)}},
          {"child.example.test.", 2, 3600, {zone_file_wire("ns.child.Example.TEST.")}},
          {"host.sub.example.test.", 1, 3600, {std::string("\xc0\x00\x02\x21", 4)}},
          // The same included file under the current origin and under a given one.
          {"inc.sub.example.test.", 16, 7200, {"\x08included"}},
          {"inc.other.example.test.", 16, 7200, {"\x08included"}},
      };
      for (const Expect& e : table) check_rrset(*zone, e);

      CHECK(zone->find(zone_file_wire("ent.example.test."))->rrsets.empty());
      CHECK(zone->find(zone_file_wire("b.ent.example.test."))->rrsets.empty());
      CHECK(zone->find(zone_file_wire("child.example.test."))->is_delegation);
      CHECK(zone->find(zone_file_wire("ns.child.example.test."))->below_delegation);
      CHECK(zone->find(zone_file_wire("deep.ns.child.example.test."))->below_delegation);
      CHECK(zone->find(zone_file_wire("wild.example.test."))->has_wildcard_child);
      CHECK_FALSE(zone->apex().has_wildcard_child);
    }
  }

  TEST_CASE("without $ORIGIN or $TTL the SOA owner is the origin - TTL 3600") {
    const auto zone = load_zone_file(kDir + "soa_first.zone", "");
    CHECK(zone->origin_text() == "example.test.");
    CHECK(zone->serial() == 7);
    check_rrset(*zone, {"example.test.", 2, 3600, {zone_file_wire("ns1.example.test.")}});
    check_rrset(*zone, {"ns1.example.test.", 1, 3600, {std::string("\xc0\x00\x02\x01", 4)}});
  }

  TEST_CASE("a relative $ORIGIN is relative to the one before") {
    const auto zone = load_zone_file(kDir + "relative_origin.zone", "example.test.");
    check_rrset(*zone, {"host.sub.example.test.", 1, 3600, {std::string("\xc0\x00\x02\x21", 4)}});
    check_rrset(*zone, {"b.a.sub.example.test.", 5, 3600, {zone_file_wire("host.sub.example.test.")}});
  }

  TEST_CASE("the query-path test zone loads") {
    const auto zone = load_zone_file(std::string(ROTOR_TEST_DATA) + "/query/example.test.zone", "example.test.");
    CHECK(zone->find(zone_file_wire("a.b.ent.example.test.")) != nullptr);
    CHECK(zone->find(zone_file_wire("big.example.test."))->find(16)->rdatas.size() == 40);
  }

  TEST_CASE("bad zones name the file - the line and the reason") {
    struct Case {
      const char* file;
      const char* origin;
      std::string error;  // after the directory
    };
    const std::vector<Case> cases = {
        {"syntax_error.zone", "example.test.", "syntax_error.zone:7: Syntax error, could not parse the RR's rdata"},
        {"missing_rdata.zone", "example.test.", "missing_rdata.zone:6: Syntax error, value expected"},
        {"out_of_zone.zone", "example.test.", "out_of_zone.zone:6: out of zone: www.example.org. is not under example.test."},
        {"good.zone", "other.test.", "good.zone:4: out of zone: example.test. is not under other.test."},
        {"class_ch.zone", "example.test.", "class_ch.zone:5: class CH is not served, only IN"},
        {"cname_and_other.zone", "example.test.", "cname_and_other.zone: CNAME and other data at alias.example.test."},
        {"below_dname.zone", "example.test.", "below_dname.zone: x.red.example.test. is below the DNAME at red.example.test."},
        {"no_soa.zone", "example.test.", "no_soa.zone: no SOA record at the apex example.test."},
        {"no_soa.zone", "", "no_soa.zone:3: no origin given and the first record is not a SOA"},
        {"first_not_soa.zone", "", "first_not_soa.zone:2: no origin given and the first record is not a SOA"},
        {"two_soa.zone", "example.test.", "two_soa.zone: more than one SOA"},
        {"no_ns.zone", "example.test.", "no_ns.zone: no NS records at the apex example.test."},
        {"bad_ttl.zone", "example.test.", "bad_ttl.zone:2: $TTL needs one value"},
        {"generate.zone", "example.test.", "generate.zone:3: unknown directive $GENERATE"},
        {"nonexistent.zone", "example.test.", "nonexistent.zone: cannot open: No such file or directory"},
        // A directory opens and fails at the first read (found by fuzzing: an $INCLUDE of one).
        {".", "example.test.", ".: cannot read: Is a directory"},
        {"include_missing.zone", "example.test.",
         "include_missing.zone:5: $INCLUDE " + kDir + "missing.inc: cannot open: No such file or directory"},
        {"include_loop.zone", "example.test.", "loop.inc:3: $INCLUDE " + kDir + "loop.inc: include loop"},
        {"include_broken.zone", "example.test.", "broken.inc:2: Syntax error, could not parse the RR's rdata"},
        {"good.zone", "bad..name", "good.zone: malformed zone name: bad..name"},
    };
    for (const Case& c : cases) {
      const std::string file = c.file, origin = c.origin;
      CAPTURE(file);
      CAPTURE(origin);
      try {
        load_zone_file(kDir + c.file, c.origin);
        FAIL("loaded");
      } catch (const ZoneFileError& e) {
        CHECK(std::string(e.what()) == kDir + c.error);
      }
    }
  }

  TEST_CASE("ZoneFileError keeps its parts") {
    const ZoneFileError with_line("a.zone", 7, "bad");
    CHECK(std::string(with_line.what()) == "a.zone:7: bad");
    CHECK(with_line.file == "a.zone");
    CHECK(with_line.line == 7);
    CHECK(with_line.reason == "bad");
    CHECK(std::string(ZoneFileError("a.zone", 0, "bad").what()) == "a.zone: bad");
  }
}

}  // namespace
}  // namespace rotor::zones
