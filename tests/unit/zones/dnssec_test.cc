// zones/dnssec: canonical order (RFC 4034 6.1), the NSEC3 hash (RFC 5155
// appendix A) and what a pre-signed zone's build works out.
#include "zones/dnssec.h"

#include <doctest/doctest.h>
// stdbool.h first: it keeps ldns/common.h from #defining true and false.
#include <stdbool.h>
#include <ldns/ldns.h>

#include <cstring>
#include <string>
#include <vector>

#include "server/dns/wire.h"
#include "zones/zone.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/zones/dnssec");

namespace rotor::zones {
namespace {

std::string wire(const char* text) { return *lower_name_from_text(text); }

TEST_CASE("names sort in RFC 4034 canonical order") {
  // RFC 4034 6.1's example, lower-cased as zones store names.
  const std::vector<std::string> ordered = {
      wire("example."),       wire("a.example."),      wire("yljkjljk.a.example."),
      wire("z.a.example."),   wire("zabc.a.example."), wire("z.example."),
      wire("\\001.z.example."), wire("*.z.example."),  wire("\\200.z.example."),
  };
  for (size_t i = 0; i < ordered.size(); ++i) {
    CAPTURE(i);
    CHECK(canonical_compare(ordered[i], ordered[i]) == 0);
    for (size_t j = i + 1; j < ordered.size(); ++j) {
      CHECK(canonical_compare(ordered[i], ordered[j]) < 0);
      CHECK(canonical_compare(ordered[j], ordered[i]) > 0);
    }
  }
}

TEST_CASE("the NSEC3 hash matches RFC 5155 appendix A") {
  Nsec3Params params;
  params.iterations = 12;
  params.salt_size = 4;
  const uint8_t salt[] = {0xaa, 0xbb, 0xcc, 0xdd};
  std::memcpy(params.salt, salt, sizeof salt);
  struct Case {
    const char* name;
    const char* hash;
  };
  const Case cases[] = {
      {"example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"},
      {"a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"},
      {"*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    uint8_t hash[kNsec3HashSize];
    nsec3_hash(wire(c.name), params, hash);
    char text[40] = {};
    REQUIRE(ldns_b32_ntop_extended_hex(hash, sizeof hash, text, sizeof text) == 32);
    CHECK(std::string(text) == c.hash);
  }
}

TEST_CASE("a pre-signed zone knows its signatures and denial chains") {
  const std::string data = std::string(ROTOR_TEST_DATA) + "/query/";
  const auto nsec = load_zone_file(data + "signed-nsec.zone", "nsec.signed.test.");
  CHECK(nsec->is_signed());
  CHECK(nsec->denial() == Zone::Denial::nsec);
  const Node* www = nsec->find(wire("www.nsec.signed.test."));
  REQUIRE(www != nullptr);
  CHECK(www->find(dns::type::A)->signatures.size() == 1);
  CHECK(www->find(dns::type::NSEC)->signature_ttl == 300);
  // An empty non-terminal's NSEC is the one before it; a missing name's too.
  CHECK(nsec->covering_nsec(wire("b.ent.nsec.signed.test.")) == nsec->find(wire("dangling.nsec.signed.test.")));
  CHECK(nsec->covering_nsec(wire("nothere.nsec.signed.test.")) == nsec->find(wire("mail.nsec.signed.test.")));

  const auto nsec3 = load_zone_file(data + "signed-nsec3.zone", "nsec3.signed.test.");
  CHECK(nsec3->denial() == Zone::Denial::nsec3);
  CHECK(nsec3->apex().nsec3_exact);
  CHECK(nsec3->apex().nsec3->find(dns::type::NSEC3) != nullptr);
  // Hashed owners are not names of the zone.
  CHECK(nsec3->find(nsec3->apex().nsec3->name) == nullptr);
  bool exact = true;
  CHECK(nsec3->nsec3_cover(wire("nothere.nsec3.signed.test."), exact) != nullptr);
  CHECK_FALSE(exact);

  const auto plain = load_zone_file(std::string(ROTOR_TEST_DATA) + "/query/example.test.zone", "example.test.");
  CHECK_FALSE(plain->is_signed());
  CHECK(plain->denial() == Zone::Denial::none);
}

}  // namespace
}  // namespace rotor::zones

TEST_SUITE_END();
