#include "server/dnssec/signature_cache.h"

#include <algorithm>
#include <vector>

#include "server/dns/wire.h"

namespace rotor::dnssec {

std::string canonical_rrset(std::string_view owner_wire, const zones::RRset& rrset) {
  std::string owner(owner_wire);
  for (char& c : owner) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  std::vector<std::string_view> rdatas(rrset.rdatas.begin(), rrset.rdatas.end());
  // std::string_view compares octets as unsigned char (char_traits<char>), a
  // shorter prefix first: RFC 4034 6.3's order.
  std::sort(rdatas.begin(), rdatas.end());
  std::string out;
  for (std::string_view rdata : rdatas) {
    out += owner;
    dns::append_u16(out, rrset.type);
    dns::append_u16(out, dns::rrclass::IN);
    dns::append_u16(out, static_cast<uint16_t>(rrset.ttl >> 16));
    dns::append_u16(out, static_cast<uint16_t>(rrset.ttl & 0xffff));
    dns::append_u16(out, static_cast<uint16_t>(rdata.size()));
    out += rdata;
  }
  return out;
}

SignatureCache::SignatureCache(size_t max_bytes, int64_t refresh_margin)
    : max_bytes_(max_bytes), refresh_margin_(refresh_margin) {}

size_t SignatureCache::entry_bytes(size_t canonical_size, size_t rdata_size) noexcept {
  return 2 + canonical_size + rdata_size + kEntryOverhead;
}

size_t SignatureCache::EntryKeyHash::operator()(const EntryKey& key) const noexcept {
  return std::hash<std::string_view>{}(key.canonical) ^ (size_t{key.key_tag} * 0x9e3779b97f4a7c15u);
}

const Rrsig* SignatureCache::find(uint16_t key_tag, std::string_view canonical, int64_t now) {
  const auto found = index_.find(EntryKey{key_tag, canonical});
  if (found == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  // Serial-number arithmetic (RFC 4034 3.1.5): the time left as a signed
  // 32-bit difference, so it stays right across 2106.
  const auto left = static_cast<int32_t>(found->second->signature.expiration -
                                         static_cast<uint32_t>(now));
  if (left < refresh_margin_) {
    ++stats_.refreshes;
    return nullptr;
  }
  ++stats_.hits;
  entries_.splice(entries_.begin(), entries_, found->second);
  return &found->second->signature;
}

void SignatureCache::erase(std::list<Entry>::iterator entry) {
  stats_.bytes -= entry_bytes(entry->canonical.size(), entry->signature.rdata.size());
  index_.erase(EntryKey{entry->key_tag, entry->canonical});
  entries_.erase(entry);
  --stats_.entries;
}

void SignatureCache::store(uint16_t key_tag, std::string_view canonical, Rrsig signature) {
  const size_t bytes = entry_bytes(canonical.size(), signature.rdata.size());
  if (const auto found = index_.find(EntryKey{key_tag, canonical}); found != index_.end()) {
    erase(found->second);
  }
  if (bytes > max_bytes_) return;
  while (stats_.bytes + bytes > max_bytes_ && !entries_.empty()) {
    erase(std::prev(entries_.end()));
    ++stats_.evictions;
  }
  entries_.push_front(Entry{key_tag, std::string(canonical), std::move(signature)});
  index_.emplace(EntryKey{key_tag, entries_.front().canonical}, entries_.begin());
  stats_.bytes += bytes;
  ++stats_.entries;
}

std::optional<Rrsig> SignatureCache::signature(const RrsetSigner& signer, const SigningKey& key,
                                               std::string_view owner_wire,
                                               const zones::RRset& rrset, int64_t now) {
  const std::string canonical = canonical_rrset(owner_wire, rrset);
  if (const Rrsig* cached = find(key.tag(), canonical, now)) return *cached;
  auto signature = signer.sign(owner_wire, rrset, key);
  if (signature) store(key.tag(), canonical, *signature);
  return signature;
}

}  // namespace rotor::dnssec
