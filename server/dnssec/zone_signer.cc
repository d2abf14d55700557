#include "server/dnssec/zone_signer.h"

namespace rotor::dnssec {
namespace {

constexpr uint16_t kTypeDs = 43;

// RFC 4035 2.2: which RRsets of a node the zone signs.
bool is_signed(const zones::Node& node, const zones::RRset& rrset) {
  if (node.below_delegation || rrset.type == kTypeRrsig) return false;
  return !node.is_delegation || rrset.type == kTypeDs;
}

void add(ZoneSignatures& out, const std::string& owner, const zones::RRset& rrset,
         const SigningKey& key, const RrsetSigner& signer, SignatureCache& cache, int64_t now) {
  auto rrsig = cache.signature(signer, key, owner, rrset, now);
  if (!rrsig) {
    ++out.failures;
    return;
  }
  out.signatures.push_back(RrsetSignature{owner, rrset.type, std::move(*rrsig)});
}

}  // namespace

ZoneSignatures sign_zone(const zones::Zone& zone, const std::vector<zones::RRset>& extra_apex,
                         const SigningKey& key, const RrsetSigner& signer, SignatureCache& cache,
                         int64_t now) {
  ZoneSignatures out;
  for (const zones::Node& node : zone.nodes()) {
    for (const zones::RRset& rrset : node.rrsets) {
      if (is_signed(node, rrset)) add(out, node.name, rrset, key, signer, cache, now);
    }
  }
  for (const zones::RRset& rrset : extra_apex) add(out, zone.origin(), rrset, key, signer, cache, now);
  return out;
}

}  // namespace rotor::dnssec
