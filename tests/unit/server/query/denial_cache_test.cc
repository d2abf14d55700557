// The worker's denial cache: a hit only for the same key, owner, TTL and
// RDATA while the signature has more than the refresh margin left; replacing
// an entry; per-set LRU eviction at capacity; clear(); and the compact NSEC
// RDATA (next name "\000.<owner>", bitmap RRSIG NSEC NXNAME).
#include "server/query/denial_cache.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

TEST_SUITE_BEGIN("unit/server/query/denial_cache");

namespace rotor {
namespace {

constexpr uint32_t kNow = 1796000000;

// "\x04nameN\x04test\x00"-style owner for index i.
std::string owner_of(int i) {
  const std::string label = "n" + std::to_string(i);
  return std::string(1, static_cast<char>(label.size())) + label + "\x04test" + std::string(1, '\0');
}

dnssec::DenialRecord record_for(const std::string& owner, uint32_t ttl = 300) {
  dnssec::DenialRecord record;
  record.owner.assign(owner);
  record.ttl = ttl;
  record.rdata_size = static_cast<uint16_t>(dnssec::nxname_nsec_rdata(owner, record.rdata));
  return record;
}

dnssec::SignedDenial signed_for(const std::shared_ptr<const zones::OnlineSigner>& key,
                                const dnssec::DenialRecord& record, char mark = 'x',
                                uint32_t expiration = kNow + 7 * 86400) {
  dnssec::SignedDenial out;
  out.key = key;
  out.record = record;
  out.signed_ok = true;
  out.expiration = expiration;
  out.rrsig_size = 20;
  std::memset(out.rrsig, mark, out.rrsig_size);
  return out;
}

// Distinct addresses to stand for keys: the cache compares them only.
std::shared_ptr<const zones::OnlineSigner> fake_key(int which) {
  static int storage[4];
  return std::shared_ptr<const zones::OnlineSigner>(
      std::shared_ptr<void>(), reinterpret_cast<const zones::OnlineSigner*>(&storage[which]));
}

TEST_CASE("the compact NSEC names the next name and NXNAME") {
  const std::string owner = owner_of(7);
  uint8_t rdata[dnssec::kMaxNsecRdata];
  const size_t size = dnssec::nxname_nsec_rdata(owner, rdata);
  REQUIRE(size == 2 + owner.size() + 2 + 17);
  CHECK(rdata[0] == 1);
  CHECK(rdata[1] == 0);
  CHECK(std::string(reinterpret_cast<const char*>(rdata) + 2, owner.size()) == owner);
  const uint8_t* bitmap = rdata + 2 + owner.size();
  CHECK(bitmap[0] == 0);   // window 0
  CHECK(bitmap[1] == 17);  // up to type 128
  CHECK(bitmap[2 + 5] == 0x03);   // 46 RRSIG, 47 NSEC
  CHECK(bitmap[2 + 16] == 0x80);  // 128 NXNAME
  // "\000.<owner>" must stay within 255 octets.
  std::string long_owner;
  while (long_owner.size() + 64 <= 254) long_owner += std::string(1, 63) + std::string(63, 'a');
  const size_t last = 254 - long_owner.size() - 1;  // a 255-octet name
  long_owner += std::string(1, static_cast<char>(last)) + std::string(last, 'b') + std::string(1, '\0');
  REQUIRE(long_owner.size() == 255);
  CHECK(dnssec::nxname_nsec_rdata(long_owner, rdata) == 0);
}

TEST_CASE("a hit needs the same key owner TTL and RDATA and a fresh signature") {
  DenialCache cache(64);
  const auto key = fake_key(0);
  const auto other_key = fake_key(1);
  const dnssec::DenialRecord record = record_for(owner_of(1));
  CHECK(cache.find(key.get(), record, kNow) == nullptr);
  cache.insert(signed_for(key, record));
  const dnssec::SignedDenial* hit = cache.find(key.get(), record, kNow);
  REQUIRE(hit != nullptr);
  CHECK(hit->rrsig_view() == std::string(20, 'x'));
  CHECK(cache.find(other_key.get(), record, kNow) == nullptr);
  CHECK(cache.find(key.get(), record_for(owner_of(2)), kNow) == nullptr);
  CHECK(cache.find(key.get(), record_for(owner_of(1), 60), kNow) == nullptr);
  // Less than half of the week left: signed again.
  CHECK(cache.find(key.get(), record, kNow + 4 * 86400) == nullptr);
  CHECK(cache.find(key.get(), record, kNow + 3 * 86400) != nullptr);
  // Replaced in place, not added.
  cache.insert(signed_for(key, record, 'y'));
  CHECK(cache.size() == 1);
  CHECK(cache.find(key.get(), record, kNow)->rrsig_view() == std::string(20, 'y'));
  // A failed signature is not kept.
  dnssec::SignedDenial failed = signed_for(key, record_for(owner_of(3)));
  failed.signed_ok = false;
  cache.insert(failed);
  CHECK(cache.size() == 1);
  cache.clear();
  CHECK(cache.size() == 0);
  CHECK(cache.find(key.get(), record, kNow) == nullptr);
}

TEST_CASE("a full cache evicts the least recently used entry of a set") {
  DenialCache cache(16);
  REQUIRE(cache.capacity() == 16);
  const auto key = fake_key(0);
  for (int i = 0; i < 1000; ++i) cache.insert(signed_for(key, record_for(owner_of(i))));
  CHECK(cache.size() == cache.capacity());
  CHECK(cache.evictions() == 1000 - cache.capacity());
  // The newest names are all still there: each evicted an older one.
  int newest_present = 0;
  for (int i = 996; i < 1000; ++i) {
    if (cache.find(key.get(), record_for(owner_of(i)), kNow) != nullptr) ++newest_present;
  }
  CHECK(newest_present == 4);
  // A name used again survives the next name of its set; an unused one does not.
  DenialCache small(DenialCache::kWays);  // one set
  for (int i = 0; i < 4; ++i) small.insert(signed_for(key, record_for(owner_of(i))));
  REQUIRE(small.find(key.get(), record_for(owner_of(0)), kNow) != nullptr);
  small.insert(signed_for(key, record_for(owner_of(4))));
  CHECK(small.find(key.get(), record_for(owner_of(0)), kNow) != nullptr);
  CHECK(small.find(key.get(), record_for(owner_of(1)), kNow) == nullptr);
  CHECK(small.size() == 4);
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
