#pragma once
// Signs a loaded zone's authoritative RRsets (RFC 4035 2.2), the work a
// snapshot builder does once per zone load: every RRset of every name at or
// below the apex and above any cut, and at a cut only the DS (the NS there and
// the glue below belong to the child). RRSIG records already in the zone (a
// pre-signed file) are not signed again. Signatures go through the cache, so
// a reload of an unchanged zone signs nothing new.
//
// Thread-safety: as the signer and cache it uses: one thread.
// Errors: a failed signature is left out and counted, never thrown.

#include <cstdint>
#include <string>
#include <vector>

#include "server/dnssec/signature_cache.h"
#include "server/dnssec/signer.h"
#include "zones/zone.h"

namespace rotor::dnssec {

struct RrsetSignature {
  std::string owner;  // lower-case wire name
  uint16_t type = 0;
  Rrsig rrsig;
};

struct ZoneSignatures {
  std::vector<RrsetSignature> signatures;  // in the zone's node order, then by type
  size_t failures = 0;
};

// The RRSIGs of `zone`'s authoritative RRsets and of `extra_apex` (the
// apex_key_rrsets of its keys, when the zone file does not carry them),
// made with `key` at `now`.
ZoneSignatures sign_zone(const zones::Zone& zone, const std::vector<zones::RRset>& extra_apex,
                         const SigningKey& key, const RrsetSigner& signer, SignatureCache& cache,
                         int64_t now);

}  // namespace rotor::dnssec
