#include "server/query/rate_limiter.h"

#include <netinet/in.h>

#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "server/common/client_ip.h"
#include "server/common/mix.h"
#include "server/dns/wire.h"

namespace rotor {

namespace {

constexpr uint64_t kCountMask = (uint64_t{1} << RateLimiter::kCountBits) - 1;
constexpr uint32_t kSecondMask = (uint32_t{1} << RateLimiter::kSecondBits) - 1;
constexpr unsigned kSecondShift = RateLimiter::kCountBits;
constexpr unsigned kTagShift = RateLimiter::kCountBits + RateLimiter::kSecondBits;
// Workers read their loop's cached clock, so one may already be a second ahead
// of another: a slot stamped a little in the future is still the current one.
constexpr uint32_t kClockSkewSeconds = 2;

uint64_t load_be64(const uint8_t* bytes) noexcept {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | bytes[i];
  return value;
}

bool is_v4_mapped(const uint8_t bytes[16]) noexcept {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes, kPrefix, sizeof kPrefix) == 0;
}

uint64_t random_seed() {
  std::random_device device;
  uint64_t seed = 0;
  while (seed == 0) seed = (uint64_t{device()} << 32) ^ device();
  return seed;
}

[[noreturn]] void invalid(const std::string& what) {
  throw std::invalid_argument("rate limiter: " + what);
}

}  // namespace

RateLimiter::RateLimiter(RateLimiterOptions options) : options_(std::move(options)) {
  const RateLimiterOptions& o = options_;
  if (o.responses_per_second == 0 || o.responses_per_second > kMaxResponsesPerSecond) {
    invalid("responses_per_second out of range: " + std::to_string(o.responses_per_second));
  }
  if (o.ipv4_prefix > 32 || o.ipv6_prefix > 128) invalid("prefix length out of range");
  if (o.table_size == 0 || (o.table_size & (o.table_size - 1)) != 0 ||
      o.table_size > (size_t{1} << (64 - kTagBits))) {
    invalid("table_size must be a power of two, got " + std::to_string(o.table_size));
  }
  for (const RateLimitExempt& network : o.exempt) {
    Key key;
    unsigned length = network.length;
    if (network.address.family == 4) {
      if (length > 32) invalid("exempt prefix longer than 32");
      key.hi = uint64_t{load_be64(network.address.bytes) >> 32} << 32;
    } else if (network.address.family == 6) {
      if (length > 128) invalid("exempt prefix longer than 128");
      if (is_v4_mapped(network.address.bytes) && length >= 96) {
        // Clients' mapped addresses are looked at as IPv4; so are these.
        key.hi = load_be64(network.address.bytes + 8) << 32;
        length -= 96;
      } else {
        key = {load_be64(network.address.bytes), load_be64(network.address.bytes + 8), true};
      }
    } else {
      invalid("exempt network without an address family");
    }
    exempt_.push_back({masked(key, length), length});
  }
  seed_ = o.hash_seed != 0 ? o.hash_seed : random_seed();
  mask_ = o.table_size - 1;
  // Value-initialised: every slot starts empty (count 0).
  table_.reset(new std::atomic<uint64_t>[o.table_size]());
}

bool RateLimiter::key_of(const sockaddr* client, Key& out) noexcept {
  const ClientIp ip = client_ip(client);
  if (ip.family == 4) {
    out = {load_be64(ip.bytes) >> 32 << 32, 0, false};
    return true;
  }
  if (ip.family == 6) {
    out = {load_be64(ip.bytes), load_be64(ip.bytes + 8), true};
    return true;
  }
  return false;
}

RateLimiter::Key RateLimiter::masked(Key key, unsigned length) noexcept {
  if (length == 0) return {0, 0, key.v6};
  if (length < 64) return {key.hi & (~uint64_t{0} << (64 - length)), 0, key.v6};
  if (length == 64) return {key.hi, 0, key.v6};
  if (length < 128) return {key.hi, key.lo & (~uint64_t{0} << (128 - length)), key.v6};
  return key;
}

bool RateLimiter::is_exempt(const Key& client) const noexcept {
  for (const Network& network : exempt_) {
    if (network.key.v6 != client.v6) continue;
    const Key key = masked(client, network.length);
    if (key.hi == network.key.hi && key.lo == network.key.lo) return true;
  }
  return false;
}

uint64_t RateLimiter::hash(const Key& prefix) const noexcept {
  return mix64(mix64(seed_ ^ prefix.hi) ^ prefix.lo ^ (prefix.v6 ? 0x9e3779b97f4a7c15ULL : 0));
}

RateLimiter::Verdict RateLimiter::admit(const sockaddr* client, uint32_t now_seconds) noexcept {
  Key key;
  if (!key_of(client, key)) return Verdict::pass;
  if (!exempt_.empty() && is_exempt(key)) return Verdict::pass;
  const uint64_t h = hash(masked(key, key.v6 ? options_.ipv6_prefix : options_.ipv4_prefix));
  const uint64_t tag = h >> kTagShift;
  const uint32_t now = now_seconds & kSecondMask;
  std::atomic<uint64_t>& slot = table_[h & mask_];

  // The slot is the only data shared: nothing is published through it, so
  // relaxed ordering suffices; the compare-exchange makes every count unique.
  uint64_t old = slot.load(std::memory_order_relaxed);
  uint64_t count = 0;
  for (;;) {
    const uint64_t old_count = old & kCountMask;
    const auto old_second = static_cast<uint32_t>((old >> kSecondShift) & kSecondMask);
    const bool current = old_count != 0 && (old >> kTagShift) == tag &&
                         ((old_second - now) & kSecondMask) <= kClockSkewSeconds;
    // Another prefix's slot, or a past second: this prefix starts afresh (a
    // prefix colliding with a busy one takes the slot over, as in NSD).
    uint32_t second = now;
    count = 1;
    if (current) {
      second = old_second;
      count = old_count < kCountMask ? old_count + 1 : old_count;
    }
    const uint64_t desired = (tag << kTagShift) | (uint64_t{second} << kSecondShift) | count;
    if (desired == old) break;  // saturated: nothing to write
    if (slot.compare_exchange_weak(old, desired, std::memory_order_relaxed,
                                   std::memory_order_relaxed)) {
      break;
    }
  }

  if (count <= options_.responses_per_second) return Verdict::pass;
  const uint64_t limited = count - options_.responses_per_second;  // 1 for the first one limited
  if (options_.slip != 0 && limited % options_.slip == 0) return Verdict::slip;
  return Verdict::drop;
}

size_t truncate_to_question(uint8_t* message, size_t length) noexcept {
  if (length < dns::kHeaderSize) return 0;
  const uint16_t questions = dns::read_u16(message + 4);
  size_t end = dns::kHeaderSize;
  uint16_t kept = 0;
  dns::WireName name;
  for (; kept < questions; ++kept) {
    size_t offset = end;
    if (!dns::read_name(message, length, offset, name, false) || offset + 4 > length) break;
    end = offset + 4;  // type and class
  }
  if (kept != questions) {  // a question we cannot walk is not sent half
    kept = 0;
    end = dns::kHeaderSize;
  }
  dns::write_u16(message + 2, static_cast<uint16_t>(dns::read_u16(message + 2) | dns::flag::TC));
  dns::write_u16(message + 4, kept);
  dns::write_u16(message + 6, 0);
  dns::write_u16(message + 8, 0);
  dns::write_u16(message + 10, 0);
  return end;
}

}  // namespace rotor
