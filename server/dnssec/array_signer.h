#pragma once
// Signs an array's answers for a snapshot (issue 17): every answer set a DO
// query can get for each family (arrays/signed_answers.h enumerates them),
// answered by the array itself or by the fallback resolve_fallback picks in
// `table`, signed under the asked array's name with the TTL the responder
// writes; and the compact-denial NSEC (RFC 9824) at the name for its NODATA
// answers, whose bitmap holds the types the name has: A and/or AAAA when that
// family answers, the zone's own types there, RRSIG and NSEC; with each of
// its signatures, the whole authority section of a DO NODATA there with that
// TTL (SOA, NSEC, their RRSIGs), encoded for the responder to copy
// (zones::encode_array_nodata; off when zones::negative_answer_budget() is 0).
//
// Runs on the snapshot builder's thread, never on the query path. Signing
// goes through `sign` (the zone's online signer: its key and the signature
// cache, so a health flap back to a known set signs nothing).
//
// Thread-safety: as `sign`.
// Errors: a set whose signature fails is left out and counted (a DO answer
// with that set is then unsigned); never throws for data.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/arrays/array_table.h"
#include "server/arrays/signed_answers.h"
#include "zones/zone.h"

namespace rotor::dnssec {

struct ArraySigningStats {
  size_t rrsets = 0;    // answer sets and NSEC TTLs signed (or found in the cache)
  size_t failures = 0;  // of them, not signed
};

// The RRSIG RDATA over `rrset` owned by `owner_wire`, or nullopt on failure.
using SignRrset =
    std::function<std::optional<std::string>(std::string_view owner_wire, const zones::RRset&)>;

// `asked` is in `zone`, which `sign` signs for; `table` is the snapshot's
// array table, for fallbacks.
std::shared_ptr<const arrays::ArraySignatures> sign_array(const arrays::ArrayState& asked,
                                                          const arrays::ArrayTable& table,
                                                          const zones::Zone& zone,
                                                          const SignRrset& sign,
                                                          ArraySigningStats& stats);

}  // namespace rotor::dnssec
