// Signing a loaded zone: every authoritative RRset gets an RRSIG that ldns
// verifies, the NS at a cut and the glue below it get none, the DS at the
// cut does, and a second pass over the same zone is all cache hits.
#include "server/dnssec/zone_signer.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/server/dnssec/dnssec_test_support.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/server/dnssec/zone_signer");

namespace rotor::dnssec {
namespace {

constexpr int64_t kZoneSignerNow = 1796000000;

const std::vector<std::string> kSignerZoneLines = {
    "example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300",
    "example.test. 3600 IN NS ns.example.test.",
    "example.test. 300 IN MX 10 Mail.example.test.",
    "ns.example.test. 3600 IN A 192.0.2.53",
    "www.example.test. 300 IN A 192.0.2.1",
    "www.example.test. 300 IN A 192.0.2.2",
    "www.example.test. 300 IN AAAA 2001:db8::1",
    "alias.example.test. 300 IN CNAME www.example.test.",
    "*.wild.example.test. 60 IN TXT \"any\"",
    "child.example.test. 3600 IN NS ns.child.example.test.",
    "child.example.test. 3600 IN DS 12345 13 2 "
    "16ae066870f6d8664f01c6608f439a8029c7e8a6500d6be0b415059769e4d0b9",
    "ns.child.example.test. 3600 IN A 192.0.2.54",
};

std::shared_ptr<const zones::Zone> load_signer_zone(const std::vector<std::string>& records) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("rotor-zone-signer-" + std::to_string(::getpid()) + ".zone");
  {
    std::ofstream file(path);
    for (const std::string& record : records) file << record << "\n";
  }
  auto zone = zones::load_zone_file(path.string(), "example.test.");
  std::filesystem::remove(path);
  return zone;
}

TEST_CASE("every authoritative RRset is signed and verifies and the child's are not") {
  const auto zone = load_signer_zone(kSignerZoneLines);
  const SigningKey key = SigningKey::generate("example.test", kEcdsaP256Sha256, kZoneSignerNow, kZoneSignerNow);
  const RrsetSigner signer([] { return kZoneSignerNow; });
  SignatureCache cache(1 << 20);
  const ZoneSignatures result = sign_zone(*zone, {}, key, signer, cache, kZoneSignerNow);
  CHECK(result.failures == 0);

  std::set<std::string> signed_names;  // "name TYPE"
  for (const RrsetSignature& signature : result.signatures) {
    const std::string name = zones::name_to_text(signature.owner);
    const auto header = read_rrsig_header(signature.rrsig.rdata);
    REQUIRE(header);
    CHECK(header->type_covered == signature.type);
    signed_names.insert(name + " " + std::to_string(signature.type));
    // The records of this RRset, from the zone text, as ldns checks them.
    std::vector<std::string> records;
    for (const std::string& record : kSignerZoneLines) {
      std::string owner;
      const zones::RRset rrset = testing::rrset_from_text({record}, owner);
      if (zones::lower_name_from_text(zones::name_to_text(owner)) == signature.owner &&
          rrset.type == signature.type) {
        records.push_back(record);
      }
    }
    CAPTURE(name);
    CAPTURE(signature.type);
    REQUIRE_FALSE(records.empty());
    CHECK(testing::verify_with_ldns(records, signature.rrsig, {key.dnskey_text()}, kZoneSignerNow) == "All OK");
  }
  const std::set<std::string> expected = {
      "example.test. 6",        "example.test. 2",       "example.test. 15",
      "ns.example.test. 1",     "www.example.test. 1",   "www.example.test. 28",
      "alias.example.test. 5",  "*.wild.example.test. 16", "child.example.test. 43",
  };
  CHECK(signed_names == expected);
}

TEST_CASE("the apex key RRsets are signed and a second pass signs nothing new") {
  const auto zone = load_signer_zone(kSignerZoneLines);
  std::vector<SigningKey> keys;
  keys.push_back(SigningKey::generate("example.test", kEd25519, kZoneSignerNow, kZoneSignerNow));
  const RrsetSigner signer([] { return kZoneSignerNow; });
  SignatureCache cache(1 << 20);
  const auto apex = apex_key_rrsets(keys);
  const ZoneSignatures first = sign_zone(*zone, apex, keys[0], signer, cache, kZoneSignerNow);
  CHECK(first.failures == 0);
  CHECK(first.signatures.size() == 9 + 3);
  const std::string dnskey = keys[0].dnskey_text();
  const RrsetSignature& dnskey_signature = first.signatures[9];
  CHECK(dnskey_signature.type == kTypeDnskey);
  CHECK(testing::verify_with_ldns({dnskey.substr(0, dnskey.size() - 1)}, dnskey_signature.rrsig,
                                  {dnskey}, kZoneSignerNow) == "All OK");
  const uint64_t misses = cache.stats().misses;
  const ZoneSignatures second = sign_zone(*zone, apex, keys[0], signer, cache, kZoneSignerNow + 60);
  CHECK(second.signatures.size() == first.signatures.size());
  CHECK(cache.stats().misses == misses);
  CHECK(cache.stats().hits == first.signatures.size());
}

}  // namespace
}  // namespace rotor::dnssec

TEST_SUITE_END();
