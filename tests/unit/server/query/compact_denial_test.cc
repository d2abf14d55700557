// Compact denial answered late (RFC 9824) on the query path: in a zone signed
// online, a DO query for a name that does not exist waits for its signature
// (kAwaitsSignature) until the worker's denial cache has it, then gets NOERROR
// with the SOA and one NSEC owned by the name, bitmap RRSIG NSEC NXNAME, both
// signed and verified here by ldns; the CO flag gives NXDOMAIN; without DO
// the answer is the plain NXDOMAIN; an explicit NXNAME query is FORMERR; a
// hit allocates nothing; a new key empties the cache. Wildcard expansions
// in such a zone: an answer carries the RFC 4470 white lie covering the next
// closer name (its owner checked to be the canonical predecessor against
// random names), a NODATA the query name's NSEC with the wildcard's types, a
// wildcard CNAME to a missing name waits for both NSECs; an RRSIG query gets
// every signature at the name. The white lie's edges: a next closer label
// "\000" proven by the encloser's one NSEC (next "\000\000.<encloser>", its
// own types, the NODATA's record), a 63-octet label up to its successor (a
// name of the zone), and a predecessor that exists without an NSEC (no proof).
#include "server/query/responder.h"

#include <doctest/doctest.h>
#include <ldns/ldns.h>

#include <cstring>
#include <ctime>
#include <random>
#include <set>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "server/arrays/array_state.h"
#include "server/dns/wire.h"
#include "server/dnssec/compact_denial.h"
#include "server/dnssec/signer.h"
#include "tests/support/dns_client.h"
#include "tests/unit/server/query/compact_zone.h"
#include "tests/unit/support/allocation_counter.h"
#include "zones/dnssec.h"
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

// The RRset of `type` in the authority section (or `section`) and whether
// its RRSIG verifies (for a wildcard's, on the expanded owner).
bool verifies(ldns_pkt* reply, ldns_rr_type type, const ldns_rr_list* keys,
              ldns_rr_list* section = nullptr) {
  ldns_rr_list* authority = section != nullptr ? section : ldns_pkt_authority(reply);
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

// The zone of the wildcard cases: a TXT wildcard, and a CNAME wildcard
// pointing at a name that does not exist.
const char* const kWildcards =
    "*.wild 300 IN TXT \"wildcard\"\n"
    "*.dangling 300 IN CNAME nothere.compact.test.\n";

std::string wire(const std::string& text) {
  auto name = zones::lower_name_from_text(text);
  REQUIRE(name);
  return *name;
}

// Whether `name` is `ancestor` or below it (wire names, lower case).
bool at_or_below(std::string_view name, std::string_view ancestor) {
  while (true) {
    if (name == ancestor) return true;
    if (name.size() <= 1) return false;
    name = name.substr(dns::parent_offset(name));
  }
}

std::string rdf_text(const ldns_rdf* rdf) {
  char* text = ldns_rdf2str(rdf);
  std::string out(text);
  free(text);
  return out;
}

size_t count_of(ldns_rr_list* section, ldns_rr_type type) {
  size_t count = 0;
  for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
    if (ldns_rr_get_type(ldns_rr_list_rr(section, i)) == type) ++count;
  }
  return count;
}

// Every NSEC in the authority section verifies with the RRSIG of its owner.
bool every_nsec_verifies(ldns_pkt* reply, const ldns_rr_list* keys) {
  ldns_rr_list* authority = ldns_pkt_authority(reply);
  size_t verified = 0;
  for (size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
    ldns_rr* nsec = ldns_rr_list_rr(authority, i);
    if (ldns_rr_get_type(nsec) != LDNS_RR_TYPE_NSEC) continue;
    for (size_t j = 0; j < ldns_rr_list_rr_count(authority); ++j) {
      ldns_rr* rrsig = ldns_rr_list_rr(authority, j);
      if (ldns_rr_get_type(rrsig) != LDNS_RR_TYPE_RRSIG ||
          ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rrsig)) != LDNS_RR_TYPE_NSEC ||
          ldns_dname_compare(ldns_rr_owner(rrsig), ldns_rr_owner(nsec)) != 0) {
        continue;
      }
      RrList rrset(ldns_rr_list_new());
      ldns_rr_list_push_rr(rrset.get(), ldns_rr_clone(nsec));
      ldns_rr_list* good = ldns_rr_list_new();
      if (ldns_verify_rrsig_keylist(rrset.get(), rrsig, keys, good) == LDNS_STATUS_OK) ++verified;
      ldns_rr_list_free(good);
    }
  }
  return verified > 0 && verified == count_of(authority, LDNS_RR_TYPE_NSEC);
}

TEST_CASE("the white lie covers exactly the next closer name and what lies below it") {
  // Random names under one parent, some below the next closer name, from
  // octets that sit at the edges of the order ("\000", '@', '[', 0xff ...).
  const std::string parent = wire("wild.compact.test.");
  const std::string long_parent = wire(std::string(60, 'p') + "." + std::string(60, 'q') + "." +
                                       std::string(60, 'r') + ".test.");
  const uint8_t octets[] = {0x00, 0x01, '-', '0', '@', '[', 'a', 'b', 'y', 'z', 0xfe, 0xff};
  std::mt19937 random(17);
  const auto random_label = [&] {
    std::string label;
    const size_t size = random() % 8 == 0 ? 62 + random() % 2 : 1 + random() % 3;
    for (size_t i = 0; i < size; ++i) label += static_cast<char>(octets[random() % sizeof octets]);
    return label;
  };
  const auto prepend = [](const std::string& label, const std::string& name) {
    return std::string(1, static_cast<char>(label.size())) + label + name;
  };
  // A parent of 251 octets: a next closer name of 3-octet label is 255
  // octets long, with no room for "\000" after its label.
  const std::string full_parent = wire(std::string(61, 'p') + "." + std::string(61, 'q') + "." +
                                       std::string(61, 'r') + "." + std::string(58, 's') + ".test.");
  REQUIRE(full_parent.size() == 251);
  struct Case {
    std::string label;
    const std::string* parent;
    std::string next_label;  // the next name's first label; empty: the label and "\000"
  };
  const std::string ff(1, '\xff');
  const Case cases[] = {
      {"x", &parent, ""},       {"b", &parent, ""},         {"[", &parent, ""},
      {std::string("a\0", 2), &parent, ""},   {std::string("ab\0", 3), &parent, ""},    {"\x01", &parent, ""},
      {"0", &parent, ""},       {std::string(62, 'b'), &parent, ""},
      {"m", &long_parent, ""},  {std::string("zz\0", 3), &long_parent, ""},
      // "\000": the predecessor is the parent itself, the next name "\000\000".
      {std::string(1, '\0'), &parent, ""},
      {std::string(1, '\0'), &long_parent, ""},
      // 63 octets: no room for "\000"; the label's successor, in lower-case
      // order ('@' is followed by '['), trailing 0xff dropped.
      {std::string(63, 'b'), &parent, std::string(62, 'b') + "c"},
      {std::string(62, 'a') + "@", &parent, std::string(62, 'a') + "["},
      {std::string(61, 'b') + "@" + ff, &parent, std::string(61, 'b') + "["},
      {std::string(60, 'b') + "z" + ff + ff, &long_parent, std::string(60, 'b') + "{"},
      {std::string(62, '\0') + ff, &parent, std::string(61, '\0') + "\x01"},
      // A name of 255 octets: no room for "\000" either.
      {"abc", &full_parent, "abd"},
      {std::string("a") + ff + ff, &full_parent, "b"},
  };
  for (const Case& c : cases) {
    const std::string next_closer = prepend(c.label, *c.parent);
    CAPTURE(zones::name_to_text(next_closer));
    dnssec::FixedName owner;
    uint8_t rdata[dnssec::kMaxNsecRdata];
    const size_t size = dnssec::covering_nsec(next_closer, owner, rdata);
    REQUIRE(size > 0);
    const size_t next_size =
        dns::name_length(rdata, size);
    REQUIRE(next_size > 0);
    const std::string next(reinterpret_cast<const char*>(rdata), next_size);
    CHECK(next == prepend(c.next_label.empty() ? c.label + std::string(1, '\0') : c.next_label,
                          *c.parent));
    // Bitmap: RRSIG and NSEC only.
    CHECK(std::string(reinterpret_cast<const char*>(rdata) + next_size, size - next_size) ==
          std::string("\x00\x06\x00\x00\x00\x00\x00\x03", 8));
    CHECK(zones::canonical_compare(owner.view(), next_closer) < 0);
    CHECK(zones::canonical_compare(next_closer, next) < 0);
    // ldns agrees, comparing as lower case (an upper-case owner octet would
    // sort as its lower-case self).
    ldns_rdf* owner_rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, owner.size, owner.bytes);
    ldns_rdf* closer_rdf =
        ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, next_closer.size(), next_closer.data());
    CHECK(ldns_dname_compare(owner_rdf, closer_rdf) < 0);
    ldns_rdf_deep_free(owner_rdf);
    ldns_rdf_deep_free(closer_rdf);
    CHECK(owner.size <= 255);
    CHECK(at_or_below(owner.view(), *c.parent));
    size_t covered = 0;
    for (int i = 0; i < 3000; ++i) {
      std::string name = random() % 3 == 0 ? next_closer : *c.parent;
      for (size_t labels = 1 + random() % 3; labels > 0; --labels) {
        const std::string longer = prepend(random_label(), name);
        if (longer.size() <= 255) name = longer;
      }
      if (name == owner.view()) continue;
      const bool in_cover = zones::canonical_compare(owner.view(), name) < 0 &&
                            zones::canonical_compare(name, next) < 0;
      CAPTURE(zones::name_to_text(name));
      CHECK(in_cover == at_or_below(name, next_closer));
      covered += in_cover;
    }
    CHECK(covered > 0);
  }
  // A first label "\000" is owned by the parent, the closest encloser.
  dnssec::FixedName owner;
  uint8_t rdata[dnssec::kMaxNsecRdata];
  REQUIRE(dnssec::covering_nsec(prepend(std::string(1, '\0'), parent), owner, rdata) > 0);
  CHECK(owner.view() == parent);
  // No white lie for 63 octets 0xff: no label sorts after it under its parent.
  CHECK(dnssec::covering_nsec(prepend(std::string(63, '\xff'), parent), owner, rdata) == 0);
}

TEST_CASE("a wildcard answer carries the white lie covering the next closer name") {
  SignedZone zone = make_compact_zone(kWildcards);
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  const RrList keys = key_list(*zone.key);

  const test::Bytes query = query_for("X.wild.compact.test.", LDNS_RR_TYPE_TXT, true, true);
  REQUIRE(ask(*zone.snapshot, state, query).size == kAwaitsSignature);
  CHECK(zones::canonical_compare(state.denial->wanted.owner.view(), wire("x.wild.compact.test.")) < 0);
  sign_wanted(state);
  // Every name below the same next closer name is proven by the same NSEC:
  // no second signature.
  for (const char* name : {"X.wild.compact.test.", "deeper.x.wild.compact.test."}) {
    CAPTURE(name);
    Asked answered = ask(*zone.snapshot, state, query_for(name, LDNS_RR_TYPE_TXT, true, true));
    REQUIRE(answered.size != kAwaitsSignature);
    test::LdnsPacket reply = test::parse_reply(answered.reply);
    REQUIRE(reply);
    CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NOERROR);  // CO or not: it exists
    CHECK(count_of(ldns_pkt_answer(reply.get()), LDNS_RR_TYPE_TXT) == 1);
    CHECK(verifies(reply.get(), LDNS_RR_TYPE_TXT, keys.get(), ldns_pkt_answer(reply.get())));
    CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(reply.get())) == 2);  // NSEC and its RRSIG
    ldns_rr* nsec = nsec_of(reply.get());
    REQUIRE(nsec != nullptr);
    CHECK(verifies(reply.get(), LDNS_RR_TYPE_NSEC, keys.get()));
    CHECK(ldns_rr_ttl(nsec) == 300);
    CHECK(rdf_text(ldns_rr_rdf(nsec, 0)) == "x\\000.wild.compact.test.");
    // The NSEC covers the query name (RFC 4035 5.4): owner < qname < next,
    // and its owner and next name share only wild.compact.test. with it.
    ldns_rdf* qname = nullptr;
    REQUIRE(ldns_str2rdf_dname(&qname, name) == LDNS_STATUS_OK);
    ldns_dname2canonical(qname);
    CHECK(ldns_dname_compare(ldns_rr_owner(nsec), qname) < 0);
    CHECK(ldns_dname_compare(qname, ldns_rr_rdf(nsec, 0)) < 0);
    ldns_rdf_deep_free(qname);
    const ldns_rdf* bitmap = ldns_rr_rdf(nsec, 1);
    CHECK_FALSE(ldns_nsec_bitmap_covers_type(bitmap, static_cast<ldns_rr_type>(dnssec::kTypeNxname)));
    CHECK_FALSE(ldns_nsec_bitmap_covers_type(bitmap, LDNS_RR_TYPE_TXT));
    CHECK(ldns_nsec_bitmap_covers_type(bitmap, LDNS_RR_TYPE_NSEC));
  }
  CHECK(state.counters->denial_misses.value() == 1);

  // Without DO: the plain expansion, nothing to wait for.
  Asked plain = ask(*zone.snapshot, state, query_for("other.wild.compact.test.", LDNS_RR_TYPE_TXT, false, false));
  REQUIRE(plain.size != kAwaitsSignature);
  test::LdnsPacket plain_reply = test::parse_reply(plain.reply);
  REQUIRE(plain_reply);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(plain_reply.get())) == 1);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(plain_reply.get())) == 0);

  // From the cache, a wildcard answer allocates nothing.
  std::vector<uint8_t> out(kReplyBufferSize);
  size_t size = 0;
  {
    test::AllocationCounter counter;
    size = answer_query(*zone.snapshot, query, ClientInfo{nullptr, Transport::udp}, out, state);
    CHECK(counter.allocations() == 0);
  }
  CHECK(size != kAwaitsSignature);
}

// The text of a bitmap, trailing spaces left out.
std::string bitmap_text(const ldns_rr* nsec) {
  std::string text = rdf_text(ldns_rr_rdf(nsec, 1));
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

// The edges of the white lie: a next closer label "\000" (its predecessor
// is the closest encloser, which keeps its own types), one of 63 octets (the
// next name is the label's successor, here a name of the zone), and a
// predecessor that is a name of the zone.
const std::string kEdgeSuccessor = std::string(62, 'b') + "c";
const std::string kWildcardEdges = std::string("*.edge 300 IN TXT \"edge\"\n") +
                                   "edge 300 IN MX 10 www.compact.test.\n" + kEdgeSuccessor +
                                   ".edge 300 IN TXT \"successor\"\n";

TEST_CASE("a next closer label of \\000 is proven by the closest encloser's own NSEC") {
  SignedZone zone = make_compact_zone(kWildcardEdges);
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  const RrList keys = key_list(*zone.key);
  // The encloser's one NSEC, as a NODATA there gives it: its next name is
  // past "\000.edge", its bitmap its own types.
  Asked nodata = ask(*zone.snapshot, state, query_for("edge.compact.test.", LDNS_RR_TYPE_A, true, false));
  REQUIRE(nodata.size != kAwaitsSignature);
  test::LdnsPacket nodata_reply = test::parse_reply(nodata.reply);
  REQUIRE(nodata_reply);
  CHECK(verifies(nodata_reply.get(), LDNS_RR_TYPE_NSEC, keys.get()));
  ldns_rr* own = nsec_of(nodata_reply.get());
  REQUIRE(own != nullptr);
  CHECK(rdf_text(ldns_rr_rdf(own, 0)) == "\\000\\000.edge.compact.test.");
  CHECK(bitmap_text(own) == "MX RRSIG NSEC");
  // Without a wildcard child a name's NSEC stays "\000.<name>".
  Asked www = ask(*zone.snapshot, state, query_for("www.compact.test.", LDNS_RR_TYPE_TXT, true, false));
  test::LdnsPacket www_reply = test::parse_reply(www.reply);
  REQUIRE(www_reply);
  REQUIRE(nsec_of(www_reply.get()) != nullptr);
  CHECK(rdf_text(ldns_rr_rdf(nsec_of(www_reply.get()), 0)) == "\\000.www.compact.test.");
  for (const char* name : {"\\000.edge.compact.test.", "deeper.\\000.edge.compact.test."}) {
    CAPTURE(name);
    // Signed with the zone: nothing to wait for.
    Asked answered = ask(*zone.snapshot, state, query_for(name, LDNS_RR_TYPE_TXT, true, false));
    REQUIRE(answered.size != kAwaitsSignature);
    test::LdnsPacket reply = test::parse_reply(answered.reply);
    REQUIRE(reply);
    CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NOERROR);
    CHECK(count_of(ldns_pkt_answer(reply.get()), LDNS_RR_TYPE_TXT) == 1);
    CHECK(verifies(reply.get(), LDNS_RR_TYPE_TXT, keys.get(), ldns_pkt_answer(reply.get())));
    ldns_rr* nsec = nsec_of(reply.get());
    REQUIRE(nsec != nullptr);
    CHECK(verifies(reply.get(), LDNS_RR_TYPE_NSEC, keys.get()));
    CHECK(ldns_rr_compare(nsec, own) == 0);
    ldns_rdf* qname = nullptr;
    REQUIRE(ldns_str2rdf_dname(&qname, name) == LDNS_STATUS_OK);
    CHECK(ldns_dname_compare(ldns_rr_owner(nsec), qname) < 0);
    CHECK(ldns_dname_compare(qname, ldns_rr_rdf(nsec, 0)) < 0);
    ldns_rdf_deep_free(qname);
  }
  CHECK(state.counters->denial_misses.value() == 0);
}

TEST_CASE("a next closer label of 63 octets is proven up to its successor even when that exists") {
  SignedZone zone = make_compact_zone(kWildcardEdges);
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  const RrList keys = key_list(*zone.key);
  const std::string label(63, 'b');
  for (const std::string& name : {label + ".edge.compact.test.", "q." + label + ".Edge.compact.test."}) {
    CAPTURE(name);
    const test::Bytes query = query_for(name, LDNS_RR_TYPE_TXT, true, false);
    Asked first = ask(*zone.snapshot, state, query);
    if (first.size == kAwaitsSignature) sign_wanted(state);
    Asked answered = ask(*zone.snapshot, state, query);
    REQUIRE(answered.size != kAwaitsSignature);
    test::LdnsPacket reply = test::parse_reply(answered.reply);
    REQUIRE(reply);
    CHECK(count_of(ldns_pkt_answer(reply.get()), LDNS_RR_TYPE_TXT) == 1);
    CHECK(verifies(reply.get(), LDNS_RR_TYPE_TXT, keys.get(), ldns_pkt_answer(reply.get())));
    ldns_rr* nsec = nsec_of(reply.get());
    REQUIRE(nsec != nullptr);
    CHECK(verifies(reply.get(), LDNS_RR_TYPE_NSEC, keys.get()));
    // The next name is a name of the zone: an NSEC's next name is one, and
    // the open range before it denies nothing that exists.
    CHECK(rdf_text(ldns_rr_rdf(nsec, 0)) == kEdgeSuccessor + ".edge.compact.test.");
    CHECK(bitmap_text(nsec) == "RRSIG NSEC");
    ldns_rdf* qname = nullptr;
    REQUIRE(ldns_str2rdf_dname(&qname, name.c_str()) == LDNS_STATUS_OK);
    ldns_dname2canonical(qname);
    CHECK(ldns_dname_compare(ldns_rr_owner(nsec), qname) < 0);
    CHECK(ldns_dname_compare(qname, ldns_rr_rdf(nsec, 0)) < 0);
    ldns_rdf_deep_free(qname);
  }
  CHECK(state.counters->denial_misses.value() == 1);  // one NSEC for both names
}

TEST_CASE("a predecessor that is a name of the zone without an NSEC of its own gives no white lie") {
  // The predecessor of b.edge.compact.test. made a name of the zone: 254 or
  // more octets, so it has no NSEC (no room for its next name), and a white
  // lie there would deny its TXT. The answer goes without a proof.
  dnssec::FixedName predecessor;
  uint8_t rdata[dnssec::kMaxNsecRdata];
  REQUIRE(dnssec::covering_nsec(wire("b.edge.compact.test."), predecessor, rdata) > 0);
  REQUIRE(predecessor.size >= 254);
  // Its text with the octets as they are (ldns reads an owner of at most 255
  // characters, too few for "\255" escapes): 0xff and 'a' need no escape.
  std::string text;
  for (std::string_view name = predecessor.view(); name.size() > 1;
       name = name.substr(dns::parent_offset(name))) {
    text.append(name.substr(1, static_cast<uint8_t>(name[0]))).push_back('.');
  }
  SignedZone zone = make_compact_zone(kWildcardEdges + text + " 300 IN TXT \"real\"\n");
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  REQUIRE(zone.snapshot->zones.find_authoritative(predecessor.view())->find(predecessor.view()) != nullptr);
  Asked answered = ask(*zone.snapshot, state, query_for("q.b.edge.compact.test.", LDNS_RR_TYPE_TXT, true, false));
  REQUIRE(answered.size != kAwaitsSignature);
  test::LdnsPacket reply = test::parse_reply(answered.reply);
  REQUIRE(reply);
  CHECK(count_of(ldns_pkt_answer(reply.get()), LDNS_RR_TYPE_TXT) == 1);
  CHECK(nsec_of(reply.get()) == nullptr);
  CHECK(state.counters->denial_misses.value() == 0);
}

TEST_CASE("a wildcard NODATA is proven by the query name's NSEC with the wildcard's types") {
  SignedZone zone = make_compact_zone(kWildcards);
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  const test::Bytes query = query_for("x.wild.compact.test.", LDNS_RR_TYPE_A, true, true);
  REQUIRE(ask(*zone.snapshot, state, query).size == kAwaitsSignature);
  CHECK(state.denial->wanted.owner.view() == wire("x.wild.compact.test."));
  sign_wanted(state);
  Asked answered = ask(*zone.snapshot, state, query);
  REQUIRE(answered.size != kAwaitsSignature);
  test::LdnsPacket reply = test::parse_reply(answered.reply);
  REQUIRE(reply);
  CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NOERROR);  // with CO too: the name exists
  CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(reply.get())) == 0);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(reply.get())) == 4);  // SOA, NSEC, RRSIGs
  ldns_rr* nsec = nsec_of(reply.get());
  REQUIRE(nsec != nullptr);
  CHECK(rdf_text(ldns_rr_owner(nsec)) == "x.wild.compact.test.");
  CHECK(rdf_text(ldns_rr_rdf(nsec, 0)) == "\\000.x.wild.compact.test.");
  const ldns_rdf* bitmap = ldns_rr_rdf(nsec, 1);
  CHECK(ldns_nsec_bitmap_covers_type(bitmap, LDNS_RR_TYPE_TXT));
  CHECK(ldns_nsec_bitmap_covers_type(bitmap, LDNS_RR_TYPE_RRSIG));
  CHECK_FALSE(ldns_nsec_bitmap_covers_type(bitmap, LDNS_RR_TYPE_A));
  CHECK_FALSE(ldns_nsec_bitmap_covers_type(bitmap, static_cast<ldns_rr_type>(dnssec::kTypeNxname)));
  const RrList keys = key_list(*zone.key);
  CHECK(verifies(reply.get(), LDNS_RR_TYPE_NSEC, keys.get()));
  CHECK(verifies(reply.get(), LDNS_RR_TYPE_SOA, keys.get()));

  // The same NSEC answers an NSEC query at the expanded name.
  Asked nsec_query = ask(*zone.snapshot, state, query_for("x.wild.compact.test.", LDNS_RR_TYPE_NSEC, true, false));
  REQUIRE(nsec_query.size != kAwaitsSignature);
  test::LdnsPacket nsec_reply = test::parse_reply(nsec_query.reply);
  REQUIRE(nsec_reply);
  CHECK(count_of(ldns_pkt_answer(nsec_reply.get()), LDNS_RR_TYPE_NSEC) == 1);
  CHECK(verifies(nsec_reply.get(), LDNS_RR_TYPE_NSEC, keys.get(), ldns_pkt_answer(nsec_reply.get())));
}

TEST_CASE("a wildcard CNAME to a missing name waits for both of its NSECs") {
  SignedZone zone = make_compact_zone(kWildcards);
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  const test::Bytes query = query_for("q.dangling.compact.test.", LDNS_RR_TYPE_A, true, false);
  REQUIRE(ask(*zone.snapshot, state, query).size == kAwaitsSignature);
  const std::string cover(state.denial->wanted.owner.view());
  sign_wanted(state);
  REQUIRE(ask(*zone.snapshot, state, query).size == kAwaitsSignature);
  CHECK(state.denial->wanted.owner.view() == wire("nothere.compact.test."));
  CHECK(state.denial->wanted.owner.view() != cover);
  sign_wanted(state);
  Asked answered = ask(*zone.snapshot, state, query);
  REQUIRE(answered.size != kAwaitsSignature);
  test::LdnsPacket reply = test::parse_reply(answered.reply);
  REQUIRE(reply);
  CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NOERROR);
  CHECK(count_of(ldns_pkt_answer(reply.get()), LDNS_RR_TYPE_CNAME) == 1);
  const RrList keys = key_list(*zone.key);
  CHECK(verifies(reply.get(), LDNS_RR_TYPE_CNAME, keys.get(), ldns_pkt_answer(reply.get())));
  CHECK(count_of(ldns_pkt_authority(reply.get()), LDNS_RR_TYPE_NSEC) == 2);
  CHECK(every_nsec_verifies(reply.get(), keys.get()));
}

TEST_CASE("an RRSIG query in a zone rotor signs gets every signature at the name") {
  SignedZone zone = make_compact_zone(kWildcards);
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  const auto covered_types = [](ldns_pkt* reply) {
    std::multiset<ldns_rr_type> types;
    ldns_rr_list* answer = ldns_pkt_answer(reply);
    for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
      ldns_rr* rr = ldns_rr_list_rr(answer, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG) {
        types.insert(ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)));
      }
    }
    return types;
  };
  for (const bool dnssec_ok : {false, true}) {
    CAPTURE(dnssec_ok);
    Asked www = ask(*zone.snapshot, state, query_for("www.compact.test.", LDNS_RR_TYPE_RRSIG, dnssec_ok, false));
    test::LdnsPacket reply = test::parse_reply(www.reply);
    REQUIRE(reply);
    CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_aa(reply.get()));
    CHECK(covered_types(reply.get()) == std::multiset<ldns_rr_type>{LDNS_RR_TYPE_A, LDNS_RR_TYPE_NSEC});
    CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(reply.get())) == 0);
  }
  Asked apex = ask(*zone.snapshot, state, query_for("compact.test.", LDNS_RR_TYPE_RRSIG, true, false));
  test::LdnsPacket apex_reply = test::parse_reply(apex.reply);
  REQUIRE(apex_reply);
  const std::multiset<ldns_rr_type> apex_types = covered_types(apex_reply.get());
  for (const ldns_rr_type type : {LDNS_RR_TYPE_SOA, LDNS_RR_TYPE_NS, LDNS_RR_TYPE_DNSKEY, LDNS_RR_TYPE_NSEC}) {
    CHECK(apex_types.count(type) == 1);
  }
  // At a wildcard expansion: the wildcard's signatures under the query name,
  // and with DO the proof that the name itself does not exist.
  const test::Bytes wild = query_for("x.wild.compact.test.", LDNS_RR_TYPE_RRSIG, true, false);
  REQUIRE(ask(*zone.snapshot, state, wild).size == kAwaitsSignature);
  sign_wanted(state);
  Asked expanded = ask(*zone.snapshot, state, wild);
  REQUIRE(expanded.size != kAwaitsSignature);
  test::LdnsPacket wild_reply = test::parse_reply(expanded.reply);
  REQUIRE(wild_reply);
  CHECK(covered_types(wild_reply.get()) == std::multiset<ldns_rr_type>{LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_NSEC});
  ldns_rr* nsec = nsec_of(wild_reply.get());
  REQUIRE(nsec != nullptr);
  CHECK(rdf_text(ldns_rr_rdf(nsec, 0)) == "x\\000.wild.compact.test.");
}

// Arrays in a zone rotor signs make the names above them exist, as empty
// non-terminals the zone file does not have: eu (above web.eu) and x.wild
// (above foo.x.wild, where *.wild would match), and CNAMEs into them.
const char* const kArrayMadeNames =
    "*.wild 300 IN TXT \"wildcard\"\n"
    "toent 300 IN CNAME eu.compact.test.\n"
    "tobelow 300 IN CNAME bar.x.wild.compact.test.\n";

// `base` with arrays at `names` (their states hold a name only: the answers
// asked here are about the names above them).
std::shared_ptr<Snapshot> with_arrays_at(const Snapshot& base, const std::vector<std::string>& names) {
  auto snapshot = std::make_shared<Snapshot>(base);
  uint32_t slot = 0;
  for (const std::string& name : names) {
    auto state = std::make_shared<arrays::ArrayState>();
    state->name = wire(name);
    state->slot = slot++;
    snapshot->arrays = snapshot->arrays->with(std::move(state));
  }
  return snapshot;
}

// Asks until the answer is there, signing what the query waits for (at most
// two NSECs: a CNAME's target and its own).
Asked ask_signed(const Snapshot& snapshot, WorkerState& state, const test::Bytes& query) {
  Asked asked = ask(snapshot, state, query);
  for (int round = 0; round < 2 && asked.size == kAwaitsSignature; ++round) {
    sign_wanted(state);
    asked = ask(snapshot, state, query);
  }
  REQUIRE(asked.size != kAwaitsSignature);
  return asked;
}

TEST_CASE("the names above arrays in a zone rotor signs are NODATA with an NSEC without NXNAME") {
  SignedZone zone = make_compact_zone(kArrayMadeNames);
  const auto snapshot = with_arrays_at(*zone.snapshot, {"web.eu.compact.test.", "foo.x.wild.compact.test."});
  WorkerState state;
  prepare_worker_state(*snapshot, state);
  state.denial->now = now_seconds();
  const RrList keys = key_list(*zone.key);
  struct Case {
    const char* name;
    ldns_rr_type type;
    bool dnssec_ok;
    bool compact_ok;
    ldns_pkt_rcode rcode;
    size_t answers;
    const char* nsec_owner;  // "" for no NSEC
    const char* bitmap;
  };
  const Case cases[] = {
      // The name exists: CO gives no NXDOMAIN, the NSEC has no NXNAME.
      {"eu.compact.test.", LDNS_RR_TYPE_A, true, false, LDNS_RCODE_NOERROR, 0, "eu.compact.test.", "RRSIG NSEC"},
      {"eu.compact.test.", LDNS_RR_TYPE_TXT, true, true, LDNS_RCODE_NOERROR, 0, "eu.compact.test.", "RRSIG NSEC"},
      {"x.wild.compact.test.", LDNS_RR_TYPE_TXT, true, true, LDNS_RCODE_NOERROR, 0, "x.wild.compact.test.", "RRSIG NSEC"},
      // Below them nothing exists, the wildcard not applied (x.wild is the
      // closest encloser): the usual compact denial.
      {"bar.x.wild.compact.test.", LDNS_RR_TYPE_TXT, true, false, LDNS_RCODE_NOERROR, 0, "bar.x.wild.compact.test.",
       "RRSIG NSEC TYPE128"},
      {"bar.x.wild.compact.test.", LDNS_RR_TYPE_TXT, true, true, LDNS_RCODE_NXDOMAIN, 0, "bar.x.wild.compact.test.",
       "RRSIG NSEC TYPE128"},
      {"a.eu.compact.test.", LDNS_RR_TYPE_A, true, true, LDNS_RCODE_NXDOMAIN, 0, "a.eu.compact.test.",
       "RRSIG NSEC TYPE128"},
      // Through a CNAME: the CNAME, then the same proofs for its target.
      {"toent.compact.test.", LDNS_RR_TYPE_A, true, true, LDNS_RCODE_NOERROR, 1, "eu.compact.test.", "RRSIG NSEC"},
      {"tobelow.compact.test.", LDNS_RR_TYPE_A, true, true, LDNS_RCODE_NXDOMAIN, 1, "bar.x.wild.compact.test.",
       "RRSIG NSEC TYPE128"},
      // Without DO: the SOA alone.
      {"eu.compact.test.", LDNS_RR_TYPE_A, false, false, LDNS_RCODE_NOERROR, 0, "", ""},
      {"x.wild.compact.test.", LDNS_RR_TYPE_TXT, false, false, LDNS_RCODE_NOERROR, 0, "", ""},
      {"bar.x.wild.compact.test.", LDNS_RR_TYPE_TXT, false, false, LDNS_RCODE_NXDOMAIN, 0, "", ""},
  };
  for (const Case& c : cases) {
    const std::string question = std::string(c.name) + " " + std::to_string(c.type);
    CAPTURE(question);
    CAPTURE(c.dnssec_ok);
    CAPTURE(c.compact_ok);
    Asked asked = ask_signed(*snapshot, state, query_for(c.name, c.type, c.dnssec_ok, c.compact_ok));
    test::LdnsPacket reply = test::parse_reply(asked.reply);
    REQUIRE(reply);
    CHECK(ldns_pkt_get_rcode(reply.get()) == c.rcode);
    CHECK(ldns_pkt_aa(reply.get()));
    CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(reply.get())) == c.answers * (c.dnssec_ok ? 2 : 1));
    CHECK(count_of(ldns_pkt_authority(reply.get()), LDNS_RR_TYPE_SOA) == 1);
    ldns_rr* nsec = nsec_of(reply.get());
    if (*c.nsec_owner == '\0') {
      CHECK(nsec == nullptr);
      CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(reply.get())) == 1);
      continue;
    }
    REQUIRE(nsec != nullptr);
    CHECK(count_of(ldns_pkt_authority(reply.get()), LDNS_RR_TYPE_NSEC) == 1);
    CHECK(rdf_text(ldns_rr_owner(nsec)) == c.nsec_owner);
    CHECK(rdf_text(ldns_rr_rdf(nsec, 0)) == std::string("\\000.") + c.nsec_owner);
    CHECK(bitmap_text(nsec) == c.bitmap);
    CHECK(ldns_rr_ttl(nsec) == 300);
    CHECK(every_nsec_verifies(reply.get(), keys.get()));
    CHECK(verifies(reply.get(), LDNS_RR_TYPE_SOA, keys.get()));
  }

  // An NSEC query there gets the NSEC, an RRSIG query its signature.
  Asked nsec_query = ask_signed(*snapshot, state, query_for("eu.compact.test.", LDNS_RR_TYPE_NSEC, true, false));
  test::LdnsPacket nsec_reply = test::parse_reply(nsec_query.reply);
  REQUIRE(nsec_reply);
  CHECK(ldns_pkt_get_rcode(nsec_reply.get()) == LDNS_RCODE_NOERROR);
  CHECK(count_of(ldns_pkt_answer(nsec_reply.get()), LDNS_RR_TYPE_NSEC) == 1);
  CHECK(verifies(nsec_reply.get(), LDNS_RR_TYPE_NSEC, keys.get(), ldns_pkt_answer(nsec_reply.get())));
  Asked rrsig_query = ask_signed(*snapshot, state, query_for("eu.compact.test.", LDNS_RR_TYPE_RRSIG, true, false));
  test::LdnsPacket rrsig_reply = test::parse_reply(rrsig_query.reply);
  REQUIRE(rrsig_reply);
  REQUIRE(ldns_rr_list_rr_count(ldns_pkt_answer(rrsig_reply.get())) == 1);
  ldns_rr* rrsig = ldns_rr_list_rr(ldns_pkt_answer(rrsig_reply.get()), 0);
  CHECK(ldns_rr_get_type(rrsig) == LDNS_RR_TYPE_RRSIG);
  CHECK(ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rrsig)) == LDNS_RR_TYPE_NSEC);
}

TEST_CASE("a name denied with NXNAME before an array came below it gets the NSEC without NXNAME") {
  // The worker's denial cache keeps the NXNAME record signed for eu when it
  // did not exist; it compares RDATA, so once an array is below eu that
  // record is a miss, signed again and replaced; and back when it goes.
  SignedZone zone = make_compact_zone(kArrayMadeNames);
  WorkerState state;
  prepare_worker_state(*zone.snapshot, state);
  state.denial->now = now_seconds();
  const test::Bytes query = query_for("eu.compact.test.", LDNS_RR_TYPE_A, true, false);
  const auto bitmap_of = [&](const Snapshot& snapshot) {
    Asked asked = ask_signed(snapshot, state, query);
    test::LdnsPacket reply = test::parse_reply(asked.reply);
    REQUIRE(reply);
    REQUIRE(nsec_of(reply.get()) != nullptr);
    return bitmap_text(nsec_of(reply.get()));
  };
  CHECK(bitmap_of(*zone.snapshot) == "RRSIG NSEC TYPE128");
  CHECK(state.denial->cache.size() == 1);

  const auto with_array = with_arrays_at(*zone.snapshot, {"web.eu.compact.test."});
  prepare_worker_state(*with_array, state);  // the same key: the cache stays
  CHECK(state.denial->cache.size() == 1);
  REQUIRE(ask(*with_array, state, query).size == kAwaitsSignature);
  CHECK(bitmap_of(*with_array) == "RRSIG NSEC");
  CHECK(state.denial->cache.size() == 1);  // replaced, not added beside

  // From the cache, that answer allocates nothing.
  std::vector<uint8_t> out(kReplyBufferSize);
  size_t size = 0;
  {
    test::AllocationCounter counter;
    size = answer_query(*with_array, query, ClientInfo{nullptr, Transport::udp}, out, state);
    CHECK(counter.allocations() == 0);
  }
  CHECK(size != kAwaitsSignature);

  auto without = std::make_shared<Snapshot>(*with_array);
  without->arrays = without->arrays->without(wire("web.eu.compact.test."));
  prepare_worker_state(*without, state);
  CHECK(bitmap_of(*without) == "RRSIG NSEC TYPE128");
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
