// Signed array answers (issue 17) through the query path: arrays signed as the
// snapshot builder signs them (dnssec::sign_array), asked with DO; the answer
// RRset and the NODATA NSEC must verify with ldns against the zone key, over
// every rotation window and policy, and answering must not allocate. An RRSIG
// query at an array name gets the RRSIGs of the A answer a query would get
// next (verified over that answer) and of the NSEC.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "server/arrays/array_state.h"
#include "server/arrays/signed_answers.h"
#include "server/dnssec/array_signer.h"
#include "server/dnssec/signature_cache.h"
#include "server/dnssec/signer.h"
#include "server/dnssec/signing_key.h"
#include "server/query/responder.h"
#include "tests/support/dns_client.h"
#include "tests/unit/server/dnssec/dnssec_test_support.h"
#include "tests/unit/server/query/query_snapshot.h"
#include "tests/unit/support/allocation_counter.h"

TEST_SUITE_BEGIN("unit/server/query/signed_array");

namespace rotor {
namespace {

using arrays::AdminState;
using arrays::Health;
using arrays::Policy;
using dnssec::testing::check_rrset;
using dnssec::testing::Checked;

// ldns_verify_rrsig_keylist checks validity against the real clock.
const int64_t kSignedArrayNow = dnssec::RrsetSigner::system_now();

struct SignedArrayRrListFree {
  void operator()(ldns_rr_list* list) const { ldns_rr_list_deep_free(list); }
};
using SignedArrayRrList = std::unique_ptr<ldns_rr_list, SignedArrayRrListFree>;

arrays::Instance instance(int64_t id, const std::string& address, Health health = Health::up,
                          uint16_t weight = 100, const std::string& region = "") {
  arrays::Instance out;
  out.id = id;
  out.spec.address = *arrays::IpAddress::parse(address);
  out.spec.weight = weight;
  out.spec.region = region;
  out.health = health;
  return out;
}

std::vector<arrays::Instance> v4_instances(int count, int down = 0) {
  std::vector<arrays::Instance> out;
  for (int i = 1; i <= count; ++i) {
    out.push_back(instance(i, "192.0.2." + std::to_string(i), i <= down ? Health::down : Health::up,
                           static_cast<uint16_t>(100 * i)));
  }
  return out;
}

arrays::ArraySettings settings(Policy policy, uint16_t max_answers = 0) {
  arrays::ArraySettings out;
  out.policy = policy;
  out.max_answers = max_answers;
  return out;
}

// The zone's key, the builder's signer and cache, and a snapshot whose
// arrays are all signed.
struct SignedWorld {
  dnssec::SigningKey key = dnssec::SigningKey::generate("example.test.", 13, kSignedArrayNow, 0);
  dnssec::RrsetSigner signer{[] { return kSignedArrayNow; }};
  dnssec::SignatureCache cache{1 << 22};
  std::shared_ptr<Snapshot> snapshot = test::query_zone_snapshot();
  dnssec::ArraySigningStats stats;
  size_t signatures_made() const { return cache.stats().misses + cache.stats().refreshes; }

  void put(const std::string& name, arrays::ArraySettings array_settings,
           std::vector<arrays::Instance> instances) {
    auto state = arrays::ArrayState::build(*zones::name_from_text(name), slot_++, array_settings,
                                           std::move(instances), *snapshot->geo.regions);
    snapshot->arrays = snapshot->arrays->with(state);
  }
  // Signs every array against the current table, as the composer does.
  void sign() {
    const auto table = snapshot->arrays;
    const zones::Zone& zone = *snapshot->zones.find_authoritative(*zones::name_from_text("example.test."));
    for (const auto& state : table->all()) {
      auto copy = std::make_shared<arrays::ArrayState>(*state);
      copy->signatures = dnssec::sign_array(
          *state, *table, zone,
          [&](std::string_view owner, const zones::RRset& rrset) -> std::optional<std::string> {
            auto rrsig = cache.signature(signer, key, owner, rrset, kSignedArrayNow);
            if (!rrsig) return std::nullopt;
            return std::move(rrsig->rdata);
          },
          stats);
      snapshot->arrays = snapshot->arrays->with(copy);
    }
  }
  SignedArrayRrList keys() const {
    SignedArrayRrList list(ldns_rr_list_new());
    ldns_rr* rr = nullptr;
    REQUIRE(ldns_rr_new_frm_str(&rr, key.dnskey_text().c_str(), 3600, nullptr, nullptr) ==
            LDNS_STATUS_OK);
    ldns_rr_list_push_rr(list.get(), rr);
    return list;
  }

 private:
  uint32_t slot_ = 0;
};

test::LdnsPacket ask_signed_array(const Snapshot& snapshot, WorkerState& state, const std::string& name,
                     ldns_rr_type type, bool dnssec_ok = true,
                     std::optional<test::ClientSubnet> subnet = std::nullopt) {
  test::QueryOptions options = test::resolver_options();
  options.dnssec_ok = dnssec_ok;
  options.client_subnet = std::move(subnet);
  std::vector<uint8_t> out(kReplyBufferSize);
  const size_t size = answer_query(snapshot, test::make_query(name, type, options),
                                   ClientInfo{nullptr, Transport::tcp}, out, state);
  out.resize(size);
  auto reply = test::parse_reply(out);
  REQUIRE(reply);
  return reply;
}

Checked answer_of(const Snapshot& snapshot, WorkerState& state, const ldns_rr_list* keys,
                  const std::string& name, ldns_rr_type type = LDNS_RR_TYPE_A,
                  std::optional<test::ClientSubnet> subnet = std::nullopt) {
  test::LdnsPacket reply = ask_signed_array(snapshot, state, name, type, true, std::move(subnet));
  CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NOERROR);
  CHECK_FALSE(ldns_pkt_tc(reply.get()));
  return check_rrset(ldns_pkt_answer(reply.get()), name, type, keys);
}

test::ClientSubnet subnet(uint8_t a, uint8_t b, uint8_t c) {
  return test::ClientSubnet{.family = 1, .source_prefix = 24, .scope_prefix = 0, .address = {a, b, c}};
}

TEST_CASE("round robin without a cap - one signed set in every order") {
  SignedWorld world;
  world.put("farm.example.test.", settings(Policy::round_robin), v4_instances(3));
  world.sign();
  CHECK(world.stats.rrsets >= 1);
  CHECK(world.stats.failures == 0);
  const SignedArrayRrList keys = world.keys();
  WorkerState state;
  prepare_worker_state(*world.snapshot, state);
  std::set<std::string> leads;
  for (int i = 0; i < 6; ++i) {
    const Checked a = answer_of(*world.snapshot, state, keys.get(), "farm.example.test.");
    CHECK(a.rdatas.size() == 3);
    CHECK(a.verified);
    CHECK(a.ttl == 30);
    leads.insert(a.order.front());
  }
  CHECK(leads.size() == 3);  // the order still rotates
}

TEST_CASE("a cap signs every rotation window - round robin and weighted") {
  for (const Policy policy : {Policy::round_robin, Policy::weighted}) {
    CAPTURE(arrays::to_string(policy));
    SignedWorld world;
    world.put("farm.example.test.", settings(policy, 2), v4_instances(4));
    world.sign();
    const SignedArrayRrList keys = world.keys();
    WorkerState state;
    prepare_worker_state(*world.snapshot, state);
    std::set<std::set<std::string>> sets;
    for (int i = 0; i < 40; ++i) {
      const Checked a = answer_of(*world.snapshot, state, keys.get(), "farm.example.test.");
      CHECK(a.rdatas.size() == 2);
      CHECK(a.verified);
      sets.insert(a.rdatas);
    }
    CHECK(sets.size() == 4);  // every window seen, each signed
  }
}

TEST_CASE("sticky and geo with a cap - every k-subset within the budget") {
  SignedWorld world;
  world.snapshot->geo.regions = geo::RegionTable::build({{"eu", 50.1, 8.7, {"us"}},
                                                         {"us", 40.7, -74.0, {}},
                                                         {"ap", 35.7, 139.7, {}}});
  world.snapshot->geo.networks = geo::NetworkTable::build(
      {{"198.51.100.0/24", "eu"}, {"203.0.113.0/24", "ap"}, {"10.0.0.0/8", "us"}},
      *world.snapshot->geo.regions);
  world.put("sticky.example.test.", settings(Policy::sticky, 2), v4_instances(5));
  world.put("geo.example.test.", settings(Policy::geo, 3),
            {instance(1, "192.0.2.1", Health::up, 100, "eu"),
             instance(2, "192.0.2.2", Health::up, 300, "eu"),
             instance(3, "192.0.2.3", Health::up, 100, "us"),
             instance(4, "192.0.2.4", Health::up, 100, "ap"),
             instance(5, "192.0.2.5", Health::up, 100, "")});
  world.sign();
  const SignedArrayRrList keys = world.keys();
  WorkerState state;
  prepare_worker_state(*world.snapshot, state);
  std::set<std::set<std::string>> sticky_sets;
  for (uint8_t c = 0; c < 64; ++c) {
    const Checked a =
        answer_of(*world.snapshot, state, keys.get(), "sticky.example.test.", LDNS_RR_TYPE_A,
                  subnet(10, c, static_cast<uint8_t>(c * 7)));
    CHECK(a.rdatas.size() == 2);
    CHECK(a.verified);
    sticky_sets.insert(a.rdatas);
  }
  CHECK(sticky_sets.size() > 4);  // not only rotation windows
  for (const auto& who : {subnet(198, 51, 100), subnet(203, 0, 113), subnet(10, 1, 2)}) {
    for (int i = 0; i < 6; ++i) {
      const Checked a = answer_of(*world.snapshot, state, keys.get(), "geo.example.test.",
                                  LDNS_RR_TYPE_A, who);
      CHECK(a.rdatas.size() == 3);
      CHECK(a.verified);
    }
  }
}

TEST_CASE("over the budget a DO answer is the policy's lead and the ring after it") {
  SignedWorld world;
  // C(14, 7) = 3432 sets: ring mode, 14 signatures.
  world.put("big.example.test.", settings(Policy::sticky, 7), v4_instances(14));
  world.sign();
  const auto& signatures = *world.snapshot->arrays->find(*zones::name_from_text("big.example.test."))->signatures;
  CHECK(signatures.v4.ring);
  CHECK(signatures.v4.keys.size() == 14);
  const SignedArrayRrList keys = world.keys();
  WorkerState state;
  prepare_worker_state(*world.snapshot, state);
  for (uint8_t c = 0; c < 32; ++c) {
    const auto who = subnet(10, c, 1);
    const Checked a = answer_of(*world.snapshot, state, keys.get(), "big.example.test.",
                                LDNS_RR_TYPE_A, who);
    CHECK(a.rdatas.size() == 7);
    CHECK(a.verified);
    // The policy's first choice leads, as without DO.
    test::LdnsPacket plain = ask_signed_array(*world.snapshot, state, "big.example.test.", LDNS_RR_TYPE_A,
                                 false, who);
    const Checked unsigned_answer =
        check_rrset(ldns_pkt_answer(plain.get()), "big.example.test.", LDNS_RR_TYPE_A, keys.get());
    CHECK(unsigned_answer.signatures == 0);
    REQUIRE_FALSE(unsigned_answer.order.empty());
    CHECK(a.order.front() == unsigned_answer.order.front());
  }
}

TEST_CASE("a health change - the new snapshot's answers are signed and a flap back signs nothing") {
  SignedWorld world;
  world.put("farm.example.test.", settings(Policy::round_robin, 2), v4_instances(4));
  world.sign();
  const size_t first = world.signatures_made();
  CHECK(first > 0);
  world.put("farm.example.test.", settings(Policy::round_robin, 2), v4_instances(4, 1));
  world.sign();
  const SignedArrayRrList keys = world.keys();
  WorkerState state;
  prepare_worker_state(*world.snapshot, state);
  for (int i = 0; i < 9; ++i) {
    const Checked a = answer_of(*world.snapshot, state, keys.get(), "farm.example.test.");
    CHECK(a.verified);
    CHECK(a.ttl == 10);  // degraded: signed with the TTL it is answered with
    CHECK(a.rdatas.count("192.0.2.1") == 0);
  }
  const size_t second = world.signatures_made();
  world.put("farm.example.test.", settings(Policy::round_robin, 2), v4_instances(4));
  world.sign();
  CHECK(world.signatures_made() == second);  // back to known sets: cache hits only
}

TEST_CASE("panic and fail-open answers are signed") {
  SignedWorld world;
  arrays::ArraySettings panic = settings(Policy::weighted, 2);
  panic.min_healthy = 0.5;
  world.put("panic.example.test.", panic, v4_instances(4, 3));        // 1 of 4 up: panic
  world.put("open.example.test.", settings(Policy::round_robin), v4_instances(3, 3));  // all down
  world.sign();
  const SignedArrayRrList keys = world.keys();
  WorkerState state;
  prepare_worker_state(*world.snapshot, state);
  std::set<std::string> panic_seen;
  for (int i = 0; i < 12; ++i) {
    const Checked a = answer_of(*world.snapshot, state, keys.get(), "panic.example.test.");
    CHECK(a.verified);
    panic_seen.insert(a.rdatas.begin(), a.rdatas.end());
  }
  CHECK(panic_seen.size() == 4);  // the down ones too
  const Checked open = answer_of(*world.snapshot, state, keys.get(), "open.example.test.");
  CHECK(open.rdatas.size() == 3);
  CHECK(open.verified);
}

TEST_CASE("a fallback answers signed under the asked name - and a CNAME into an array") {
  SignedWorld world;
  arrays::ArraySettings primary = settings(Policy::round_robin);
  primary.when_all_down = arrays::WhenAllDown::none;
  primary.fallback = "backup.example.test.";
  world.put("www2.example.test.", primary, v4_instances(2, 2));
  world.put("backup.example.test.", settings(Policy::round_robin, 1),
            {instance(7, "198.51.100.7"), instance(8, "198.51.100.8")});
  world.sign();
  const SignedArrayRrList keys = world.keys();
  WorkerState state;
  prepare_worker_state(*world.snapshot, state);
  for (int i = 0; i < 4; ++i) {
    const Checked a = answer_of(*world.snapshot, state, keys.get(), "www2.example.test.");
    CHECK(a.rdatas.size() == 1);
    CHECK(a.verified);
    CHECK(a.ttl == 10);  // a stand-in: the fallback's degraded TTL
  }
  // dangling.example.test. is a CNAME to nothere.example.test.: an array there.
  world.put("nothere.example.test.", settings(Policy::round_robin, 1), v4_instances(3));
  world.sign();
  WorkerState chain_state;
  prepare_worker_state(*world.snapshot, chain_state);
  const SignedArrayRrList chain_keys = world.keys();
  for (int i = 0; i < 3; ++i) {
    test::LdnsPacket reply =
        ask_signed_array(*world.snapshot, chain_state, "dangling.example.test.", LDNS_RR_TYPE_A);
    const Checked a = check_rrset(ldns_pkt_answer(reply.get()), "nothere.example.test.",
                                  LDNS_RR_TYPE_A, chain_keys.get());
    CHECK(a.rdatas.size() == 1);
    CHECK(a.verified);
  }
}

TEST_CASE("NODATA at an array name carries a signed compact-denial NSEC") {
  SignedWorld world;
  arrays::ArraySettings none = settings(Policy::round_robin);
  none.when_all_down = arrays::WhenAllDown::none;
  world.put("farm.example.test.", settings(Policy::round_robin), v4_instances(2));
  world.put("gone.example.test.", none, v4_instances(2, 2));
  world.sign();
  const SignedArrayRrList keys = world.keys();
  WorkerState state;
  prepare_worker_state(*world.snapshot, state);
  struct Case {
    const char* name;
    ldns_rr_type type;
    const char* bitmap;  // the NSEC's types
  };
  for (const Case& c : {Case{"farm.example.test.", LDNS_RR_TYPE_AAAA, "A RRSIG NSEC"},
                        Case{"farm.example.test.", LDNS_RR_TYPE_TXT, "A RRSIG NSEC"},
                        Case{"gone.example.test.", LDNS_RR_TYPE_A, "RRSIG NSEC"}}) {
    CAPTURE(c.name);
    CAPTURE(c.type);
    test::LdnsPacket reply = ask_signed_array(*world.snapshot, state, c.name, c.type);
    CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(reply.get()) == 0);
    const Checked nsec = check_rrset(ldns_pkt_authority(reply.get()), c.name, LDNS_RR_TYPE_NSEC, keys.get());
    REQUIRE(nsec.rdatas.size() == 1);
    CHECK(nsec.verified);
    const std::string next = std::string("\\000.") + c.name;
    CHECK(*nsec.rdatas.begin() == next);
    ldns_rr_list* authority = ldns_pkt_authority(reply.get());
    for (size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
      ldns_rr* rr = ldns_rr_list_rr(authority, i);
      if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NSEC) continue;
      char* text = ldns_rdf2str(ldns_rr_rdf(rr, 1));
      std::string bitmap(text);
      free(text);
      while (!bitmap.empty() && bitmap.back() == ' ') bitmap.pop_back();
      CHECK(bitmap == c.bitmap);
    }
    // An NSEC query there is answered by the same NSEC.
    test::LdnsPacket nsec_query = ask_signed_array(*world.snapshot, state, c.name, LDNS_RR_TYPE_NSEC);
    const Checked asked_nsec =
        check_rrset(ldns_pkt_answer(nsec_query.get()), c.name, LDNS_RR_TYPE_NSEC, keys.get());
    CHECK(asked_nsec.rdatas == nsec.rdatas);
    CHECK(asked_nsec.verified);
    // Without DO: no NSEC.
    test::LdnsPacket plain = ask_signed_array(*world.snapshot, state, c.name, c.type, false);
    CHECK(check_rrset(ldns_pkt_authority(plain.get()), c.name, LDNS_RR_TYPE_NSEC, keys.get())
              .rdatas.empty());
  }
}

// The RRSIG in `rrsigs` covering `type` verified over the records of `type`
// in `rrset_section` (both from replies), by `keys`.
bool rrsig_verifies_over(ldns_rr_list* rrsigs, ldns_rr_list* rrset_section, ldns_rr_type type,
                         const ldns_rr_list* keys) {
  SignedArrayRrList rrset(ldns_rr_list_new());
  for (size_t i = 0; i < ldns_rr_list_rr_count(rrset_section); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(rrset_section, i);
    if (ldns_rr_get_type(rr) == type) ldns_rr_list_push_rr(rrset.get(), ldns_rr_clone(rr));
  }
  if (ldns_rr_list_rr_count(rrset.get()) == 0) return false;
  size_t found = 0;
  bool verified = true;
  for (size_t i = 0; i < ldns_rr_list_rr_count(rrsigs); ++i) {
    ldns_rr* rrsig = ldns_rr_list_rr(rrsigs, i);
    if (ldns_rr_get_type(rrsig) != LDNS_RR_TYPE_RRSIG ||
        ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rrsig)) != type) {
      continue;
    }
    ++found;
    // The RRset's TTL as the RRSIG carries it (a reply's records all have it).
    for (size_t r = 0; r < ldns_rr_list_rr_count(rrset.get()); ++r) {
      ldns_rr_set_ttl(ldns_rr_list_rr(rrset.get(), r), ldns_rr_ttl(rrsig));
    }
    ldns_rr_list* good = ldns_rr_list_new();
    verified = verified && ldns_verify_rrsig_keylist(rrset.get(), rrsig, keys, good) == LDNS_STATUS_OK;
    ldns_rr_list_free(good);
  }
  return found == 1 && verified;
}

TEST_CASE("an RRSIG query at an array name gets the signatures of the answers it would get now") {
  SignedWorld world;
  world.put("farm.example.test.", settings(Policy::round_robin, 2), v4_instances(4));
  world.put("sticky.example.test.", settings(Policy::sticky, 2), v4_instances(5));
  arrays::ArraySettings none = settings(Policy::round_robin);
  none.when_all_down = arrays::WhenAllDown::none;
  world.put("gone.example.test.", none, v4_instances(2, 2));
  world.sign();
  const SignedArrayRrList keys = world.keys();
  WorkerState state;
  prepare_worker_state(*world.snapshot, state);
  const auto covered = [](ldns_pkt* reply) {
    std::multiset<ldns_rr_type> types;
    ldns_rr_list* answer = ldns_pkt_answer(reply);
    for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
      ldns_rr* rr = ldns_rr_list_rr(answer, i);
      REQUIRE(ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG);
      types.insert(ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)));
    }
    return types;
  };
  struct Case {
    const char* name;
    std::multiset<ldns_rr_type> covered;  // no AAAA instance: no AAAA answer to sign
  };
  for (const Case& c : {Case{"farm.example.test.", {LDNS_RR_TYPE_A, LDNS_RR_TYPE_NSEC}},
                        Case{"sticky.example.test.", {LDNS_RR_TYPE_A, LDNS_RR_TYPE_NSEC}},
                        Case{"gone.example.test.", {LDNS_RR_TYPE_NSEC}}}) {
    CAPTURE(c.name);
    // Round robin: every window in turn, each RRSIG the one of the A
    // answer the next A query gets.
    for (int round = 0; round < 5; ++round) {
      for (const bool dnssec_ok : {true, false}) {
        CAPTURE(dnssec_ok);
        test::LdnsPacket rrsigs = ask_signed_array(*world.snapshot, state, c.name, LDNS_RR_TYPE_RRSIG, dnssec_ok);
        CHECK(ldns_pkt_get_rcode(rrsigs.get()) == LDNS_RCODE_NOERROR);
        CHECK(ldns_pkt_aa(rrsigs.get()));
        CHECK_FALSE(ldns_pkt_tc(rrsigs.get()));
        CHECK(covered(rrsigs.get()) == c.covered);
        CHECK(ldns_pkt_nscount(rrsigs.get()) == 0);
        if (!dnssec_ok) continue;
        test::LdnsPacket nsec = ask_signed_array(*world.snapshot, state, c.name, LDNS_RR_TYPE_NSEC);
        CHECK(rrsig_verifies_over(ldns_pkt_answer(rrsigs.get()), ldns_pkt_answer(nsec.get()),
                                  LDNS_RR_TYPE_NSEC, keys.get()));
        if (c.covered.count(LDNS_RR_TYPE_A) == 0) continue;
        test::LdnsPacket a = ask_signed_array(*world.snapshot, state, c.name, LDNS_RR_TYPE_A);
        CHECK(ldns_pkt_ancount(a.get()) == 3);  // two of the instances and their RRSIG
        CHECK(rrsig_verifies_over(ldns_pkt_answer(rrsigs.get()), ldns_pkt_answer(a.get()),
                                  LDNS_RR_TYPE_A, keys.get()));
      }
    }
  }
}

TEST_CASE("an array at a wildcard's parent has the NSEC that covers its zero child") {
  // *.wild.example.test. exists: the name's one NSEC (the array's) has the
  // next name "\000\000.wild.example.test.", so that it also proves a
  // wildcard expansion at "\000.wild.example.test." (zones/dnssec.h).
  SignedWorld world;
  world.put("wild.example.test.", settings(Policy::round_robin), v4_instances(2));
  world.put("farm.example.test.", settings(Policy::round_robin), v4_instances(2));
  world.sign();
  const SignedArrayRrList keys = world.keys();
  WorkerState state;
  prepare_worker_state(*world.snapshot, state);
  for (const auto& [name, next] : {std::pair<std::string, std::string>{"wild.example.test.", "\\000\\000.wild.example.test."},
                                   {"farm.example.test.", "\\000.farm.example.test."}}) {
    CAPTURE(name);
    test::LdnsPacket reply = ask_signed_array(*world.snapshot, state, name, LDNS_RR_TYPE_AAAA);
    const Checked nsec = check_rrset(ldns_pkt_authority(reply.get()), name, LDNS_RR_TYPE_NSEC, keys.get());
    REQUIRE(nsec.rdatas.size() == 1);
    CHECK(nsec.verified);
    CHECK(*nsec.rdatas.begin() == next);
  }
}

TEST_CASE("signed array answers allocate nothing") {
  SignedWorld world;
  world.put("farm.example.test.", settings(Policy::round_robin, 2), v4_instances(4));
  world.put("big.example.test.", settings(Policy::sticky, 7), v4_instances(14));
  world.put("sticky.example.test.", settings(Policy::sticky, 2), v4_instances(5));
  world.sign();
  WorkerState state;
  prepare_worker_state(*world.snapshot, state);
  std::vector<std::vector<uint8_t>> queries;
  test::QueryOptions options = test::resolver_options();
  options.dnssec_ok = true;
  options.client_subnet = subnet(10, 2, 3);
  for (const char* name : {"farm.example.test.", "big.example.test.", "sticky.example.test."}) {
    for (const ldns_rr_type type :
         {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_RRSIG}) {
      queries.push_back(test::make_query(name, type, options));
    }
  }
  std::vector<uint8_t> out(kReplyBufferSize);
  size_t total = 0;
  test::AllocationCounter counter;
  for (int round = 0; round < 5; ++round) {
    for (const auto& query : queries) {
      total += answer_query(*world.snapshot, query, ClientInfo{nullptr, Transport::udp}, out, state);
    }
  }
  CHECK(counter.allocations() == 0);
  CHECK(total > 0);
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
