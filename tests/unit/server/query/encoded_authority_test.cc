// The negative answers of signed zones encoded when the zone is built
// (zones::EncodedAuthority, copied by the responder after the question)
// against the same answers written record by record: the same zones built
// with the encoding turned off (zones::set_negative_answer_budget 0) must
// answer every query of a table of names, types, cases and transports with
// the same bytes. NSEC zones (the test data, and zones signed here by ldns
// whose SOA names lie under names that do not exist, where the NXDOMAIN
// encoding must stand aside) and a zone rotor signs (compact denial).
#include "server/query/responder.h"

// stdbool.h first: it keeps ldns/common.h from #defining true and false.
#include <stdbool.h>
#include <doctest/doctest.h>
#include <ldns/ldns.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "server/dnssec/online_signing.h"
#include "tests/support/dns_client.h"
#include "tests/unit/server/query/same_answers.h"
#include "tests/unit/support/allocation_counter.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/server/query/encoded_authority");

namespace rotor {
namespace {

// Builds zones with `bytes` of encoding budget (0: off) for as long as it lives.
struct NegativeAnswerBudget {
  explicit NegativeAnswerBudget(size_t bytes) { zones::set_negative_answer_budget(bytes); }
  ~NegativeAnswerBudget() { zones::set_negative_answer_budget(zones::kDefaultNegativeAnswerBudget); }
};

std::shared_ptr<const zones::Zone> load_encoded_test_zone(const std::string& text, const std::string& origin) {
  const std::string path = std::filesystem::temp_directory_path() /
                           ("rotor-encoded-authority-" + std::to_string(getpid()) + ".zone");
  std::ofstream(path) << text;
  auto zone = zones::load_zone_file(path, origin);
  std::filesystem::remove(path);
  return zone;
}

// `text` signed by ldns with NSEC (a fresh ECDSA P-256 key, its DNSKEY
// added): a pre-signed zone file's text.
std::string ldns_signed_text(const std::string& text, const std::string& origin) {
  ldns_zone* zone = nullptr;
  FILE* in = fmemopen(const_cast<char*>(text.data()), text.size(), "r");
  REQUIRE(in != nullptr);
  const ldns_status read = ldns_zone_new_frm_fp(&zone, in, nullptr, 3600, LDNS_RR_CLASS_IN);
  std::fclose(in);
  REQUIRE(read == LDNS_STATUS_OK);
  ldns_key* key = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
  REQUIRE(key != nullptr);
  ldns_key_set_pubkey_owner(key, ldns_dname_new_frm_str(origin.c_str()));
  ldns_key_set_flags(key, 256);
  ldns_key_set_inception(key, static_cast<uint32_t>(time(nullptr) - 3600));
  ldns_key_set_expiration(key, static_cast<uint32_t>(time(nullptr) + 7 * 86400));
  ldns_rr* dnskey = ldns_key2rr(key);
  ldns_key_set_keytag(key, ldns_calc_keytag(dnskey));
  ldns_zone_push_rr(zone, dnskey);
  ldns_key_list* keys = ldns_key_list_new();
  ldns_key_list_push_key(keys, key);
  ldns_zone* signed_zone = ldns_zone_sign(zone, keys);
  ldns_key_list_free(keys);
  ldns_zone_deep_free(zone);
  REQUIRE(signed_zone != nullptr);
  char* buffer = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buffer, &size);
  ldns_zone_print(out, signed_zone);
  std::fclose(out);
  std::string result(buffer, size);
  std::free(buffer);
  ldns_zone_deep_free(signed_zone);
  return result;
}

// The same zone twice: encoded as rotor builds it, and without the encoding.
struct EncodedPair {
  std::string origin;  // presentation form
  std::shared_ptr<Snapshot> encoded = std::make_shared<Snapshot>();
  std::shared_ptr<Snapshot> plain = std::make_shared<Snapshot>();
  std::shared_ptr<const zones::Zone> encoded_zone;
};

// `budget`: what the encoded one may spend.
EncodedPair pair_from_text(const std::string& text, const std::string& origin,
                           size_t budget = zones::kDefaultNegativeAnswerBudget) {
  EncodedPair pair;
  pair.origin = origin;
  {
    NegativeAnswerBudget encoded(budget);
    pair.encoded_zone = load_encoded_test_zone(text, origin);
  }
  pair.encoded->zones.add(pair.encoded_zone);
  NegativeAnswerBudget off(0);
  pair.plain->zones.add(load_encoded_test_zone(text, origin));
  return pair;
}

// A zone rotor signs, built twice with one key and one signature cache, so
// both carry the same signatures.
EncodedPair compact_pair() {
  const std::string origin = "online.test.";
  const auto source = load_encoded_test_zone(
      "$ORIGIN online.test.\n@ 3600 IN SOA ns.online.test. admin.online.test. 1 3600 600 86400 300\n"
      "@ 3600 IN NS ns\nns 3600 IN A 192.0.2.53\nwww 300 IN A 192.0.2.1\nwww 300 IN TXT \"x\"\n"
      "host.ent 300 IN A 192.0.2.2\n*.wild 300 IN A 192.0.2.3\n"
      "cut 3600 IN NS ns.elsewhere.test.\n",
      origin);
  const auto cache = std::make_shared<dnssec::SharedSignatureCache>();
  const auto now = static_cast<int64_t>(std::time(nullptr));
  const auto key = dnssec::SigningKey::generate(origin, dnssec::kEcdsaP256Sha256, now - 60, now - 60);
  const auto keys = [&] {
    dnssec::ZoneKeys out;
    out.keys.push_back(
        dnssec::SigningKey::from_texts(origin, key.key_file_text(), key.private_file_text(), "k"));
    return out;
  };
  EncodedPair pair;
  pair.origin = origin;
  const dnssec::SignedZone encoded = dnssec::build_signed_zone(source, keys(), "keys", cache);
  REQUIRE(encoded.zone != nullptr);
  pair.encoded_zone = encoded.zone;
  pair.encoded->zones.add(encoded.zone);
  NegativeAnswerBudget off(0);
  const dnssec::SignedZone plain = dnssec::build_signed_zone(source, keys(), "keys", cache);
  REQUIRE(plain.zone != nullptr);
  pair.plain->zones.add(plain.zone);
  return pair;
}

// Every name of the zone as asked in lower and in mixed case, and names
// that do not exist: directly below the apex, deeper, at the edges of the
// canonical order, long labels, many labels (to fill the writer's suffix
// table), and below names that exist.
std::vector<std::string> question_names(const zones::Zone& zone, const std::string& origin) {
  std::vector<std::string> names;
  for (const zones::Node& node : zone.nodes()) {
    const std::string name = zones::name_to_text(node.name);
    names.push_back(name);
    std::string mixed = name;
    for (size_t i = 0; i < mixed.size(); i += 2) mixed[i] = static_cast<char>(std::toupper(mixed[i]));
    names.push_back(mixed);
    names.push_back("nothere." + name);
  }
  for (const char* prefix : {"missing.", "MiSsInG.", "a.", "0.", "zzzz.", "~.", "\\000.", "x.y.z.", "ns.gone.",
                             "gone.", "master.", "host.master.", "hostmaster.", "x.hostmaster.", "mail0.",
                             "www1.", "wwx."}) {
    names.push_back(prefix + origin);
  }
  names.push_back(std::string(63, 'q') + "." + origin);
  names.push_back(std::string(63, 'a') + "." + std::string(63, 'b') + "." + origin);
  for (const size_t labels : {20, 50, 60}) {
    std::string deep;
    for (size_t i = 0; i < labels && deep.size() + origin.size() + 4 < 250; ++i) deep += "l" + std::to_string(i % 10) + ".";
    names.push_back(deep + origin);
  }
  return names;
}

// Asks both zones of `pair` every question; returns how many answers there were.
size_t compare_answers(const EncodedPair& pair) {
  const std::vector<std::string> names = question_names(*pair.encoded_zone, pair.origin);
  const ldns_rr_type types[] = {LDNS_RR_TYPE_A,     LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_TXT,   LDNS_RR_TYPE_MX,
                                LDNS_RR_TYPE_SRV,   LDNS_RR_TYPE_DS,   LDNS_RR_TYPE_NSEC3, LDNS_RR_TYPE_CNAME,
                                LDNS_RR_TYPE_NS,    LDNS_RR_TYPE_SOA,  LDNS_RR_TYPE_NSEC,  LDNS_RR_TYPE_ANY};
  WorkerState encoded_state;
  WorkerState plain_state;
  return same_answers::compare_answers(*pair.encoded, encoded_state, *pair.plain, plain_state, names, types);
}

// How many of the zone's nodes carry each encoding.
struct EncodedCounts {
  size_t nodata = 0;
  size_t nxdomain = 0;
};

EncodedCounts encoded_counts(const zones::Zone& zone) {
  EncodedCounts counts;
  for (const zones::Node& node : zone.nodes()) {
    counts.nodata += node.nodata_authority.records > 0;
    counts.nxdomain += node.nxdomain_authority.records > 0;
  }
  return counts;
}

}  // namespace

TEST_CASE("encoded negative answers in an NSEC zone are the bytes written record by record") {
  const std::string data = std::string(ROTOR_TEST_DATA) + "/query/signed-nsec.zone";
  std::ifstream file(data);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const EncodedPair pair = pair_from_text(text, "nsec.signed.test.");
  const EncodedCounts counts = encoded_counts(*pair.encoded_zone);
  CHECK(counts.nodata > 10);
  CHECK(counts.nxdomain > 10);
  const EncodedCounts plain = encoded_counts(*pair.plain->zones.zones().at(0));
  CHECK(plain.nodata == 0);
  CHECK(plain.nxdomain == 0);
  CHECK(compare_answers(pair) > 1000);
}

TEST_CASE("a budget smaller than the whole encoding encodes the names before it and answers the same bytes") {
  const std::string data = std::string(ROTOR_TEST_DATA) + "/query/signed-nsec.zone";
  std::ifstream file(data);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::string origin = "nsec.signed.test.";
  const EncodedPair whole = pair_from_text(text, origin);
  const size_t full = whole.encoded_zone->encoded_negative_bytes();
  REQUIRE(full > 1000);
  CHECK(whole.encoded_zone->unencoded_negative_names() == 0);
  CHECK(whole.plain->zones.zones().at(0)->encoded_negative_bytes() == 0);
  const EncodedCounts all = encoded_counts(*whole.encoded_zone);

  const EncodedPair half = pair_from_text(text, origin, full / 2);
  const zones::Zone& zone = *half.encoded_zone;
  CHECK(zone.encoded_negative_bytes() <= full / 2);
  CHECK(zone.encoded_negative_bytes() > full / 4);
  CHECK(zone.unencoded_negative_names() > 0);
  const EncodedCounts some = encoded_counts(zone);
  CHECK(some.nodata > 0);
  CHECK(some.nodata < all.nodata);
  // In the zone's order: no encoded name after the first that went without.
  bool ran_out = false;
  for (const zones::Node& node : zone.nodes()) {
    const bool encoded = node.nodata_authority.records > 0;
    if (!encoded && !node.below_delegation) ran_out = true;
    CHECK_FALSE((ran_out && encoded));
  }
  CHECK(compare_answers(half) > 1000);

  const EncodedPair none = pair_from_text(text, origin, 1);
  CHECK(none.encoded_zone->encoded_negative_bytes() == 0);
  CHECK(encoded_counts(*none.encoded_zone).nodata == 0);
  CHECK(none.encoded_zone->unencoded_negative_names() >= all.nodata);
}

TEST_CASE("an NXDOMAIN is not encoded where the SOA names a name below a missing one") {
  // ns.gone and host.master: a query for gone.<origin>, master.<origin> or
  // a name below them shares more of the SOA's names than the apex, so the
  // NSECs covering gone and master carry no encoding; the others do.
  const std::string origin = "soa.test.";
  const std::string text =
      "$ORIGIN soa.test.\n@ 3600 IN SOA ns.gone.soa.test. host.master.soa.test. 1 3600 600 86400 300\n"
      "@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.53\nwww 300 IN A 192.0.2.1\nz 300 IN A 192.0.2.2\n";
  const EncodedPair pair = pair_from_text(ldns_signed_text(text, origin), origin);
  const zones::Zone& zone = *pair.encoded_zone;
  for (const char* missing : {"gone.soa.test.", "master.soa.test."}) {
    CAPTURE(missing);
    const zones::Node* cover = zone.covering_nsec(*zones::lower_name_from_text(missing));
    REQUIRE(cover != nullptr);
    CHECK(cover->nxdomain_authority.records == 0);
  }
  const EncodedCounts counts = encoded_counts(zone);
  CHECK(counts.nodata > 0);
  CHECK(counts.nxdomain >= 2);
  CHECK(compare_answers(pair) > 100);

  // The same zone with SOA names that exist has both.
  const std::string existing =
      "$ORIGIN soa.test.\n@ 3600 IN SOA ns1.soa.test. hostmaster.example.net. 1 3600 600 86400 300\n"
      "@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.53\nwww 300 IN A 192.0.2.1\n";
  const EncodedPair both = pair_from_text(ldns_signed_text(existing, origin), origin);
  CHECK(encoded_counts(*both.encoded_zone).nxdomain > 0);
  CHECK(compare_answers(both) > 100);
}

TEST_CASE("encoded NODATA in a zone rotor signs is the bytes written record by record") {
  const EncodedPair pair = compact_pair();
  CHECK(encoded_counts(*pair.encoded_zone).nodata > 5);
  CHECK(encoded_counts(*pair.encoded_zone).nxdomain == 0);
  CHECK(compare_answers(pair) > 500);
}

TEST_CASE("encoded negative answers allocate nothing") {
  const std::string data = std::string(ROTOR_TEST_DATA) + "/query/signed-nsec.zone";
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->zones.add(zones::load_zone_file(data, "nsec.signed.test."));
  test::QueryOptions options = test::resolver_options();
  options.dnssec_ok = true;
  std::vector<std::vector<uint8_t>> queries;
  for (const char* name : {"www.nsec.signed.test.", "missing.nsec.signed.test.", "zzz.nsec.signed.test.",
                           "ent.nsec.signed.test.", "nsec.signed.test."}) {
    queries.push_back(test::make_query(name, LDNS_RR_TYPE_MX, options));
  }
  std::vector<uint8_t> out(kReplyBufferSize);
  WorkerState state;
  size_t answered = 0;
  test::AllocationCounter counter;
  for (int round = 0; round < 20; ++round) {
    for (const auto& query : queries) answered += answer_query(*snapshot, query, ClientInfo{}, out, state) > 0;
  }
  CHECK(counter.allocations() == 0);
  CHECK(answered == 20 * queries.size());
}

}  // namespace rotor

TEST_SUITE_END();
