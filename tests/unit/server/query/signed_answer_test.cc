// Pre-signed zones on the query path: tests/data/query/signed-nsec.zone and
// signed-nsec3.zone (NSEC3 with opt-out; make_signed.sh makes both). Every
// RRset a DO answer carries must verify with ldns against the zone's DNSKEY,
// denial must come with NSEC or NSEC3 records, plain queries must see none of
// it, and answering must not allocate.
#include "server/query/responder.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/dns_client.h"
#include "tests/unit/support/allocation_counter.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/server/query/signed_answer");

namespace rotor {
namespace {

using test::QueryOptions;

struct SignedAnswerRrListFree {
  void operator()(ldns_rr_list* list) const { ldns_rr_list_deep_free(list); }
};
using SignedAnswerRrList = std::unique_ptr<ldns_rr_list, SignedAnswerRrListFree>;

std::shared_ptr<const Snapshot> signed_snapshot() {
  auto snapshot = std::make_shared<Snapshot>();
  const std::string data = std::string(ROTOR_TEST_DATA) + "/query/";
  snapshot->zones.add(zones::load_zone_file(data + "signed-nsec.zone", "nsec.signed.test."));
  snapshot->zones.add(zones::load_zone_file(data + "signed-nsec3.zone", "nsec3.signed.test."));
  return snapshot;
}

test::LdnsPacket ask(const Snapshot& snapshot, const std::string& name, ldns_rr_type type,
                     bool dnssec_ok, Transport transport = Transport::tcp, uint16_t udp_size = 1232) {
  QueryOptions options = test::resolver_options();
  options.dnssec_ok = dnssec_ok;
  options.udp_size = udp_size;
  std::vector<uint8_t> out(kReplyBufferSize);
  WorkerState state;
  const size_t size = answer_query(snapshot, test::make_query(name, type, options),
                                   ClientInfo{nullptr, transport}, out, state);
  out.resize(size);
  return test::parse_reply(out);
}

// The zone's DNSKEY RRset, as rotor serves it.
SignedAnswerRrList zone_keys(const Snapshot& snapshot, const std::string& origin) {
  test::LdnsPacket reply = ask(snapshot, origin, LDNS_RR_TYPE_DNSKEY, false);
  REQUIRE(reply);
  SignedAnswerRrList keys(ldns_rr_list_clone(ldns_pkt_answer(reply.get())));
  REQUIRE(ldns_rr_list_rr_count(keys.get()) > 0);
  return keys;
}

struct SectionCheck {
  size_t rrsets = 0;       // RRsets other than RRSIG
  size_t denials = 0;      // of which NSEC or NSEC3
  size_t unverified = 0;   // RRsets without a signature that verifies
  size_t signatures = 0;
};

// Groups `section` into RRsets and verifies each with the RRSIGs beside it.
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
    SignedAnswerRrList rrset(ldns_rr_list_new());
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
    if (type == LDNS_RR_TYPE_NSEC || type == LDNS_RR_TYPE_NSEC3) ++check.denials;
    bool verified = false;
    for (ldns_rr* signature : signatures) {
      // `good` gets pointers to the keys themselves: freed shallowly.
      ldns_rr_list* good = ldns_rr_list_new();
      const ldns_status status = ldns_verify_rrsig_keylist(rrset.get(), signature, keys, good);
      ldns_rr_list_free(good);
      if (status != LDNS_STATUS_OK) MESSAGE("verify: " << std::string(ldns_get_errorstr_by_id(status)));
      verified = verified || status == LDNS_STATUS_OK;
    }
    if (!verified && keys != nullptr) ++check.unverified;
  }
  return check;
}

struct SignedCase {
  const char* what;
  const char* name;
  ldns_rr_type type;
  ldns_pkt_rcode rcode;
  size_t answer_rrsets;
  size_t denials;       // NSEC/NSEC3 RRsets in authority, at least
  size_t unsigned_authority;  // authority RRsets signed by the child, not us (a referral's NS)
};

void check_case(const Snapshot& snapshot, const ldns_rr_list* keys, const SignedCase& c) {
  const std::string what = std::string(c.what) + " " + c.name;
  CAPTURE(what);
  test::LdnsPacket reply = ask(snapshot, c.name, c.type, true);
  REQUIRE(reply);
  CHECK(ldns_pkt_get_rcode(reply.get()) == c.rcode);
  CHECK(ldns_pkt_edns_do(reply.get()));
  const SectionCheck answer = check_section(ldns_pkt_answer(reply.get()), keys);
  const SectionCheck authority = check_section(ldns_pkt_authority(reply.get()), keys);
  CHECK(answer.rrsets == c.answer_rrsets);
  CHECK(answer.unverified == 0);
  CHECK(authority.denials >= c.denials);
  CHECK(authority.unverified == c.unsigned_authority);
}

TEST_CASE("every RRset of a DO answer verifies - NSEC zone") {
  const auto snapshot = signed_snapshot();
  const SignedAnswerRrList keys = zone_keys(*snapshot, "nsec.signed.test.");
  const SignedCase cases[] = {
      {"positive", "www.nsec.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 0, 0},
      {"apex DNSKEY", "nsec.signed.test.", LDNS_RR_TYPE_DNSKEY, LDNS_RCODE_NOERROR, 1, 0, 0},
      {"nxdomain", "nothere.nsec.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0, 2, 0},
      {"nodata", "www.nsec.signed.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR, 0, 1, 0},
      {"empty non-terminal", "b.ent.nsec.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, 1, 0},
      {"wildcard", "x.wild.nsec.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 1, 0},
      {"wildcard nodata", "x.wild.nsec.signed.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 0, 2, 0},
      {"cname chain", "chain.nsec.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 3, 0, 0},
      {"cname to wildcard", "towild.nsec.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 2, 1, 0},
      {"secure delegation", "host.sec.nsec.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, 0, 1},
      {"insecure delegation", "host.insec.nsec.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, 1, 1},
      {"DS at a cut", "sec.nsec.signed.test.", LDNS_RR_TYPE_DS, LDNS_RCODE_NOERROR, 1, 0, 0},
  };
  for (const SignedCase& c : cases) check_case(*snapshot, keys.get(), c);
}

TEST_CASE("every RRset of a DO answer verifies - NSEC3 opt-out zone") {
  const auto snapshot = signed_snapshot();
  const SignedAnswerRrList keys = zone_keys(*snapshot, "nsec3.signed.test.");
  const SignedCase cases[] = {
      {"positive", "www.nsec3.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 0, 0},
      {"nxdomain", "nothere.nsec3.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0, 2, 0},
      {"nodata", "www.nsec3.signed.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR, 0, 1, 0},
      {"wildcard", "x.wild.nsec3.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 1, 0},
      {"wildcard nodata", "x.wild.nsec3.signed.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 0, 3, 0},
      {"opt-out delegation", "host.insec.nsec3.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, 1, 1},
      {"opt-out below an empty non-terminal", "x.deep.insec.ent2.nsec3.signed.test.", LDNS_RR_TYPE_A,
       LDNS_RCODE_NOERROR, 0, 1, 1},
      {"secure delegation", "host.sec.nsec3.signed.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, 0, 1},
  };
  for (const SignedCase& c : cases) check_case(*snapshot, keys.get(), c);
}

TEST_CASE("without DO there is no DNSSEC data unless asked for by type") {
  const auto snapshot = signed_snapshot();
  for (const char* origin : {"nsec.signed.test.", "nsec3.signed.test."}) {
    CAPTURE(origin);
    for (const char* name : {"www.", "nothere.", "x.wild.", "host.insec.", "host.sec."}) {
      test::LdnsPacket reply = ask(*snapshot, std::string(name) + origin, LDNS_RR_TYPE_A, false);
      REQUIRE(reply);
      CHECK(check_section(ldns_pkt_answer(reply.get()), nullptr).signatures == 0);
      const SectionCheck authority = check_section(ldns_pkt_authority(reply.get()), nullptr);
      CHECK(authority.signatures == 0);
      CHECK(authority.denials == 0);
    }
  }
  test::LdnsPacket nsec = ask(*snapshot, "www.nsec.signed.test.", LDNS_RR_TYPE_NSEC, false);
  REQUIRE(nsec);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(nsec.get())) == 1);
  test::LdnsPacket rrsig = ask(*snapshot, "www.nsec.signed.test.", LDNS_RR_TYPE_RRSIG, false);
  REQUIRE(rrsig);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(rrsig.get())) == 4);  // A, AAAA, TXT, NSEC
}

TEST_CASE("NSEC3 owner names are no names of the zone") {
  const auto snapshot = signed_snapshot();
  test::LdnsPacket apex = ask(*snapshot, "nsec3.signed.test.", LDNS_RR_TYPE_SOA, true);
  REQUIRE(apex);
  // Any hashed owner: ask for the NSEC3 of the NXDOMAIN proof's first record.
  test::LdnsPacket nxdomain = ask(*snapshot, "nothere.nsec3.signed.test.", LDNS_RR_TYPE_A, true);
  REQUIRE(nxdomain);
  ldns_rr_list* authority = ldns_pkt_authority(nxdomain.get());
  std::string hashed;
  for (size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(authority, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NSEC3) continue;
    char* owner = ldns_rdf2str(ldns_rr_owner(rr));
    hashed = owner;
    free(owner);
    break;
  }
  REQUIRE(!hashed.empty());
  for (const ldns_rr_type type : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_NSEC3}) {
    test::LdnsPacket reply = ask(*snapshot, hashed, type, true);
    REQUIRE(reply);
    CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NXDOMAIN);
    CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(reply.get())) == 0);
  }
}

TEST_CASE("a signed answer too big for UDP is truncated at an RRset") {
  const auto snapshot = signed_snapshot();
  test::LdnsPacket udp = ask(*snapshot, "big.nsec.signed.test.", LDNS_RR_TYPE_TXT, true, Transport::udp);
  REQUIRE(udp);
  CHECK(ldns_pkt_tc(udp.get()));
  CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(udp.get())) == 0);
  test::LdnsPacket tcp = ask(*snapshot, "big.nsec.signed.test.", LDNS_RR_TYPE_TXT, true, Transport::tcp);
  REQUIRE(tcp);
  CHECK_FALSE(ldns_pkt_tc(tcp.get()));
  CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(tcp.get())) == 6);  // five TXT and their RRSIG
  // Without DO the same RRset fits in 1232 bytes.
  test::LdnsPacket plain = ask(*snapshot, "big.nsec.signed.test.", LDNS_RR_TYPE_TXT, false, Transport::udp);
  REQUIRE(plain);
  CHECK_FALSE(ldns_pkt_tc(plain.get()));
}

TEST_CASE("answering a DO query on a signed zone allocates nothing") {
  const auto snapshot = signed_snapshot();
  QueryOptions dnssec = test::resolver_options();
  dnssec.dnssec_ok = true;
  std::vector<std::vector<uint8_t>> queries;
  for (const char* origin : {"nsec.signed.test.", "nsec3.signed.test."}) {
    for (const char* name : {"www.", "nothere.", "x.wild.", "towild.", "host.insec.", "host.sec.",
                             "x.deep.insec.ent2.", "b.ent.", "sub.wild."}) {
      queries.push_back(test::make_query(std::string(name) + origin, LDNS_RR_TYPE_A, dnssec));
      queries.push_back(test::make_query(std::string(name) + origin, LDNS_RR_TYPE_DS, dnssec));
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
}  // namespace rotor

TEST_SUITE_END();
