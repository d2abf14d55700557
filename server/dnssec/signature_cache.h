#pragma once
// A bounded cache of RRSIGs keyed by (key tag, canonical RRset bytes), so an
// RRset that comes back (an array answer with the same instances, in any
// order) is not signed again. Entries are dropped least recently used first
// when the cache would exceed its byte budget (evictions counted), and a
// signature whose expiration is closer than the refresh margin is a miss, so
// it is signed again well before validators would reject it.
//
// Memory: an entry costs its key (2 + canonical RRset bytes) plus its RRSIG
// RDATA plus kEntryOverhead (list and hash nodes, string headers); entry_bytes()
// is the figure the budget counts. server/dnssec/README.md has the sizes.
//
// Not wired into the query path: it serves whoever signs (the snapshot
// builder's thread), which owns it. Thread-safety: none; one owner thread.
// Errors: none; signature() returns nullopt when the signer fails.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/dnssec/signer.h"

namespace rotor::dnssec {

// The RRset as RFC 4034 6.3 orders it, as the cache's key: for each record,
// sorted by RDATA (octet order, shorter first), the lower-cased owner, type,
// class IN, TTL, RDATA length and RDATA. Names inside RDATA keep their case
// (two RRsets differing only there get two entries; ldns signs both right).
std::string canonical_rrset(std::string_view owner_wire, const zones::RRset& rrset);

class SignatureCache {
 public:
  static constexpr size_t kEntryOverhead = 160;

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;     // absent entries
    uint64_t refreshes = 0;  // present but due for refresh
    uint64_t evictions = 0;
    size_t entries = 0;
    size_t bytes = 0;
  };

  // `max_bytes`: the budget; `refresh_margin`: seconds before expiration from
  // which a cached signature counts as due (default half the validity).
  explicit SignatureCache(size_t max_bytes, int64_t refresh_margin = kValidity / 2);

  // The cached RRSIG for the key and RRset when it is valid for longer than
  // the margin at `now`; nullptr otherwise (a miss or a refresh, counted).
  // The pointer is valid until the next store() or signature().
  const Rrsig* find(uint16_t key_tag, std::string_view canonical, int64_t now);
  // Stores (or replaces) the entry and evicts least recently used ones until
  // the cache fits its budget again. An entry larger than the budget is not kept.
  void store(uint16_t key_tag, std::string_view canonical, Rrsig signature);

  // find(), else sign with `signer` at `now` and store.
  std::optional<Rrsig> signature(const RrsetSigner& signer, const SigningKey& key,
                                 std::string_view owner_wire, const zones::RRset& rrset,
                                 int64_t now);

  static size_t entry_bytes(size_t canonical_size, size_t rdata_size) noexcept;
  const Stats& stats() const noexcept { return stats_; }

 private:
  struct Entry {
    uint16_t key_tag;
    std::string canonical;
    Rrsig signature;
  };
  // A view of an entry's key, or of the caller's: lookups copy nothing.
  struct EntryKey {
    uint16_t key_tag;
    std::string_view canonical;
    bool operator==(const EntryKey&) const = default;
  };
  struct EntryKeyHash {
    size_t operator()(const EntryKey& key) const noexcept;
  };
  void erase(std::list<Entry>::iterator entry);

  size_t max_bytes_;
  int64_t refresh_margin_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<EntryKey, std::list<Entry>::iterator, EntryKeyHash> index_;
  Stats stats_;
};

}  // namespace rotor::dnssec
