#include "server/query/denial_cache.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "server/common/mix.h"

namespace rotor {

namespace {
bool same_name(const dnssec::FixedName& a, std::string_view b) noexcept {
  return a.view() == b;
}
}  // namespace

DenialCache::DenialCache(size_t capacity)
    : sets_(std::bit_ceil(std::max<size_t>(1, (capacity + kWays - 1) / kWays))),
      entries_(std::make_unique<Entry[]>(sets_ * kWays)) {}

uint64_t DenialCache::hash_of(const zones::OnlineSigner* key, std::string_view owner) noexcept {
  // FNV-1a over the name, then mixed with the key's address.
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : owner) hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  hash = mix64(hash ^ reinterpret_cast<uintptr_t>(key));
  return hash == 0 ? 1 : hash;
}

const dnssec::SignedDenial* DenialCache::find(const zones::OnlineSigner* key,
                                              const dnssec::DenialRecord& record,
                                              uint32_t now) noexcept {
  const uint64_t hash = hash_of(key, record.owner.view());
  Entry* set = set_of(hash);
  for (size_t way = 0; way < kWays; ++way) {
    Entry& entry = set[way];
    const dnssec::DenialRecord& cached = entry.value.record;
    if (entry.hash != hash || entry.value.key.get() != key || !same_name(cached.owner, record.owner.view())) {
      continue;
    }
    // Serial arithmetic (RFC 4034 3.1.5): the difference, not the values.
    const auto left = static_cast<int32_t>(entry.value.expiration - now);
    if (cached.ttl != record.ttl || cached.rdata_view() != record.rdata_view() ||
        left <= kRefreshMargin) {
      return nullptr;
    }
    entry.last_used = ++clock_;
    return &entry.value;
  }
  return nullptr;
}

void DenialCache::insert(const dnssec::SignedDenial& signed_denial) noexcept {
  if (!signed_denial.signed_ok) return;
  const uint64_t hash = hash_of(signed_denial.key.get(), signed_denial.record.owner.view());
  Entry* set = set_of(hash);
  Entry* target = nullptr;
  for (size_t way = 0; way < kWays && target == nullptr; ++way) {
    Entry& entry = set[way];
    if (entry.hash == hash && entry.value.key == signed_denial.key &&
        same_name(entry.value.record.owner, signed_denial.record.owner.view())) {
      target = &entry;
    }
  }
  if (target == nullptr) {
    target = set;
    for (size_t way = 0; way < kWays; ++way) {
      if (set[way].hash == 0) {
        target = &set[way];
        break;
      }
      if (set[way].last_used < target->last_used) target = &set[way];
    }
    if (target->hash == 0) {
      ++size_;
    } else {
      ++evictions_;
    }
  }
  target->hash = hash;
  target->last_used = ++clock_;
  target->value = signed_denial;
}

void DenialCache::clear() noexcept {
  for (size_t i = 0; i < sets_ * kWays; ++i) {
    entries_[i].hash = 0;
    entries_[i].value.key.reset();
  }
  size_ = 0;
}

}  // namespace rotor
