#pragma once
// Signs one RRset with one key: the RRSIG RDATA (RFC 4034 3) over the RRset in
// canonical form (RFC 4034 6: owner and RDATA names lower-cased, records
// sorted by RDATA, the RRset's TTL as the original TTL, the label count
// without a wildcard's "*"), made by ldns_sign_public. Validity: from an hour
// before now (clocks of validators run behind) to seven days after; now comes
// from an injectable clock.
//
// Also the RRsets a signed zone publishes at its apex for its keys: DNSKEY,
// CDS and CDNSKEY (RFC 7344, RFC 8078), ready to add to a zone.
//
// Thread-safety: a signer is immutable, but signing sets the key's validity
// window in ldns, so one key signs on one thread at a time.
// Errors: sign() returns nullopt when ldns cannot sign (never throws for data).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/dnssec/signing_key.h"
#include "zones/zone.h"

namespace rotor::dnssec {

inline constexpr uint16_t kTypeRrsig = 46;
inline constexpr uint16_t kTypeDnskey = 48;
inline constexpr uint16_t kTypeCds = 59;
inline constexpr uint16_t kTypeCdnskey = 60;
inline constexpr int64_t kInceptionBeforeNow = 3600;
inline constexpr int64_t kValidity = 7 * 86400;

struct Rrsig {
  std::string rdata;  // uncompressed wire RDATA of the RRSIG record
  uint32_t inception = 0;
  uint32_t expiration = 0;
};

class RrsetSigner {
 public:
  using Clock = std::function<int64_t()>;  // Unix seconds
  static int64_t system_now();

  explicit RrsetSigner(Clock now = system_now);

  // The RRSIG of `rrset` (class IN) owned by `owner_wire` (wire form, any
  // case; "\x01*..." for a wildcard), signed by `key`; nullopt for an empty
  // RRset or when ldns fails.
  std::optional<Rrsig> sign(std::string_view owner_wire, const zones::RRset& rrset,
                            const SigningKey& key) const;

 private:
  Clock now_;
};

// The apex RRsets for `keys`, sorted by type: DNSKEY (every key), CDS (the
// SHA-256 DS of every key) and CDNSKEY (every key), TTL kDnskeyTtl. Every key
// is in CDS, so a parent that scans (RFC 7344) follows a rollover: it adds the
// DS of a key once it is published and drops it once its files are removed.
std::vector<zones::RRset> apex_key_rrsets(const std::vector<SigningKey>& keys);

// The RRSIG RDATA's fields the cache needs; nullopt when too short.
struct RrsigHeader {
  uint16_t type_covered = 0;
  uint8_t algorithm = 0;
  uint8_t labels = 0;
  uint32_t original_ttl = 0;
  uint32_t expiration = 0;
  uint32_t inception = 0;
  uint16_t key_tag = 0;
};
std::optional<RrsigHeader> read_rrsig_header(std::string_view rdata) noexcept;

}  // namespace rotor::dnssec
