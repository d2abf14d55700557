#pragma once
// The seam between a zone rotor signs itself (online signing, issue 17) and
// the code that signs for it. ZoneBuilder::finish asks it for the RRSIG of
// every RRset the zone signs, and the built Zone keeps it
// (Zone::online_signer) so that whatever builds snapshots can sign more RRsets
// of that zone later, with the same key and signature cache: array answer
// sets, the NSEC of a name that does not exist. server/dnssec implements it
// (online_signing.h: ZoneSigningContext); zones only knows this interface.
//
// Thread-safety: sign() may be called from several builder threads at once
// (the implementation serialises them). Never call it on the query path: it
// allocates, may take a lock and costs about 65 µs per new signature.
// Errors: sign() returns nullopt when the RRset cannot be signed; it never
// throws for data.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rotor::zones {

struct RRset;

class OnlineSigner {
 public:
  virtual ~OnlineSigner() = default;

  // The RRSIG RDATA (uncompressed wire) over `rrset` owned by `owner_wire`
  // (wire form, any case; "\x01*..." for a wildcard), made by the zone's
  // active key; the RRSIG's TTL is the RRset's. nullopt when signing failed.
  virtual std::optional<std::string> sign(std::string_view owner_wire,
                                          const RRset& rrset) const = 0;
  // The key tag of the key that signs, for logs and tests.
  virtual uint16_t key_tag() const noexcept = 0;
};

}  // namespace rotor::zones
