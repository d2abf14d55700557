// DO NODATA at array names from the authority section the array signer
// encodes with each NSEC signature (arrays::ArraySignatures::NsecSignature,
// zones::encode_array_nodata), against the same answers written record by
// record: the arrays of a zone rotor signs, signed with the encoding and
// without it (zones::set_negative_answer_budget; the zone's signature
// cache gives both the same signatures), must answer every query of a table
// (array names in two cases, names below and aliases to them, A/AAAA of
// families with and without instances, up and down, other types; UDP 1232
// and 512, TCP, with and without DO) with the same bytes; and an encoded
// array NODATA allocates nothing.
#include "server/query/responder.h"

#include <doctest/doctest.h>
#include <ldns/ldns.h>

#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/arrays/array_state.h"
#include "server/arrays/signed_answers.h"
#include "server/dnssec/array_signer.h"
#include "tests/support/dns_client.h"
#include "tests/unit/server/query/compact_zone.h"
#include "tests/unit/server/query/same_answers.h"
#include "tests/unit/support/allocation_counter.h"

TEST_SUITE_BEGIN("unit/server/query/encoded_array_nodata");

namespace rotor {
namespace encoded_array_nodata_test {

arrays::Instance instance(int64_t id, const std::string& address, arrays::Health health) {
  arrays::Instance out;
  out.id = id;
  out.spec.address = *arrays::IpAddress::parse(address);
  out.spec.weight = 100;
  out.health = health;
  return out;
}

struct ArraySpec {
  std::string name;  // presentation form
  arrays::ArraySettings settings;
  std::vector<arrays::Instance> instances;
};

std::vector<ArraySpec> array_specs() {
  using arrays::Health;
  std::vector<ArraySpec> specs;
  arrays::ArraySettings plain;
  // IPv4 only: AAAA is the NODATA, with the answer TTL (30) under the
  // negative TTL (300).
  specs.push_back({"web.compact.test.", plain,
                   {instance(1, "192.0.2.1", Health::up), instance(2, "192.0.2.2", Health::up)}});
  // IPv6 only, at a name the zone has a TXT at.
  specs.push_back({"six.compact.test.", plain, {instance(1, "2001:db8::1", Health::up)}});
  // Both families, IPv6 all down and not answered then: NODATA at the
  // degraded TTL.
  arrays::ArraySettings strict;
  strict.when_all_down = arrays::WhenAllDown::none;
  specs.push_back({"both.compact.test.", strict,
                   {instance(1, "192.0.2.3", Health::up), instance(2, "2001:db8::2", Health::down)}});
  // A TTL over the negative TTL: the NODATA takes the negative TTL.
  arrays::ArraySettings long_lived;
  long_lived.ttl = 3600;
  specs.push_back({"long.compact.test.", long_lived, {instance(1, "192.0.2.4", Health::up)}});
  // Many labels, so that the question fills much of the writer's suffix table.
  std::string deep;
  for (int i = 0; i < 60; ++i) deep += "d" + std::to_string(i % 10) + ".";
  specs.push_back({deep + "compact.test.", plain, {instance(1, "192.0.2.5", Health::up)}});
  return specs;
}

// The zone (rotor signs it) with aliases to two arrays and a TXT at one,
// and the arrays of array_specs, signed twice from the zone's signature
// cache: `encoded` with the NODATA encoding, `plain` without it.
struct ArrayPair {
  test::SignedZone zone = test::make_compact_zone(
      "six 300 IN TXT \"six\"\nalias 300 IN CNAME web\nalias6 300 IN CNAME six\n");
  std::shared_ptr<Snapshot> encoded;
  std::shared_ptr<Snapshot> plain;
};

std::shared_ptr<Snapshot> signed_arrays(const Snapshot& base, bool encoding) {
  auto snapshot = std::make_shared<Snapshot>(base);
  const zones::Zone& zone = *snapshot->zones.zones().at(0);
  const zones::OnlineSigner& signer = *zone.online_signer();
  const auto table = snapshot->arrays;
  zones::set_negative_answer_budget(encoding ? zones::kDefaultNegativeAnswerBudget : 0);
  for (const auto& state : table->all()) {
    dnssec::ArraySigningStats stats;
    auto copy = std::make_shared<arrays::ArrayState>(*state);
    copy->signatures = dnssec::sign_array(
        *state, *table, zone,
        [&](std::string_view owner, const zones::RRset& rrset) { return signer.sign(owner, rrset); },
        stats);
    CHECK(stats.failures == 0);
    snapshot->arrays = snapshot->arrays->with(copy);
  }
  zones::set_negative_answer_budget(zones::kDefaultNegativeAnswerBudget);
  return snapshot;
}

ArrayPair array_pair() {
  ArrayPair pair;
  Snapshot& base = *pair.zone.snapshot;
  base.geo.regions = geo::RegionTable::build({});
  base.geo.networks = geo::NetworkTable::build({}, *base.geo.regions);
  uint32_t slot = 0;
  for (ArraySpec& spec : array_specs()) {
    base.arrays = base.arrays->with(arrays::ArrayState::build(
        *zones::name_from_text(spec.name), slot++, spec.settings, std::move(spec.instances),
        *base.geo.regions));
  }
  pair.encoded = signed_arrays(base, true);
  pair.plain = signed_arrays(base, false);
  return pair;
}

// How many NSEC signatures of the snapshot's arrays carry an encoding, of all.
struct EncodedNsecs {
  size_t encoded = 0;
  size_t all = 0;
};

EncodedNsecs encoded_nsecs(const Snapshot& snapshot) {
  EncodedNsecs counts;
  for (const auto& state : snapshot.arrays->all()) {
    REQUIRE(state->signatures != nullptr);
    for (const auto& nsec : state->signatures->nsec_signatures) {
      ++counts.all;
      counts.encoded += nsec.nodata_authority.records > 0;
    }
  }
  return counts;
}

// Asks both snapshots every question; returns how many answers there were.
size_t compare_answers(const ArrayPair& pair) {
  std::vector<std::string> names;
  for (const ArraySpec& spec : array_specs()) {
    names.push_back(spec.name);
    std::string mixed = spec.name;
    for (size_t i = 0; i < mixed.size(); i += 2) mixed[i] = static_cast<char>(std::toupper(mixed[i]));
    names.push_back(mixed);
    if (spec.name.size() < 200) names.push_back("below." + spec.name);
  }
  names.push_back("alias.compact.test.");
  names.push_back("ALIAS6.compact.test.");
  const ldns_rr_type types[] = {LDNS_RR_TYPE_A,  LDNS_RR_TYPE_AAAA,  LDNS_RR_TYPE_MX,    LDNS_RR_TYPE_TXT,
                                LDNS_RR_TYPE_NS, LDNS_RR_TYPE_NSEC,  LDNS_RR_TYPE_RRSIG, LDNS_RR_TYPE_ANY,
                                LDNS_RR_TYPE_DS, LDNS_RR_TYPE_CNAME, static_cast<ldns_rr_type>(65)};
  WorkerState encoded_state;
  WorkerState plain_state;
  prepare_worker_state(*pair.encoded, encoded_state);
  prepare_worker_state(*pair.plain, plain_state);
  return same_answers::compare_answers(*pair.encoded, encoded_state, *pair.plain, plain_state, names, types);
}

}  // namespace encoded_array_nodata_test

TEST_CASE("encoded NODATA at array names is the bytes written record by record") {
  using namespace encoded_array_nodata_test;
  const ArrayPair pair = array_pair();
  const EncodedNsecs encoded = encoded_nsecs(*pair.encoded);
  const EncodedNsecs plain = encoded_nsecs(*pair.plain);
  // An NSEC signature per array for the negative TTL, one more for each
  // family NODATA whose TTL differs from it.
  CHECK(encoded.all >= 7);
  CHECK(encoded.encoded == encoded.all);
  CHECK(plain.all == encoded.all);
  CHECK(plain.encoded == 0);
  CHECK(compare_answers(pair) > 500);
}

TEST_CASE("an encoded array NODATA is what the query path copies") {
  // Spoil the encoding of the IPv4-only array's AAAA NODATA (its TTL, 30):
  // the answer must change, so the comparison above is of the copy.
  using namespace encoded_array_nodata_test;
  const ArrayPair pair = array_pair();
  const std::string web = *zones::lower_name_from_text("web.compact.test.");
  const arrays::ArrayState* state = pair.encoded->arrays->find(web);
  REQUIRE(state != nullptr);
  auto signatures = std::make_shared<arrays::ArraySignatures>(*state->signatures);
  bool spoiled = false;
  for (auto& nsec : signatures->nsec_signatures) {
    if (nsec.ttl != 30) continue;
    REQUIRE(nsec.nodata_authority.records > 0);
    nsec.nodata_authority.bytes.back() ^= 0x01;  // the NSEC's RRSIG's last octet
    spoiled = true;
  }
  REQUIRE(spoiled);
  auto copy = std::make_shared<arrays::ArrayState>(*state);
  copy->signatures = signatures;
  auto spoilt = std::make_shared<Snapshot>(*pair.encoded);
  spoilt->arrays = spoilt->arrays->with(copy);
  test::QueryOptions options = test::resolver_options();
  options.dnssec_ok = true;
  const std::vector<uint8_t> query = test::make_query("web.compact.test.", LDNS_RR_TYPE_AAAA, options);
  WorkerState state_a;
  WorkerState state_b;
  prepare_worker_state(*pair.plain, state_a);
  prepare_worker_state(*spoilt, state_b);
  const std::vector<uint8_t> plain = same_answers::answer_bytes(*pair.plain, query, Transport::udp, state_a);
  const std::vector<uint8_t> spoiled_answer = same_answers::answer_bytes(*spoilt, query, Transport::udp, state_b);
  REQUIRE(plain.size() == spoiled_answer.size());
  CHECK(plain != spoiled_answer);
}

TEST_CASE("encoded array NODATA allocates nothing") {
  using namespace encoded_array_nodata_test;
  const ArrayPair pair = array_pair();
  test::QueryOptions options = test::resolver_options();
  options.dnssec_ok = true;
  std::vector<std::vector<uint8_t>> queries;
  queries.push_back(test::make_query("web.compact.test.", LDNS_RR_TYPE_AAAA, options));
  queries.push_back(test::make_query("six.compact.test.", LDNS_RR_TYPE_A, options));
  queries.push_back(test::make_query("both.compact.test.", LDNS_RR_TYPE_AAAA, options));
  queries.push_back(test::make_query("web.compact.test.", LDNS_RR_TYPE_MX, options));
  std::vector<uint8_t> out(kReplyBufferSize);
  WorkerState state;
  prepare_worker_state(*pair.encoded, state);
  size_t answered = 0;
  test::AllocationCounter counter;
  for (int round = 0; round < 20; ++round) {
    for (const auto& query : queries) {
      answered += answer_query(*pair.encoded, query, ClientInfo{}, out, state) > 0;
    }
  }
  CHECK(counter.allocations() == 0);
  CHECK(answered == 20 * queries.size());
}

}  // namespace rotor

TEST_SUITE_END();
