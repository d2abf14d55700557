// A zone rotor signs itself (build_signed_zone, Denial::compact) answered by
// the responder: every RRset of a DO answer verifies with ldns against the
// DNSKEY the zone publishes, NODATA carries the name's own compact NSEC (RFC
// 9824: next name \000.<name>, its types plus RRSIG and NSEC), plain queries
// see no DNSSEC data, a signed zone file is refused, an unchanged zone signs
// nothing new the second time, a flood of per-name denial signatures evicts
// no zone or array signature, and DO answers allocate nothing.
#include "server/dnssec/online_signing.h"

#include <doctest/doctest.h>
#include <ldns/ldns.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "server/dnssec/compact_denial.h"
#include "server/query/responder.h"
#include "tests/support/dns_client.h"
#include "tests/unit/support/allocation_counter.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/server/dnssec/online_signing");

namespace rotor::dnssec {
namespace {

using test::QueryOptions;

const std::vector<std::string> kZone = {
    "example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300",
    "example.test. 3600 IN NS ns.example.test.",
    "example.test. 300 IN MX 10 mail.example.test.",
    "ns.example.test. 3600 IN A 192.0.2.53",
    "mail.example.test. 300 IN A 192.0.2.25",
    "www.example.test. 300 IN A 192.0.2.1",
    "www.example.test. 300 IN A 192.0.2.2",
    "www.example.test. 300 IN AAAA 2001:db8::1",
    "alias.example.test. 300 IN CNAME www.example.test.",
    "host.ent.example.test. 300 IN TXT \"below an empty non-terminal\"",
    "secure.example.test. 3600 IN NS ns.secure.example.test.",
    "secure.example.test. 3600 IN DS 12345 13 2 "
    "16ae066870f6d8664f01c6608f439a8029c7e8a6500d6be0b415059769e4d0b9",
    "ns.secure.example.test. 3600 IN A 192.0.2.54",
    "insecure.example.test. 3600 IN NS ns.elsewhere.test.",
};

struct RrListFree {
  void operator()(ldns_rr_list* list) const { ldns_rr_list_deep_free(list); }
};
using RrList = std::unique_ptr<ldns_rr_list, RrListFree>;

std::shared_ptr<const zones::Zone> load(const std::vector<std::string>& records) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("rotor-online-signing-" + std::to_string(::getpid()) + ".zone");
  {
    std::ofstream file(path);
    for (const std::string& record : records) file << record << "\n";
  }
  auto zone = zones::load_zone_file(path.string(), "example.test.");
  std::filesystem::remove(path);
  return zone;
}

ZoneKeys one_key() {
  ZoneKeys keys;
  const int64_t now = RrsetSigner::system_now();
  keys.keys.push_back(SigningKey::generate("example.test.", kEcdsaP256Sha256, now - 60, now - 60));
  return keys;
}

SignedZone sign(const std::vector<std::string>& records,
                const std::shared_ptr<SharedSignatureCache>& cache) {
  return build_signed_zone(load(records), one_key(), "keys", cache);
}

std::shared_ptr<const Snapshot> signed_snapshot() {
  SignedZone built = sign(kZone, std::make_shared<SharedSignatureCache>());
  REQUIRE(built.error == "");
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->zones.add(built.zone);
  return snapshot;
}

test::LdnsPacket ask(const Snapshot& snapshot, const std::string& name, ldns_rr_type type,
                     bool dnssec_ok) {
  QueryOptions options = test::resolver_options();
  options.dnssec_ok = dnssec_ok;
  std::vector<uint8_t> out(kReplyBufferSize);
  WorkerState state;
  const size_t size = answer_query(snapshot, test::make_query(name, type, options),
                                   ClientInfo{nullptr, Transport::tcp}, out, state);
  out.resize(size);
  return test::parse_reply(out);
}

RrList zone_keys(const Snapshot& snapshot) {
  test::LdnsPacket reply = ask(snapshot, "example.test.", LDNS_RR_TYPE_DNSKEY, false);
  REQUIRE(reply);
  RrList keys(ldns_rr_list_clone(ldns_pkt_answer(reply.get())));
  REQUIRE(ldns_rr_list_rr_count(keys.get()) == 1);
  return keys;
}

struct SectionCheck {
  size_t rrsets = 0;      // RRsets other than RRSIG
  size_t nsecs = 0;       // of which NSEC
  size_t unverified = 0;  // RRsets without a signature that verifies
  size_t signatures = 0;
};

// Groups `section` into RRsets and verifies each with the RRSIGs beside it
// (keys null: only counts).
SectionCheck check_section(ldns_rr_list* section, const ldns_rr_list* keys) {
  SectionCheck check;
  std::vector<bool> done(ldns_rr_list_rr_count(section), false);
  for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
    ldns_rr* first = ldns_rr_list_rr(section, i);
    const ldns_rr_type type = ldns_rr_get_type(first);
    if (type == LDNS_RR_TYPE_RRSIG) {
      ++check.signatures;
      continue;
    }
    if (done[i]) continue;
    RrList rrset(ldns_rr_list_new());
    std::vector<ldns_rr*> signatures;
    for (size_t j = i; j < ldns_rr_list_rr_count(section); ++j) {
      ldns_rr* rr = ldns_rr_list_rr(section, j);
      if (ldns_dname_compare(ldns_rr_owner(rr), ldns_rr_owner(first)) != 0) continue;
      if (ldns_rr_get_type(rr) == type) {
        ldns_rr_list_push_rr(rrset.get(), ldns_rr_clone(rr));
        done[j] = true;
      } else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG &&
                 ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == type) {
        signatures.push_back(rr);
      }
    }
    ++check.rrsets;
    if (type == LDNS_RR_TYPE_NSEC) ++check.nsecs;
    bool verified = false;
    for (ldns_rr* signature : signatures) {
      ldns_rr_list* good = ldns_rr_list_new();  // borrows the keys: freed shallowly
      const ldns_status status = ldns_verify_rrsig_keylist(rrset.get(), signature, keys, good);
      ldns_rr_list_free(good);
      if (status != LDNS_STATUS_OK) MESSAGE("verify: " << ldns_get_errorstr_by_id(status));
      verified = verified || status == LDNS_STATUS_OK;
    }
    if (!verified && keys != nullptr) ++check.unverified;
  }
  return check;
}

// The owner, next name and types of the one NSEC in `section`, as text.
struct NsecView {
  std::string owner;
  std::string next;
  std::string types;
};
NsecView only_nsec(ldns_rr_list* section) {
  NsecView view;
  size_t found = 0;
  for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(section, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NSEC) continue;
    ++found;
    const auto text = [](const ldns_rdf* rdf) {
      char* raw = ldns_rdf2str(rdf);
      std::string out = raw;
      free(raw);
      return out;
    };
    view = {text(ldns_rr_owner(rr)), text(ldns_rr_rdf(rr, 0)), text(ldns_rr_rdf(rr, 1))};
  }
  CHECK(found == 1);
  return view;
}

struct Case {
  const char* what;
  const char* name;
  ldns_rr_type type;
  size_t answer_rrsets;
  size_t authority_rrsets;
  size_t unsigned_authority;  // a referral's NS: the child's, unsigned
  const char* nsec_owner;     // the NSEC in authority; "" for none
  const char* nsec_types;
};

TEST_CASE("every RRset of a DO answer verifies and NODATA carries the name's compact NSEC") {
  const auto snapshot = signed_snapshot();
  const RrList keys = zone_keys(*snapshot);
  const Case cases[] = {
      {"apex SOA", "example.test.", LDNS_RR_TYPE_SOA, 1, 0, 0, "", ""},
      {"apex NS", "example.test.", LDNS_RR_TYPE_NS, 1, 0, 0, "", ""},
      {"apex DNSKEY", "example.test.", LDNS_RR_TYPE_DNSKEY, 1, 0, 0, "", ""},
      {"apex CDS", "example.test.", LDNS_RR_TYPE_CDS, 1, 0, 0, "", ""},
      {"apex CDNSKEY", "example.test.", LDNS_RR_TYPE_CDNSKEY, 1, 0, 0, "", ""},
      {"apex MX", "example.test.", LDNS_RR_TYPE_MX, 1, 0, 0, "", ""},
      {"ordinary A", "www.example.test.", LDNS_RR_TYPE_A, 1, 0, 0, "", ""},
      {"ordinary AAAA", "www.example.test.", LDNS_RR_TYPE_AAAA, 1, 0, 0, "", ""},
      {"CNAME and its target", "alias.example.test.", LDNS_RR_TYPE_A, 2, 0, 0, "", ""},
      {"NODATA at a name", "www.example.test.", LDNS_RR_TYPE_TXT, 0, 2, 0, "www.example.test.", "A AAAA RRSIG NSEC "},
      {"NODATA at the apex", "example.test.", LDNS_RR_TYPE_TXT, 0, 2, 0, "example.test.",
       "NS SOA MX RRSIG NSEC DNSKEY CDS CDNSKEY "},
      {"NODATA at the end of a CNAME", "alias.example.test.", LDNS_RR_TYPE_TXT, 1, 2, 0,
       "www.example.test.", "A AAAA RRSIG NSEC "},
      {"NODATA at an empty non-terminal", "ent.example.test.", LDNS_RR_TYPE_A, 0, 2, 0,
       "ent.example.test.", "RRSIG NSEC "},
      {"referral with DS", "host.secure.example.test.", LDNS_RR_TYPE_A, 0, 2, 1, "", ""},
      {"referral without DS", "host.insecure.example.test.", LDNS_RR_TYPE_A, 0, 2, 1,
       "insecure.example.test.", "NS RRSIG NSEC "},
      {"DS at a cut", "secure.example.test.", LDNS_RR_TYPE_DS, 1, 0, 0, "", ""},
      {"no DS at a cut", "insecure.example.test.", LDNS_RR_TYPE_DS, 0, 2, 0,
       "insecure.example.test.", "NS RRSIG NSEC "},
  };
  for (const Case& c : cases) {
    const std::string what = std::string(c.what) + " " + c.name;
    CAPTURE(what);
    test::LdnsPacket reply = ask(*snapshot, c.name, c.type, true);
    REQUIRE(reply);
    CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NOERROR);
    const SectionCheck answer = check_section(ldns_pkt_answer(reply.get()), keys.get());
    const SectionCheck authority = check_section(ldns_pkt_authority(reply.get()), keys.get());
    CHECK(answer.rrsets == c.answer_rrsets);
    CHECK(answer.unverified == 0);
    CHECK(answer.signatures == c.answer_rrsets);
    CHECK(authority.rrsets == c.authority_rrsets);
    CHECK(authority.unverified == c.unsigned_authority);
    CHECK(authority.nsecs == (c.nsec_owner[0] != '\0' ? 1u : 0u));
    if (c.nsec_owner[0] == '\0') continue;
    const std::string owner = c.nsec_owner;
    const NsecView nsec = only_nsec(ldns_pkt_authority(reply.get()));
    CHECK(nsec.owner == owner);
    CHECK(nsec.next == "\\000." + owner);
    CHECK(nsec.types == c.nsec_types);
  }
}

TEST_CASE("the NSEC and SOA of a NODATA answer have the negative TTL") {
  const auto snapshot = signed_snapshot();
  test::LdnsPacket reply = ask(*snapshot, "www.example.test.", LDNS_RR_TYPE_TXT, true);
  REQUIRE(reply);
  ldns_rr_list* authority = ldns_pkt_authority(reply.get());
  REQUIRE(ldns_rr_list_rr_count(authority) == 4);
  for (size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
    CHECK(ldns_rr_ttl(ldns_rr_list_rr(authority, i)) == 300);  // min(3600, MINIMUM 300)
  }
}

TEST_CASE("without DO there is no RRSIG and no NSEC in answers") {
  const auto snapshot = signed_snapshot();
  for (const auto& [name, type] : std::vector<std::pair<const char*, ldns_rr_type>>{
           {"www.example.test.", LDNS_RR_TYPE_A},
           {"www.example.test.", LDNS_RR_TYPE_TXT},
           {"ent.example.test.", LDNS_RR_TYPE_A},
           {"host.insecure.example.test.", LDNS_RR_TYPE_A},
           {"host.secure.example.test.", LDNS_RR_TYPE_A},
           {"example.test.", LDNS_RR_TYPE_DNSKEY}}) {
    CAPTURE(name);
    test::LdnsPacket reply = ask(*snapshot, name, type, false);
    REQUIRE(reply);
    for (ldns_rr_list* section : {ldns_pkt_answer(reply.get()), ldns_pkt_authority(reply.get())}) {
      const SectionCheck check = check_section(section, nullptr);
      CHECK(check.signatures == 0);
      CHECK(check.nsecs == 0);
    }
  }
}

TEST_CASE("a zone file that is signed already is refused") {
  std::vector<std::string> records = kZone;
  records.push_back("www.example.test. 300 IN NSEC www2.example.test. A AAAA RRSIG NSEC");
  const SignedZone built = sign(records, std::make_shared<SharedSignatureCache>());
  CHECK(built.zone == nullptr);
  CHECK(built.error ==
        "the zone file is signed already (NSEC at www.example.test.): a zone rotor signs "
        "(dnssec.keys) must come unsigned");
  records = kZone;
  records.push_back("example.test. 3600 IN DNSKEY 257 3 13 "
                    "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==");
  CHECK(sign(records, std::make_shared<SharedSignatureCache>()).error.find("DNSKEY at example.test.") !=
        std::string::npos);
}

TEST_CASE("signing the same zone again takes every signature from the cache") {
  const auto cache = std::make_shared<SharedSignatureCache>();
  const auto source = load(kZone);
  ZoneKeys keys = one_key();
  const std::string key_file_text = keys.keys[0].key_file_text();
  const std::string private_text = keys.keys[0].private_file_text();
  const SignedZone first = build_signed_zone(source, std::move(keys), "keys", cache);
  REQUIRE(first.zone != nullptr);
  const uint64_t made = cache->stats().signatures_made;
  CHECK(made > 10);
  ZoneKeys again;
  again.keys.push_back(SigningKey::from_texts("example.test.", key_file_text, private_text, "k"));
  const SignedZone second = build_signed_zone(source, std::move(again), "keys", cache);
  REQUIRE(second.zone != nullptr);
  CHECK(cache->stats().signatures_made == made);
  CHECK(cache->stats().failures == 0);
  CHECK(second.zone->online_signer()->key_tag() == first.zone->online_signer()->key_tag());
  CHECK(second.zone->denial() == zones::Zone::Denial::compact);
}

TEST_CASE("a flood of random names evicts no array or zone signature") {
  // Budgets small enough that the flood's NSEC signatures (~500 B each) would
  // fill the answers' part many times over if they shared it.
  constexpr size_t kAnswersBudget = 64 << 10;
  constexpr size_t kDenialBudget = 16 << 10;
  const auto cache = std::make_shared<SharedSignatureCache>(kAnswersBudget, kDenialBudget);
  const auto source = load(kZone);
  ZoneKeys keys = one_key();
  const std::string key_file_text = keys.keys[0].key_file_text();
  const std::string private_text = keys.keys[0].private_file_text();
  const SignedZone built = build_signed_zone(source, std::move(keys), "keys", cache);
  REQUIRE(built.zone != nullptr);
  const zones::OnlineSigner& signer = *built.zone->online_signer();
  // An array's answer sets, signed as the snapshot builder signs them
  // (array_signer.h): two addresses at a time out of eight.
  const std::string array_owner = *zones::lower_name_from_text("web.example.test.");
  std::vector<zones::RRset> answer_sets;
  for (uint8_t first = 1; first <= 8; ++first) {
    zones::RRset set{.type = 1, .ttl = 30, .rdatas = {}, .signatures = {}, .signature_ttl = 0};
    for (const uint8_t host : {first, static_cast<uint8_t>(first % 8 + 1)}) {
      set.rdatas.push_back(std::string{char(10), char(0), char(0), static_cast<char>(host)});
    }
    answer_sets.push_back(std::move(set));
  }
  for (const zones::RRset& set : answer_sets) REQUIRE(signer.sign(array_owner, set));
  const SharedSignatureCache::Stats before = cache->stats();
  CHECK(before.cache.evictions == 0);
  CHECK(before.cache.bytes <= kAnswersBudget);

  // The denial signer's work for 400 random names that do not exist.
  std::mt19937 random(17);
  for (int i = 0; i < 400; ++i) {
    std::string label;
    for (int c = 0; c < 12; ++c) label += static_cast<char>('a' + random() % 26);
    const std::string owner = *zones::lower_name_from_text(label + ".example.test.");
    uint8_t rdata[kMaxNsecRdata];
    const size_t size = nxname_nsec_rdata(owner, rdata);
    REQUIRE(size > 0);
    const zones::RRset nsec{.type = kTypeNsec, .ttl = 300,
                            .rdatas = {std::string(reinterpret_cast<const char*>(rdata), size)},
                            .signatures = {}, .signature_ttl = 0};
    REQUIRE(signer.sign_denial(owner, nsec));
  }
  const SharedSignatureCache::Stats flooded = cache->stats();
  CHECK(flooded.signatures_made == before.signatures_made + 400);
  CHECK(flooded.denial.evictions > 0);
  CHECK(flooded.denial.bytes <= kDenialBudget);
  CHECK(flooded.cache.evictions == 0);
  CHECK(flooded.cache.entries == before.cache.entries);

  // The array's sets and the whole zone, signed again, come from the cache.
  for (const zones::RRset& set : answer_sets) REQUIRE(signer.sign(array_owner, set));
  ZoneKeys again;
  again.keys.push_back(SigningKey::from_texts("example.test.", key_file_text, private_text, "k"));
  REQUIRE(build_signed_zone(source, std::move(again), "keys", cache).zone != nullptr);
  CHECK(cache->stats().signatures_made == flooded.signatures_made);
  CHECK(cache->stats().failures == 0);
}

TEST_CASE("answering DO queries on a zone rotor signs allocates nothing") {
  const auto snapshot = signed_snapshot();
  QueryOptions dnssec = test::resolver_options();
  dnssec.dnssec_ok = true;
  std::vector<std::vector<uint8_t>> queries;
  for (const char* name : {"example.test.", "www.example.test.", "alias.example.test.", "ent.example.test.",
                           "host.ent.example.test.", "host.secure.example.test.",
                           "host.insecure.example.test.", "insecure.example.test.", "nothere.example.test."}) {
    for (const ldns_rr_type type : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_DS, LDNS_RR_TYPE_DNSKEY}) {
      queries.push_back(test::make_query(name, type, dnssec));
    }
  }
  std::vector<uint8_t> out(kReplyBufferSize);
  WorkerState state;
  size_t answered = 0;
  test::AllocationCounter counter;
  for (int round = 0; round < 20; ++round) {
    for (const auto& query : queries) {
      answered += answer_query(*snapshot, query, ClientInfo{}, out, state) > 0;
    }
  }
  CHECK(counter.allocations() == 0);
  CHECK(answered == 20 * queries.size());
}

}  // namespace
}  // namespace rotor::dnssec
