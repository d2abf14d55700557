#include "server/registry/name_conflict.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "tests/unit/server/query/compact_zone.h"
#include "zones/zone_file.h"

namespace rotor::registry {
namespace {

TEST_SUITE_BEGIN("unit/server/registry/name_conflict");

TEST_CASE("zone data where an array would answer") {
  const auto zone = zones::load_zone_file(
      std::string(ROTOR_TEST_DATA) + "/arrays/conflicts.example.test.zone", "conflicts.example.test.");
  struct Case {
    const char* name;
    std::optional<std::string> conflict;
  };
  const Case cases[] = {
      {"alias.conflicts.example.test.",
       "alias.conflicts.example.test. has a CNAME in zone conflicts.example.test."},
      {"static4.conflicts.example.test.",
       "static4.conflicts.example.test. has static A records in zone conflicts.example.test."},
      {"static6.conflicts.example.test.",
       "static6.conflicts.example.test. has static AAAA records in zone conflicts.example.test."},
      {"ns1.conflicts.example.test.",
       "ns1.conflicts.example.test. has static A records in zone conflicts.example.test."},
      {"a.old.conflicts.example.test.",
       "a.old.conflicts.example.test. is below the DNAME at old.conflicts.example.test. in zone "
       "conflicts.example.test."},
      // Allowed: the apex (SOA, NS and MX stay the zone's), a name with other
      // types only, the DNAME's own name, and a name the zone does not have.
      {"conflicts.example.test.", std::nullopt},
      {"mailbox.conflicts.example.test.", std::nullopt},
      {"old.conflicts.example.test.", std::nullopt},
      {"web.conflicts.example.test.", std::nullopt},
      {"deep.web.conflicts.example.test.", std::nullopt},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CHECK(array_name_conflict(*zone, *zones::name_from_text(c.name)) == c.conflict);
  }
}

TEST_CASE("a signed zone refuses arrays - an unsigned one does not") {
  const auto signed_zone = zones::load_zone_file(
      std::string(ROTOR_TEST_DATA) + "/query/signed-nsec.zone", "nsec.signed.test.");
  CHECK(array_signing_error(*signed_zone, *zones::name_from_text("web.nsec.signed.test.")) ==
        "web.nsec.signed.test. is in zone nsec.signed.test., which is signed by its zone file "
        "(DNSSEC signatures, no dnssec.keys): rotor signs array answers only in zones it signs "
        "itself, so arrays cannot be in a pre-signed zone");
  const auto plain = zones::load_zone_file(
      std::string(ROTOR_TEST_DATA) + "/arrays/conflicts.example.test.zone", "conflicts.example.test.");
  CHECK(array_signing_error(*plain, *zones::name_from_text("web.conflicts.example.test.")) ==
        std::nullopt);
}

TEST_CASE("in a zone rotor signs no array below the zero child its wildcard parent's NSEC denies") {
  // wild has a wildcard child and nothing at "\000.wild": its NSEC, signed
  // with the zone, runs to "\000\000.wild" and denies every name at or
  // below "\000.wild" (zones/dnssec.h). edge has "\000.edge" itself.
  const test::SignedZone signed_zone = test::make_compact_zone(
      "*.wild 300 IN TXT \"w\"\n*.edge 300 IN TXT \"e\"\n\\000.edge 300 IN TXT \"zero\"\n");
  const zones::Zone& zone = *signed_zone.snapshot->zones.find_authoritative(*zones::name_from_text("compact.test."));
  struct Case {
    const char* name;
    std::optional<std::string> conflict;
  };
  const Case cases[] = {
      {"\\000.wild.compact.test.",
       "\\000.wild.compact.test. is at or below \\000.wild.compact.test., which the NSEC of "
       "wild.compact.test. (a wildcard's parent) denies in zone compact.test."},
      {"web.\\000.wild.compact.test.",
       "web.\\000.wild.compact.test. is at or below \\000.wild.compact.test., which the NSEC of "
       "wild.compact.test. (a wildcard's parent) denies in zone compact.test."},
      {"web.x.wild.compact.test.", std::nullopt},
      {"wild.compact.test.", std::nullopt},
      {"\\000.edge.compact.test.", std::nullopt},
      {"web.\\000.www.compact.test.", std::nullopt},  // www has no wildcard child
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CHECK(array_name_conflict(zone, *zones::name_from_text(c.name)) == c.conflict);
  }
  // Without signatures there is no NSEC to deny it.
  const auto plain =
      zones::load_zone_file(std::string(ROTOR_TEST_DATA) + "/query/example.test.zone", "example.test.");
  CHECK(array_name_conflict(*plain, *zones::name_from_text("web.\\000.wild.example.test.")) == std::nullopt);
}

TEST_SUITE_END();

}  // namespace
}  // namespace rotor::registry
