#pragma once
// One worker's cache of signed compact-denial NSEC records (RFC 9824): query
// name -> the NSEC RDATA, TTL and its RRSIG, made by the denial signer
// (server/dnssec/denial_signer.h) and answered from by the query path.
//
// Fixed capacity, allocated once by the constructor; find() and insert()
// allocate nothing. Set-associative: a name hashes to one set of kWays
// entries and evicts that set's least recently used entry. No tombstones or
// global lists to keep: an operation touches kWays entries, whatever the
// load, and a flood of names evicts only within the sets it hashes to.
//
// An entry is answered only while it matches what the query path would sign
// now (same key, TTL and RDATA) and its signature has more than the refresh
// margin left; otherwise it is a miss and is signed again.
//
// Thread-safety: none; the worker thread that owns it. Errors: none.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "server/dnssec/compact_denial.h"

namespace rotor {

class DenialCache {
 public:
  static constexpr size_t kWays = 4;
  // Signatures are made for 7 days; one with less than half of that left is
  // signed again, as the signature cache does (server/dnssec/README.md).
  static constexpr int32_t kRefreshMargin = 7 * 86400 / 2;

  // Room for at least `capacity` entries (rounded up to a power-of-two
  // number of sets); about sizeof(SignedDenial) ~ 900 bytes each.
  explicit DenialCache(size_t capacity);
  DenialCache(const DenialCache&) = delete;
  DenialCache& operator=(const DenialCache&) = delete;

  // The signed NSEC for `record` by `key`, or null. `now`: Unix seconds.
  const dnssec::SignedDenial* find(const zones::OnlineSigner* key,
                                   const dnssec::DenialRecord& record, uint32_t now) noexcept;
  // Keeps `signed_denial` (a failed signature is ignored), replacing the
  // entry of the same key and owner, else the set's least recently used one.
  void insert(const dnssec::SignedDenial& signed_denial) noexcept;
  // Forgets everything (a zone's key changed). Not on the query path: it
  // releases the entries' keys.
  void clear() noexcept;

  size_t capacity() const noexcept { return sets_ * kWays; }
  size_t size() const noexcept { return size_; }
  uint64_t evictions() const noexcept { return evictions_; }

 private:
  struct Entry {
    uint64_t hash = 0;  // 0: empty
    uint64_t last_used = 0;
    dnssec::SignedDenial value;
  };
  static uint64_t hash_of(const zones::OnlineSigner* key, std::string_view owner) noexcept;
  Entry* set_of(uint64_t hash) noexcept { return entries_.get() + (hash & (sets_ - 1)) * kWays; }

  size_t sets_;
  std::unique_ptr<Entry[]> entries_;
  uint64_t clock_ = 0;
  size_t size_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace rotor
