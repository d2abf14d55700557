#pragma once
// Zones rotor signs itself (a zone with "dnssec": {"keys": DIR} in the
// config): the per-zone signing context that the signed Zone keeps as its
// zones::OnlineSigner, the signature cache every zone shares (kept across
// reloads and re-signs, so an unchanged zone signs nothing new), and the build
// of a signed zone from the unsigned one the zone file gave.
//
// This is where snapshot builders sign more RRsets of a zone later (array
// answer sets, per-name denial NSECs): `zone.online_signer()->sign(owner,
// rrset)`, on their own thread, never on the query path.
//
// Thread-safety: SharedSignatureCache and ZoneSigningContext::sign are safe
// from any thread (one mutex around the cache and ldns, which signs with one
// key on one thread at a time); build_signed_zone is a plain function.
// Errors: signing failures are counted and returned as nullopt / an error
// sentence; nothing here throws for data.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "server/common/lock_guarded.h"
#include "server/dnssec/key_files.h"
#include "server/dnssec/signature_cache.h"
#include "server/dnssec/signer.h"
#include "zones/online_signer.h"
#include "zones/zone.h"

namespace rotor::dnssec {

// The signature cache's default budgets (README "The signature cache"): the
// zones' and arrays' RRsets, and apart from them the NSECs signed per query
// name for the denial signer (OnlineSigner::sign_denial), so that a flood of
// random names evicts only its own kind.
inline constexpr size_t kDefaultSignatureCacheBytes = size_t{256} << 20;
inline constexpr size_t kDefaultDenialSignatureCacheBytes = size_t{32} << 20;

// Two SignatureCaches behind one lock: `cache` for the RRsets of zones and
// arrays, `denial` for the NSECs made per query name, each with its own
// budget and LRU order, so one kind never evicts the other.
class SharedSignatureCache {
 public:
  enum class Pool : uint8_t { answers, denial };

  struct Stats {
    SignatureCache::Stats cache;   // Pool::answers
    SignatureCache::Stats denial;  // Pool::denial
    uint64_t signatures_made = 0;  // new RRSIGs ldns made (misses and refreshes), both pools
    uint64_t failures = 0;         // RRsets ldns could not sign
  };

  explicit SharedSignatureCache(size_t max_bytes = kDefaultSignatureCacheBytes,
                                size_t denial_max_bytes = kDefaultDenialSignatureCacheBytes);

  // The cached RRSIG in `pool`, else a new one (stored there); nullopt when
  // ldns fails.
  std::optional<Rrsig> signature(const RrsetSigner& signer, const SigningKey& key,
                                 std::string_view owner_wire, const zones::RRset& rrset,
                                 int64_t now, Pool pool = Pool::answers);
  Stats stats() const;

 private:
  struct State {
    State(size_t max_bytes, size_t denial_max_bytes) : cache(max_bytes), denial(denial_max_bytes) {}
    SignatureCache cache;
    SignatureCache denial;
    uint64_t signatures_made = 0;
    uint64_t failures = 0;
  };
  LockGuarded<State> state_;
};

// One signed zone's keys and where signing goes: the zone's OnlineSigner.
// Also remembers what the zone was built from (the unsigned zone and the key
// directory), so that the periodic re-sign can build it again.
class ZoneSigningContext final : public zones::OnlineSigner {
 public:
  ZoneSigningContext(ZoneKeys keys, std::string keys_dir,
                     std::shared_ptr<SharedSignatureCache> cache,
                     std::shared_ptr<const zones::Zone> source,
                     RrsetSigner::Clock now = RrsetSigner::system_now);

  std::optional<std::string> sign(std::string_view owner_wire,
                                  const zones::RRset& rrset) const override;
  // Through the cache's denial pool (SharedSignatureCache::Pool::denial).
  std::optional<std::string> sign_denial(std::string_view owner_wire,
                                         const zones::RRset& rrset) const override;
  uint16_t key_tag() const noexcept override { return active().tag(); }

  const SigningKey& active() const noexcept { return keys_.keys[keys_.active]; }
  const ZoneKeys& keys() const noexcept { return keys_; }
  const std::string& keys_dir() const noexcept { return keys_dir_; }
  const std::shared_ptr<const zones::Zone>& source() const noexcept { return source_; }
  const std::shared_ptr<SharedSignatureCache>& cache() const noexcept { return cache_; }
  const RrsetSigner::Clock& clock() const noexcept { return now_; }

 private:
  ZoneKeys keys_;
  std::string keys_dir_;
  std::shared_ptr<SharedSignatureCache> cache_;
  std::shared_ptr<const zones::Zone> source_;
  RrsetSigner::Clock now_;
  RrsetSigner signer_;
};

// The DNSSEC record types a zone rotor signs may not bring itself: a zone
// file holding one is signed already (or half so). The first one found, as
// "RRSIG at www.example.com.", or nullopt.
std::optional<std::string> presigned_record(const zones::Zone& source);

struct SignedZone {
  std::shared_ptr<const zones::Zone> zone;  // null when `error` is set
  std::string error;                        // one sentence, no file name
};

// `source` (an unsigned zone) signed with `keys`: its records plus the apex
// DNSKEY, CDS and CDNSKEY RRsets, each RRset signed, compact-denial NSECs at
// every name (ZoneBuilder::sign_online). Refuses a source that has DNSSEC
// records of its own (presigned_record).
SignedZone build_signed_zone(std::shared_ptr<const zones::Zone> source, ZoneKeys keys,
                             std::string keys_dir, std::shared_ptr<SharedSignatureCache> cache,
                             RrsetSigner::Clock now = RrsetSigner::system_now);

}  // namespace rotor::dnssec
