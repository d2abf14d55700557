#include "server/dnssec/online_signing.h"

#include <utility>

namespace rotor::dnssec {
namespace {

constexpr uint16_t kTypeNsec = 47;
constexpr uint16_t kTypeNsec3 = 50;
constexpr uint16_t kTypeNsec3Param = 51;

// Records rotor makes for a zone it signs; a zone file with any of them is
// signed already, or would clash with the keys rotor publishes.
bool is_dnssec_type(uint16_t type) noexcept {
  switch (type) {
    case kTypeRrsig:
    case kTypeNsec:
    case kTypeDnskey:
    case kTypeNsec3:
    case kTypeNsec3Param:
    case kTypeCds:
    case kTypeCdnskey:
      return true;
    default:
      return false;
  }
}

const char* type_name(uint16_t type) noexcept {
  switch (type) {
    case kTypeRrsig: return "RRSIG";
    case kTypeNsec: return "NSEC";
    case kTypeDnskey: return "DNSKEY";
    case kTypeNsec3: return "NSEC3";
    case kTypeNsec3Param: return "NSEC3PARAM";
    case kTypeCds: return "CDS";
    case kTypeCdnskey: return "CDNSKEY";
    default: return "?";
  }
}

}  // namespace

SharedSignatureCache::SharedSignatureCache(size_t max_bytes, size_t denial_max_bytes)
    : state_(max_bytes, denial_max_bytes) {}

std::optional<Rrsig> SharedSignatureCache::signature(const RrsetSigner& signer,
                                                     const SigningKey& key,
                                                     std::string_view owner_wire,
                                                     const zones::RRset& rrset, int64_t now,
                                                     Pool pool) {
  auto state = state_.lock();
  SignatureCache& cache = pool == Pool::denial ? state->denial : state->cache;
  const uint64_t hits = cache.stats().hits;
  auto rrsig = cache.signature(signer, key, owner_wire, rrset, now);
  if (!rrsig) {
    ++state->failures;
  } else if (cache.stats().hits == hits) {
    ++state->signatures_made;
  }
  return rrsig;
}

SharedSignatureCache::Stats SharedSignatureCache::stats() const {
  auto state = state_.lock();
  return Stats{state->cache.stats(), state->denial.stats(), state->signatures_made,
               state->failures};
}

ZoneSigningContext::ZoneSigningContext(ZoneKeys keys, std::string keys_dir,
                                       std::shared_ptr<SharedSignatureCache> cache,
                                       std::shared_ptr<const zones::Zone> source,
                                       RrsetSigner::Clock now)
    : keys_(std::move(keys)),
      keys_dir_(std::move(keys_dir)),
      cache_(std::move(cache)),
      source_(std::move(source)),
      now_(std::move(now)),
      signer_(now_) {}

std::optional<std::string> ZoneSigningContext::sign(std::string_view owner_wire,
                                                    const zones::RRset& rrset) const {
  auto rrsig = cache_->signature(signer_, active(), owner_wire, rrset, now_());
  if (!rrsig) return std::nullopt;
  return std::move(rrsig->rdata);
}

std::optional<std::string> ZoneSigningContext::sign_denial(std::string_view owner_wire,
                                                           const zones::RRset& rrset) const {
  auto rrsig = cache_->signature(signer_, active(), owner_wire, rrset, now_(),
                                 SharedSignatureCache::Pool::denial);
  if (!rrsig) return std::nullopt;
  return std::move(rrsig->rdata);
}

std::optional<std::string> presigned_record(const zones::Zone& source) {
  for (const zones::Node& node : source.nodes()) {
    for (const zones::RRset& rrset : node.rrsets) {
      if (is_dnssec_type(rrset.type)) {
        return std::string(type_name(rrset.type)) + " at " + zones::name_to_text(node.name);
      }
    }
  }
  return std::nullopt;
}

SignedZone build_signed_zone(std::shared_ptr<const zones::Zone> source, ZoneKeys keys,
                             std::string keys_dir, std::shared_ptr<SharedSignatureCache> cache,
                             RrsetSigner::Clock now) {
  if (auto record = presigned_record(*source)) {
    return {nullptr, "the zone file is signed already (" + *record +
                         "): a zone rotor signs (dnssec.keys) must come unsigned"};
  }
  const std::vector<zones::RRset> key_rrsets = apex_key_rrsets(keys.keys);
  auto context = std::make_shared<const ZoneSigningContext>(std::move(keys), std::move(keys_dir),
                                                            std::move(cache), source, std::move(now));
  zones::ZoneBuilder builder(source->origin());
  const auto add_rrset = [&](const std::string& owner, const zones::RRset& rrset) {
    std::optional<std::string> error;
    for (const std::string& rdata : rrset.rdatas) {
      if (!error) error = builder.add(owner, rrset.type, 1, rrset.ttl, rdata);
    }
    return error;
  };
  for (const zones::Node& node : source->nodes()) {
    for (const zones::RRset& rrset : node.rrsets) {
      if (auto error = add_rrset(node.name, rrset)) return {nullptr, *error};
    }
  }
  for (const zones::RRset& rrset : key_rrsets) {
    if (auto error = add_rrset(source->origin(), rrset)) return {nullptr, *error};
  }
  builder.sign_online(context);
  SignedZone out;
  if (auto error = builder.finish(out.zone)) return {nullptr, *error};
  return out;
}

}  // namespace rotor::dnssec
