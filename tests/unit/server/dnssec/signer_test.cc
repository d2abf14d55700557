// The RRset signer: every RRSIG it makes is checked by ldns
// (ldns_verify_rrsig_keylist_time) over the RRset as a validator sees it, for
// both algorithms, rotated and mixed-case RRsets, a wildcard owner, names in
// RDATA, the apex DNSKEY/CDS/CDNSKEY records and a key read back from files.
#include "server/dnssec/signer.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

#include "server/dnssec/key_files.h"
#include "tests/unit/server/dnssec/dnssec_test_support.h"

TEST_SUITE_BEGIN("unit/server/dnssec/signer");

namespace rotor::dnssec {
namespace {

using testing::rrset_from_text;
using testing::verify_with_ldns;

constexpr int64_t kSignerNow = 1796000000;  // 2026-11-30, the signer's injected clock

const RrsetSigner& fixed_signer() {
  static const RrsetSigner signer([] { return kSignerNow; });
  return signer;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

TEST_CASE("each RRSIG verifies with ldns over the RRset a validator sees") {
  struct Case {
    const char* what;
    std::vector<std::string> signed_records;    // handed to the signer, in this order
    std::vector<std::string> verified_records;  // what the validator checks
    int labels;
  };
  const std::vector<Case> cases = {
      {"three A records",
       {"www.example.test. 300 IN A 192.0.2.3", "www.example.test. 300 IN A 192.0.2.1",
        "www.example.test. 300 IN A 192.0.2.2"},
       {"www.example.test. 300 IN A 192.0.2.1", "www.example.test. 300 IN A 192.0.2.2",
        "www.example.test. 300 IN A 192.0.2.3"},
       3},
      {"a rotated RRset verifies in any order",
       {"www.example.test. 300 IN A 192.0.2.2", "www.example.test. 300 IN A 192.0.2.3",
        "www.example.test. 300 IN A 192.0.2.1"},
       {"www.example.test. 300 IN A 192.0.2.3", "www.example.test. 300 IN A 192.0.2.1",
        "www.example.test. 300 IN A 192.0.2.2"},
       3},
      {"AAAA records",
       {"v6.example.test. 60 IN AAAA 2001:db8::2", "v6.example.test. 60 IN AAAA 2001:db8::1"},
       {"v6.example.test. 60 IN AAAA 2001:db8::1", "v6.example.test. 60 IN AAAA 2001:db8::2"},
       3},
      {"a mixed-case owner is signed lower-case",
       {"WWW.Example.TEST. 300 IN A 192.0.2.1"}, {"www.example.test. 300 IN A 192.0.2.1"}, 3},
      {"names in RDATA are signed lower-case",
       {"example.test. 300 IN MX 10 Mail.Example.TEST.", "example.test. 300 IN MX 20 b.example.test."},
       {"example.test. 300 IN MX 20 b.example.test.", "example.test. 300 IN MX 10 mail.example.test."},
       2},
      {"a wildcard owner: the label count leaves out the star",
       {"*.example.test. 120 IN A 192.0.2.9"}, {"*.example.test. 120 IN A 192.0.2.9"}, 2},
      {"a wildcard's signature verifies on an expanded answer",
       {"*.example.test. 120 IN A 192.0.2.9"}, {"anything.example.test. 120 IN A 192.0.2.9"}, 2},
      {"a deeper name",
       {"a.b.c.example.test. 30 IN TXT \"hello\""}, {"a.b.c.example.test. 30 IN TXT \"hello\""}, 5},
  };
  for (int algorithm : {kEcdsaP256Sha256, kEd25519}) {
    const SigningKey key = SigningKey::generate("example.test", algorithm, kSignerNow, kSignerNow);
    for (const Case& c : cases) {
      CAPTURE(algorithm);
      CAPTURE(c.what);
      std::string owner;
      const zones::RRset rrset = rrset_from_text(c.signed_records, owner);
      const auto signature = fixed_signer().sign(owner, rrset, key);
      REQUIRE(signature);
      CHECK(verify_with_ldns(c.verified_records, *signature, {key.dnskey_text()}, kSignerNow) == "All OK");
      const auto header = read_rrsig_header(signature->rdata);
      REQUIRE(header);
      CHECK(header->type_covered == rrset.type);
      CHECK(header->algorithm == algorithm);
      CHECK(header->labels == c.labels);
      CHECK(header->original_ttl == rrset.ttl);
      CHECK(header->key_tag == key.tag());
    }
  }
}

TEST_CASE("validity runs from an hour before now to seven days after") {
  const SigningKey key = SigningKey::generate("example.test", kEcdsaP256Sha256, kSignerNow, kSignerNow);
  std::string owner;
  const zones::RRset rrset = rrset_from_text({"www.example.test. 300 IN A 192.0.2.1"}, owner);
  const auto signature = fixed_signer().sign(owner, rrset, key);
  REQUIRE(signature);
  const auto header = read_rrsig_header(signature->rdata);
  REQUIRE(header);
  CHECK(header->inception == kSignerNow - 3600);
  CHECK(header->expiration == kSignerNow + 7 * 86400);
  CHECK(signature->inception == header->inception);
  CHECK(signature->expiration == header->expiration);
  // ldns agrees the signature is good within the window and bad after it.
  const std::vector<std::string> records = {"www.example.test. 300 IN A 192.0.2.1"};
  CHECK(verify_with_ldns(records, *signature, {key.dnskey_text()}, kSignerNow - 1800) == "All OK");
  CHECK(verify_with_ldns(records, *signature, {key.dnskey_text()}, kSignerNow + 8 * 86400) != "All OK");
  // A different record or another key does not verify.
  CHECK(verify_with_ldns({"www.example.test. 300 IN A 192.0.2.2"}, *signature,
                         {key.dnskey_text()}, kSignerNow) != "All OK");
  const SigningKey other = SigningKey::generate("example.test", kEcdsaP256Sha256, kSignerNow, kSignerNow);
  CHECK(verify_with_ldns(records, *signature, {other.dnskey_text()}, kSignerNow) != "All OK");
}

TEST_CASE("an empty RRset is not signed") {
  const SigningKey key = SigningKey::generate("example.test", kEd25519, kSignerNow, kSignerNow);
  CHECK_FALSE(fixed_signer().sign(std::string("\x03www\x07" "example\x04test\x00", 18),
                                  zones::RRset{1, 300, {}}, key));
}

TEST_CASE("the apex records: DNSKEY signed by the active key with CDS and CDNSKEY of every key") {
  std::vector<SigningKey> keys;
  keys.push_back(SigningKey::generate("example.test", kEcdsaP256Sha256, kSignerNow, kSignerNow));
  keys.push_back(SigningKey::generate("example.test", kEd25519, kSignerNow, std::nullopt));
  const std::vector<zones::RRset> apex = apex_key_rrsets(keys);
  REQUIRE(apex.size() == 3);
  CHECK(apex[0].type == kTypeDnskey);
  CHECK(apex[1].type == kTypeCds);
  CHECK(apex[2].type == kTypeCdnskey);
  for (const zones::RRset& rrset : apex) {
    CHECK(rrset.ttl == kDnskeyTtl);
    REQUIRE(rrset.rdatas.size() == 2);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    CHECK(apex[0].rdatas[i] == keys[i].dnskey_rdata());
    CHECK(apex[1].rdatas[i] == keys[i].ds_rdata());
    CHECK(apex[2].rdatas[i] == keys[i].dnskey_rdata());
  }
  const std::string apex_name = keys[0].zone_wire();
  const std::vector<std::string> dnskeys = {keys[0].dnskey_text(), keys[1].dnskey_text()};
  const auto signature = fixed_signer().sign(apex_name, apex[0], keys[0]);
  REQUIRE(signature);
  CHECK(verify_with_ldns(dnskeys, *signature, dnskeys, kSignerNow) == "All OK");
  // CDS and CDNSKEY as a validator reads them: the DS and DNSKEY of each key.
  const auto as_type = [](const std::string& record, const std::string& from, const std::string& to) {
    std::string text = record.substr(0, record.size() - 1);
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  const std::vector<std::string> cds = {as_type(keys[0].ds_text(), "\tDS\t", "\tCDS\t"),
                                        as_type(keys[1].ds_text(), "\tDS\t", "\tCDS\t")};
  const std::vector<std::string> cdnskey = {as_type(dnskeys[0], "\tDNSKEY\t", "\tCDNSKEY\t"),
                                            as_type(dnskeys[1], "\tDNSKEY\t", "\tCDNSKEY\t")};
  const auto cds_signature = fixed_signer().sign(apex_name, apex[1], keys[0]);
  const auto cdnskey_signature = fixed_signer().sign(apex_name, apex[2], keys[0]);
  REQUIRE(cds_signature);
  REQUIRE(cdnskey_signature);
  CHECK(verify_with_ldns(cds, *cds_signature, dnskeys, kSignerNow) == "All OK");
  CHECK(verify_with_ldns(cdnskey, *cdnskey_signature, dnskeys, kSignerNow) == "All OK");
  CHECK(read_rrsig_header(cds_signature->rdata)->type_covered == kTypeCds);
  CHECK(read_rrsig_header(cdnskey_signature->rdata)->type_covered == kTypeCdnskey);
}

TEST_CASE("a key written to files and read back signs what its .key file verifies") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("rotor-signer-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (int algorithm : {kEcdsaP256Sha256, kEd25519}) {
    CAPTURE(algorithm);
    const SigningKey written = SigningKey::generate("files.test", algorithm, kSignerNow, kSignerNow - 60);
    const KeyFilePaths paths = write_key_files(dir.string(), written);
    ZoneKeys loaded = load_zone_keys(dir.string(), "files.test.", kSignerNow);
    std::ifstream key_file(paths.key);
    const std::string key_text((std::istreambuf_iterator<char>(key_file)), {});
    std::vector<std::string> dnskeys;  // the .key file's record, its comments skipped
    for (const std::string& line : lines(key_text)) {
      if (line[0] != ';') dnskeys.push_back(line);
    }
    std::filesystem::remove(paths.key);
    std::filesystem::remove(paths.private_file);
    REQUIRE(loaded.keys.size() == 1);
    const SigningKey& key = loaded.keys[loaded.active];
    CHECK(key.tag() == written.tag());
    std::string owner;
    const std::vector<std::string> records = {"web.files.test. 20 IN A 192.0.2.7",
                                              "web.files.test. 20 IN A 192.0.2.8"};
    const zones::RRset rrset = rrset_from_text(records, owner);
    const auto signature = fixed_signer().sign(owner, rrset, key);
    REQUIRE(signature);
    REQUIRE(dnskeys.size() == 1);
    CHECK(verify_with_ldns(records, *signature, dnskeys, kSignerNow) == "All OK");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rotor::dnssec

TEST_SUITE_END();
