// zones/dnssec: canonical order (RFC 4034 6.1), the NSEC3 hash (RFC 5155
// appendix A), what a pre-signed zone's build works out, and the compact
// NSEC builder (its bitmaps as ldns makes them; no NSEC for a name too long
// for "\000.<name>").
#include "zones/dnssec.h"

#include <doctest/doctest.h>
// stdbool.h first: it keeps ldns/common.h from #defining true and false.
#include <stdbool.h>
#include <ldns/ldns.h>

#include <algorithm>
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

TEST_CASE("the compact NSEC's bitmaps are ldns's and a name too long gets none") {
  const std::vector<std::vector<uint16_t>> type_sets = {
      {1, 46, 47},
      {47, 46, 28, 1, 1},           // any order, duplicates
      {6, 2, 48, 59, 60, 46, 47},   // an apex: SOA NS DNSKEY CDS CDNSKEY
      {16, 257, 46, 47, 65, 32769},  // windows 0, 1 and 128
  };
  const std::string owner = wire("www.example.");
  for (const auto& types : type_sets) {
    CAPTURE(types.size());
    const std::string rdata = compact_nsec_rdata(owner, types);
    REQUIRE(rdata.size() > owner.size() + 2);
    CHECK(rdata.substr(0, owner.size() + 2) == std::string("\x01\x00", 2) + owner);
    std::vector<ldns_rr_type> list;
    for (const uint16_t type : types) list.push_back(static_cast<ldns_rr_type>(type));
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    ldns_rdf* bitmap = ldns_dnssec_create_nsec_bitmap(list.data(), list.size(), LDNS_RR_TYPE_NSEC);
    REQUIRE(bitmap != nullptr);
    CHECK(rdata.substr(owner.size() + 2) ==
          std::string(reinterpret_cast<const char*>(ldns_rdf_data(bitmap)), ldns_rdf_size(bitmap)));
    ldns_rdf_deep_free(bitmap);
  }
  // 254 octets: "\000.<name>" would be 256.
  std::string long_name;
  for (int i = 0; i < 3; ++i) long_name += std::string(1, '\x3f') + std::string(63, 'a');
  long_name += std::string(1, '\x3c') + std::string(60, 'b') + std::string(1, '\0');
  REQUIRE(long_name.size() == 254);
  CHECK(compact_nsec_rdata(long_name, {1, 46, 47}).empty());
  CHECK(compact_nsec_rdata(long_name.substr(1 + 63), {1, 46, 47}).size() > 0);
}

}  // namespace
}  // namespace rotor::zones

TEST_SUITE_END();
