#pragma once
// Response rate limiting (RRL) in the manner of NSD's and Knot's: each client
// prefix (IPv4 /24, IPv6 /56 by default) gets `responses_per_second` replies a
// second; beyond that replies are dropped, except every `slip`-th limited one,
// which goes out truncated so that a real client behind a spoofed flood can
// still retry over TCP. Only UDP replies are limited: TCP proves the source.
//
// One table serves every worker. It is allocated once at construction and
// never again; each slot is one 64-bit atomic word holding a tag of the
// prefix's hash, the second it counts for, and the count, updated by
// compare-exchange, so admit() takes no lock and allocates nothing.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>
#include <sys/socket.h>

#include "server/arrays/array.h"

namespace rotor {

// A network never limited: `address` with its first `length` bits significant
// (the rest are zero).
struct RateLimitExempt {
  arrays::IpAddress address;
  uint8_t length = 0;
};

struct RateLimiterOptions {
  uint32_t responses_per_second = 0;  // 0: off (no limiter is built)
  uint32_t slip = 2;                  // every slip-th limited reply is truncated; 0: none
  uint8_t ipv4_prefix = 24;
  uint8_t ipv6_prefix = 56;
  size_t table_size = 65536;  // slots; a power of two
  std::vector<RateLimitExempt> exempt;
  // Keys the prefix hash so that nobody can pick prefixes that collide with a
  // victim's. 0: chosen at random at construction (tests pass their own).
  uint64_t hash_seed = 0;
};

class RateLimiter {
 public:
  enum class Verdict : uint8_t { pass, drop, slip };

  // Allocates the table. Throws std::invalid_argument when a setting is out
  // of range (the config layer has already checked them).
  explicit RateLimiter(RateLimiterOptions options);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Counts one reply to `client` in second `now_seconds` (any monotonic clock
  // shared by the callers) and says what to do with it. Any thread, at once.
  // A client that is not IPv4 or IPv6 (or null) always passes. An IPv4-mapped
  // IPv6 address counts as its IPv4 address.
  Verdict admit(const sockaddr* client, uint32_t now_seconds) noexcept;

  const RateLimiterOptions& options() const noexcept { return options_; }

  // Slot layout, low bits first: count, second, tag. The count saturates; the
  // second wraps after 2^20 s (12 days), far beyond any slot's useful life.
  static constexpr unsigned kCountBits = 24;
  static constexpr unsigned kSecondBits = 20;
  static constexpr unsigned kTagBits = 64 - kCountBits - kSecondBits;
  static constexpr uint32_t kMaxResponsesPerSecond = 1000000;  // well below the count's range

 private:
  // An address as a 128-bit big-endian number, IPv4 in the top 32 bits of
  // `hi`, so that masking to a prefix length works alike for both families.
  struct Key {
    uint64_t hi = 0, lo = 0;
    bool v6 = false;
  };
  struct Network {
    Key key;  // masked to `length`
    unsigned length = 0;
  };
  static bool key_of(const sockaddr* client, Key& out) noexcept;
  static Key masked(Key key, unsigned length) noexcept;
  bool is_exempt(const Key& client) const noexcept;
  uint64_t hash(const Key& prefix) const noexcept;

  RateLimiterOptions options_;
  std::vector<Network> exempt_;
  uint64_t seed_ = 0;
  uint64_t mask_ = 0;  // table_size - 1
  std::unique_ptr<std::atomic<uint64_t>[]> table_;
};

// Rewrites the UDP reply in `message[0, length)` in place into what a slipped
// reply carries: the header with TC set and the answer, authority and
// additional counts zero, followed by the question section as it was. Returns
// the new length (a header alone when the question cannot be walked), or 0
// when `length` is shorter than a header.
size_t truncate_to_question(uint8_t* message, size_t length) noexcept;

}  // namespace rotor
