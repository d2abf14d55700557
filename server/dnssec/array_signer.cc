#include "server/dnssec/array_signer.h"

#include <algorithm>
#include <cassert>

#include "server/arrays/fallback.h"
#include "server/dns/wire.h"
#include "zones/dnssec.h"

namespace rotor::dnssec {
namespace {

using arrays::ArrayState;
using arrays::FamilySignatures;

// The TTL the responder writes for `answering`'s answers (responder.cc
// add_array): a fallback's answers live no longer than its degraded TTL.
uint32_t answer_ttl(const ArrayState& answering, int hops) {
  return hops > 0 ? std::min(answering.answer_ttl, answering.settings.degraded_ttl)
                  : answering.answer_ttl;
}

// The TTL of a NODATA for `family` at the asked array (responder.cc: the
// selection's TTL capped by the zone's negative TTL).
uint32_t nodata_ttl(const ArrayState& asked, uint8_t family, const zones::Zone& zone) {
  const uint32_t ttl =
      asked.family(family).exists ? asked.settings.degraded_ttl : asked.answer_ttl;
  return std::min(zone.negative_ttl(), ttl);
}

FamilySignatures sign_family(const ArrayState& asked, uint8_t family,
                             const arrays::AnsweringArray& answering, const SignRrset& sign,
                             ArraySigningStats& stats) {
  FamilySignatures out;
  const arrays::AnswerSets sets = arrays::answer_sets(*answering.array, family);
  if (sets.sets.empty()) return out;
  const arrays::FamilyCandidates& candidates = answering.array->family(family);
  out.answering = answering.array->name;
  out.candidates = static_cast<uint16_t>(candidates.instances.size());
  out.ring = sets.ring;
  out.window = sets.window;
  out.ttl = answer_ttl(*answering.array, answering.hops);
  const size_t rdata_size = family == 4 ? 4 : 16;
  const uint16_t type = family == 4 ? dns::type::A : dns::type::AAAA;

  std::vector<std::pair<uint64_t, std::string>> signed_sets;
  signed_sets.reserve(sets.sets.size());
  for (const std::vector<uint16_t>& set : sets.sets) {
    zones::RRset rrset{.type = type, .ttl = out.ttl, .rdatas = {}, .signatures = {}};
    for (const uint16_t index : set) {
      rrset.rdatas.emplace_back(reinterpret_cast<const char*>(candidates.instances[index].rdata),
                                rdata_size);
    }
    ++stats.rrsets;
    std::optional<std::string> rrsig = sign(asked.name, rrset);
    if (!rrsig) {
      ++stats.failures;
      continue;
    }
    signed_sets.emplace_back(arrays::answer_set_key(set.data(), set.size()), std::move(*rrsig));
  }
  std::sort(signed_sets.begin(), signed_sets.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [set_key, rdata] : signed_sets) {
    // Two sets with one key (odds ~2^-64): the second is left unsigned.
    if (!out.keys.empty() && out.keys.back() == set_key) continue;
    out.keys.push_back(set_key);
    out.rrsigs.push_back(std::move(rdata));
  }
  return out;
}

// The types the name has: A/AAAA when a query for them gets an answer now,
// and whatever the zone holds there.
std::vector<uint16_t> name_types(const ArrayState& asked, const FamilySignatures& v4,
                                 const FamilySignatures& v6, const zones::Zone& zone) {
  std::vector<uint16_t> types;
  if (!v4.answering.empty()) types.push_back(dns::type::A);
  if (!v6.answering.empty()) types.push_back(dns::type::AAAA);
  if (const zones::Node* node = zone.find(asked.name)) {
    for (const zones::RRset& rrset : node->rrsets) types.push_back(rrset.type);
  }
  return types;
}

}  // namespace

std::shared_ptr<const arrays::ArraySignatures> sign_array(
    const ArrayState& asked, const arrays::ArrayTable& table, const zones::Zone& zone,
    const SignRrset& sign, ArraySigningStats& stats) {
  auto out = std::make_shared<arrays::ArraySignatures>();
  for (const uint8_t family : {uint8_t{4}, uint8_t{6}}) {
    const arrays::AnsweringArray answering = arrays::resolve_fallback(table, asked, family);
    (family == 4 ? out->v4 : out->v6) =
        sign_family(asked, family, answering, sign, stats);
  }

  // The zone's builder of compact NSECs (zones/dnssec.h), as for every name
  // of the zone: the bitmap with RRSIG and NSEC, the owner in lower case.
  std::vector<uint16_t> types = name_types(asked, out->v4, out->v6, zone);
  types.push_back(dns::type::RRSIG);
  types.push_back(dns::type::NSEC);
  std::string owner = asked.name;
  dns::lowercase_name(reinterpret_cast<uint8_t*>(owner.data()), owner.size());
  out->nsec = zones::compact_nsec_rdata(owner, std::move(types),
                                        zones::zero_child_covered(zone, owner));
  if (out->nsec.empty()) return out;
  // Every TTL a NODATA at the name is written with: another type asked
  // (the zone's negative TTL), or A/AAAA when that family answers NODATA.
  std::vector<uint32_t> ttls{zone.negative_ttl()};
  if (out->v4.answering.empty()) ttls.push_back(nodata_ttl(asked, 4, zone));
  if (out->v6.answering.empty()) ttls.push_back(nodata_ttl(asked, 6, zone));
  std::sort(ttls.begin(), ttls.end());
  ttls.erase(std::unique(ttls.begin(), ttls.end()), ttls.end());
  for (const uint32_t ttl : ttls) {
    const zones::RRset nsec{.type = dns::type::NSEC, .ttl = ttl, .rdatas = {out->nsec}, .signatures = {}};
    ++stats.rrsets;
    std::optional<std::string> rrsig = sign(asked.name, nsec);
    if (!rrsig) {
      ++stats.failures;
      continue;
    }
    // The NODATA's authority section with this TTL, encoded once here
    // rather than written record by record per query (responder.cc
    // add_encoded_array_nodata).
    zones::EncodedAuthority authority;
    if (zones::negative_answer_budget() > 0) {
      authority = zones::encode_array_nodata(zone, asked.name, ttl, out->nsec, *rrsig);
    }
    out->nsec_signatures.push_back({ttl, std::move(*rrsig), std::move(authority)});
  }
  return out;
}

}  // namespace rotor::dnssec
