// Compact denial answered late (RFC 9824) on the query path: in a zone signed
// online, a DO query for a name that does not exist waits for its signature
// (kAwaitsSignature) until the worker's denial cache has it, then gets NOERROR
// with the SOA and one NSEC owned by the name, bitmap RRSIG NSEC NXNAME, both
// signed and verified here by ldns; the CO flag gives NXDOMAIN; without DO
// the answer is the plain NXDOMAIN; an explicit NXNAME query is FORMERR; a
// hit allocates nothing; a new key empties the cache.
#include "server/query/responder.h"

#include <doctest/doctest.h>
#include <ldns/ldns.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "server/dns/wire.h"
#include "server/dnssec/signer.h"
#include "tests/support/dns_client.h"
#include "tests/unit/server/query/compact_zone.h"
#include "tests/unit/support/allocation_counter.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/server/query/compact_denial");

namespace rotor {
namespace {

struct RrListFree {
  void operator()(ldns_rr_list* list) const { ldns_rr_list_deep_free(list); }
};
using RrList = std::unique_ptr<ldns_rr_list, RrListFree>;

using test::now_seconds;
using test::SignedZone;
using test::make_compact_zone;

struct Asked {
  size_t size = 0;
  std::vector<uint8_t> reply;
};

test::Bytes query_for(const std::string& name, ldns_rr_type type, bool dnssec_ok, bool compact_ok) {
  test::QueryOptions options = test::resolver_options();
  options.dnssec_ok = dnssec_ok;
  test::Bytes query = test::make_query(name, type, options);
  if (compact_ok) {
    // The OPT record ends the query; its flags' high octet is 4 from the end.
    REQUIRE((query[query.size() - 4] & 0x80) != 0);
    query[query.size() - 4] |= 0x40;
  }
  return query;
}

Asked ask(const Snapshot& snapshot, WorkerState& state, const test::Bytes& query) {
  Asked out;
  out.reply.resize(kReplyBufferSize);
  out.size = answer_query(snapshot, query, ClientInfo{nullptr, Transport::udp}, out.reply, state);
  if (out.size != kAwaitsSignature) out.reply.resize(out.size);
  return out;
}

// What the signer thread does for a miss: sign the wanted NSEC, then the
// worker's callback puts it in the cache.
void sign_wanted(WorkerState& state) {
  REQUIRE(state.denial->key != nullptr);
  const dnssec::DenialRecord& wanted = state.denial->wanted;
  const zones::RRset rrset{dnssec::kTypeNsec, wanted.ttl, {std::string(wanted.rdata_view())}};
  const auto rrsig = (*state.denial->key)->sign(wanted.owner.view(), rrset);
  REQUIRE(rrsig);
  dnssec::SignedDenial result;
  result.key = *state.denial->key;
  result.record = wanted;
  result.signed_ok = true;
  result.expiration = dnssec::read_rrsig_header(*rrsig)->expiration;
  result.rrsig_size = static_cast<uint16_t>(rrsig->size());
  std::memcpy(result.rrsig, rrsig->data(), rrsig->size());
  state.denial->cache.insert(result);
}

RrList key_list(const dnssec::SigningKey& key) {
  RrList keys(ldns_rr_list_new());
  ldns_rr* dnskey = nullptr;
  REQUIRE(ldns_rr_new_frm_str(&dnskey, key.dnskey_text().c_str(), 0, nullptr, nullptr) ==
          LDNS_STATUS_OK);
  ldns_rr_list_push_rr(keys.get(), dnskey);
  return keys;
}

// The RRset of `type` in the authority section and whether its RRSIG verifies.
bool verifies(ldns_pkt* reply, ldns_rr_type type, const ldns_rr_list* keys) {
  ldns_rr_list* authority = ldns_pkt_authority(reply);
  RrList rrset(ldns_rr_list_new());
  ldns_rr* signature = nullptr;
  for (size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(authority, i);
    if (ldns_rr_get_type(rr) == type) ldns_rr_list_push_rr(rrset.get(), ldns_rr_clone(rr));
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG &&
        ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == type) {
      signature = rr;
    }
  }
  if (ldns_rr_list_rr_count(rrset.get()) != 1 || signature == nullptr) return false;
  ldns_rr_list* good = ldns_rr_list_new();
  const ldns_status status = ldns_verify_rrsig_keylist(rrset.get(), signature, keys, good);
  ldns_rr_list_free(good);
  if (status != LDNS_STATUS_OK) MESSAGE("verify: " << ldns_get_errorstr_by_id(status));
  return status == LDNS_STATUS_OK;
}

ldns_rr* nsec_of(ldns_pkt* reply) {
  ldns_rr_list* authority = ldns_pkt_authority(reply);
  for (size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
    if (ldns_rr_get_type(ldns_rr_list_rr(authority, i)) == LDNS_RR_TYPE_NSEC) {
      return ldns_rr_list_rr(authority, i);
    }
  }
  return nullptr;
}

TEST_CASE("a DO query for a missing name waits for its signature then is denied compactly") {
  SignedZone zone = make_compact_zone();
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  REQUIRE(state.denial != nullptr);
  state.denial->now = now_seconds();
  const test::Bytes query = query_for("Nope.compact.test.", LDNS_RR_TYPE_A, true, false);

  Asked first = ask(*zone.snapshot, state, query);
  CHECK(first.size == kAwaitsSignature);
  CHECK(state.counters->denial_misses.value() == 1);
  CHECK(state.counters->total_queries() == 0);  // counted when answered
  CHECK(state.denial->wanted.owner.view() == std::string_view("\x04nope\x07" "compact\x04test\x00", 19));
  sign_wanted(state);

  Asked second = ask(*zone.snapshot, state, query);
  REQUIRE(second.size != kAwaitsSignature);
  REQUIRE(second.size > 0);
  CHECK(state.counters->denial_hits.value() == 1);
  test::LdnsPacket reply = test::parse_reply(second.reply);
  REQUIRE(reply);
  CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_aa(reply.get()));
  CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(reply.get())) == 0);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(reply.get())) == 4);  // SOA, NSEC and their RRSIGs
  ldns_rr* nsec = nsec_of(reply.get());
  REQUIRE(nsec != nullptr);
  CHECK(ldns_rr_ttl(nsec) == 300);  // the negative TTL
  const ldns_rdf* bitmap = ldns_rr_rdf(nsec, 1);
  CHECK(ldns_nsec_bitmap_covers_type(bitmap, static_cast<ldns_rr_type>(dnssec::kTypeNxname)));
  CHECK(ldns_nsec_bitmap_covers_type(bitmap, LDNS_RR_TYPE_NSEC));
  CHECK(ldns_nsec_bitmap_covers_type(bitmap, LDNS_RR_TYPE_RRSIG));
  CHECK_FALSE(ldns_nsec_bitmap_covers_type(bitmap, LDNS_RR_TYPE_A));
  char* next = ldns_rdf2str(ldns_rr_rdf(nsec, 0));
  CHECK(std::string(next) == "\\000.nope.compact.test.");
  free(next);
  const RrList keys = key_list(*zone.key);
  CHECK(verifies(reply.get(), LDNS_RR_TYPE_NSEC, keys.get()));
  CHECK(verifies(reply.get(), LDNS_RR_TYPE_SOA, keys.get()));
}

TEST_CASE("CO gives NXDOMAIN and without DO the plain NXDOMAIN is unchanged") {
  SignedZone zone = make_compact_zone();
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  const test::Bytes compact = query_for("gone.compact.test.", LDNS_RR_TYPE_AAAA, true, true);
  REQUIRE(ask(*zone.snapshot, state, compact).size == kAwaitsSignature);
  sign_wanted(state);
  Asked answered = ask(*zone.snapshot, state, compact);
  test::LdnsPacket reply = test::parse_reply(answered.reply);
  REQUIRE(reply);
  CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NXDOMAIN);
  CHECK(nsec_of(reply.get()) != nullptr);
  // CO is echoed in the OPT record's flags: the reply's last four octets
  // are the flags' two and an empty RDATA length.
  CHECK((answered.reply[answered.reply.size() - 4] & 0x40) != 0);

  const uint64_t misses = state.counters->denial_misses.value();
  Asked plain = ask(*zone.snapshot, state, query_for("other.compact.test.", LDNS_RR_TYPE_A, false, false));
  REQUIRE(plain.size != kAwaitsSignature);
  test::LdnsPacket plain_reply = test::parse_reply(plain.reply);
  REQUIRE(plain_reply);
  CHECK(ldns_pkt_get_rcode(plain_reply.get()) == LDNS_RCODE_NXDOMAIN);
  CHECK(nsec_of(plain_reply.get()) == nullptr);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(plain_reply.get())) == 1);  // the SOA
  CHECK(state.counters->denial_misses.value() == misses);

  // An existing name is answered at once.
  Asked www = ask(*zone.snapshot, state, query_for("www.compact.test.", LDNS_RR_TYPE_A, true, false));
  CHECK(www.size != kAwaitsSignature);
  // RFC 9824 3.5: NXNAME is not a type to ask for.
  Asked nxname = ask(*zone.snapshot, state, test::make_query("www.compact.test.", "TYPE128", {}));
  test::LdnsPacket formerr = test::parse_reply(nxname.reply);
  REQUIRE(formerr);
  CHECK(ldns_pkt_get_rcode(formerr.get()) == LDNS_RCODE_FORMERR);
}

TEST_CASE("a compact denial from the cache allocates nothing") {
  SignedZone zone = make_compact_zone();
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  const test::Bytes query = query_for("nothing.compact.test.", LDNS_RR_TYPE_A, true, true);
  REQUIRE(ask(*zone.snapshot, state, query).size == kAwaitsSignature);
  sign_wanted(state);
  std::vector<uint8_t> out(kReplyBufferSize);
  size_t size = 0;
  {
    test::AllocationCounter counter;
    size = answer_query(*zone.snapshot, query, ClientInfo{nullptr, Transport::udp}, out, state);
    CHECK(counter.allocations() == 0);
  }
  CHECK(size > 0);
  CHECK(size != kAwaitsSignature);
  CHECK(state.counters->denial_hits.value() == 1);
}

TEST_CASE("a new key for the zone empties the worker's denial cache") {
  SignedZone zone = make_compact_zone();
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  const test::Bytes query = query_for("nope.compact.test.", LDNS_RR_TYPE_A, true, false);
  REQUIRE(ask(*zone.snapshot, state, query).size == kAwaitsSignature);
  sign_wanted(state);
  REQUIRE(ask(*zone.snapshot, state, query).size != kAwaitsSignature);
  // The same snapshot again keeps the cache.
  prepare_worker_state(*zone.snapshot, state);
  CHECK(state.denial->cache.size() == 1);
  // The zone signed again with another key: a new signer.
  SignedZone other = make_compact_zone();
  const Snapshot* next = other.snapshot.get();
  prepare_worker_state(*next, state);
  CHECK(state.denial->cache.size() == 0);
  CHECK(ask(*next, state, query).size == kAwaitsSignature);
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
