#pragma once
// Signed array answers (issue 17, server/dnssec/README.md "How the query path
// gets signatures"): the RRSIGs of every answer set an array can give a DO
// query, made when a snapshot is built (dnssec/array_signer.h), and the
// query-path lookups that find the one covering the chosen instances.
//
// An RRSIG covers the RRset in canonical order, so it depends on which
// instances are in the answer, not on their order: a set is keyed by an
// order-independent hash of its candidate indices (answer_set_key), and the
// keys are kept sorted for a binary search. The sets are enumerated here
// (answer_sets), purely from the answering array's FamilyCandidates:
// - no cap, or max_answers k >= the n candidates: one set, all of them;
// - round_robin and weighted (and geo/sticky when they fall back to the
//   weighted order): the rotation windows of k over the candidates, n sets;
// - geo and sticky with k < n: every k-subset when C(n, k) <= kSignedSetBudget;
//   over it, ring mode: a DO answer is the policy's lead followed by the
//   next k-1 candidates in candidate order (ring_window), n sets.
// Panic and fail-open need nothing of their own: the candidates already are
// every enabled instance then.
//
// Thread-safety: immutable once built; the query path reads them from any
// thread. Errors: lookups return null when nothing matches (impossible by
// construction: the responder asserts and answers unsigned).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/arrays/array_state.h"
#include "server/arrays/selector.h"
#include "zones/zone.h"

namespace rotor::arrays {

// The most k-subsets signed per family and array state. 256 ECDSA P-256
// signatures are about 17 ms of the builder's core (65 µs each) and 256 x
// ~180 B of snapshot memory; C(8,4) = 70, C(10,3) = 120 and C(10,5) = 252 fit,
// C(12,6) = 924 does not and is answered in ring mode instead.
inline constexpr size_t kSignedSetBudget = 256;

// The sets one family's DO answers can be, as candidate indices (sorted).
struct AnswerSets {
  bool ring = false;     // over budget: answers follow ring_window
  uint16_t window = 0;   // the answer size k
  std::vector<std::vector<uint16_t>> sets;
};

// The answer sets of `family` of `answering` (its candidates after health,
// panic and fail-open); none when it answers NODATA. Control plane.
AnswerSets answer_sets(const ArrayState& answering, uint8_t family, size_t budget = kSignedSetBudget);

// Order-independent: the same key for the same indices in any order.
uint64_t answer_set_key(const uint16_t* indices, size_t count) noexcept;

struct FamilySignatures {
  // Which array answered when these were signed (the asked one, or the
  // fallback resolve_fallback chose: fallback.h), lower-case wire; empty
  // when the family answers NODATA. The query path checks it.
  std::string answering;
  uint16_t candidates = 0;  // the answering family's candidate count, checked likewise
  bool ring = false;
  uint16_t window = 0;
  uint32_t ttl = 0;                 // the answer TTL: the RRSIGs' original TTL
  std::vector<uint64_t> keys;       // sorted answer_set_key of each signed set
  std::vector<std::string> rrsigs;  // RRSIG RDATA, parallel to keys

  // The RRSIG RDATA of the set with `key`, or null. No allocation.
  const std::string* find(uint64_t key) const noexcept;
};

struct ArraySignatures {
  FamilySignatures v4, v6;
  // Compact denial (RFC 9824) for NODATA at the array's name: the NSEC RDATA
  // (next name "\000.<name>", the types the name has) and its RRSIG for each
  // TTL a negative answer there uses, with the whole authority section of a
  // DO NODATA with that TTL (the SOA and this NSEC, each with its RRSIG)
  // encoded after a question of the name (zones::encode_array_nodata), which
  // the responder copies when it is all the message holds.
  std::string nsec;
  struct NsecSignature {
    uint32_t ttl = 0;
    std::string rrsig;
    zones::EncodedAuthority nodata_authority;
  };
  std::vector<NsecSignature> nsec_signatures;

  const FamilySignatures& family(uint8_t family) const noexcept { return family == 4 ? v4 : v6; }
  const NsecSignature* nsec_signature(uint32_t ttl) const noexcept;
};

// Ring mode: keeps the selection's lead (scratch.chosen[0]) and makes the
// answer it followed by the next `window` - 1 candidates in candidate order,
// wrapping. Pure and allocation-free.
void ring_window(const FamilyCandidates& candidates, uint16_t window, SelectionScratch& scratch,
                 Selection& selection) noexcept;

// The key of the selection's answer (scratch.chosen, `count` of them from
// `candidates`). No allocation.
uint64_t chosen_set_key(const FamilyCandidates& candidates, const SelectionScratch& scratch,
                        uint16_t count) noexcept;

}  // namespace rotor::arrays
