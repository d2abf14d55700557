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
  // The same for an NSEC made for one query name (compact denial of a name
  // that does not exist, a wildcard's proof): the denial signer's records,
  // which a flood of random names makes by the thousand and which are rarely
  // asked for twice. An implementation keeps them apart from the zone's and
  // the arrays' signatures (online_signing.h: their own cache budget), so
  // such a flood cannot evict those. By default the same as sign().
  virtual std::optional<std::string> sign_denial(std::string_view owner_wire,
                                                 const RRset& rrset) const {
    return sign(owner_wire, rrset);
  }
  // The key tag of the key that signs, for logs and tests.
  virtual uint16_t key_tag() const noexcept = 0;
};

}  // namespace rotor::zones
