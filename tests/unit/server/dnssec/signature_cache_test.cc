// The signature cache, as a table of steps: each step asks for the signature
// of an RRset at a time and expects a hit, a miss or a refresh; the counters
// and the signatures (verified with ldns) are checked along the way.
#include "server/dnssec/signature_cache.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/unit/server/dnssec/dnssec_test_support.h"

TEST_SUITE_BEGIN("unit/server/dnssec/signature_cache");

namespace rotor::dnssec {
namespace {

using testing::rrset_from_text;
using testing::verify_with_ldns;

constexpr int64_t kStart = 1796000000;
constexpr int64_t kDay = 86400;

// Records of the RRsets the steps name.
const std::vector<std::string> kWeb = {"web.example.test. 20 IN A 192.0.2.1",
                                       "web.example.test. 20 IN A 192.0.2.2",
                                       "web.example.test. 20 IN A 192.0.2.3"};
const std::vector<std::string> kWebRotated = {"web.example.test. 20 IN A 192.0.2.3",
                                              "web.example.test. 20 IN A 192.0.2.1",
                                              "web.example.test. 20 IN A 192.0.2.2"};
const std::vector<std::string> kWebUpperOwner = {"WEB.Example.test. 20 IN A 192.0.2.2",
                                                 "WEB.Example.test. 20 IN A 192.0.2.3",
                                                 "WEB.Example.test. 20 IN A 192.0.2.1"};
const std::vector<std::string> kWebTwo = {"web.example.test. 20 IN A 192.0.2.1",
                                          "web.example.test. 20 IN A 192.0.2.2"};
const std::vector<std::string> kWebOtherTtl = {"web.example.test. 30 IN A 192.0.2.1",
                                               "web.example.test. 30 IN A 192.0.2.2",
                                               "web.example.test. 30 IN A 192.0.2.3"};
const std::vector<std::string> kApi = {"api.example.test. 20 IN AAAA 2001:db8::1"};
const std::vector<std::string> kWild = {"*.example.test. 20 IN A 192.0.2.9"};

enum class Outcome { hit, miss, refresh };

struct Step {
  const std::vector<std::string>* records;
  int64_t at;  // seconds after kStart
  Outcome outcome;
  bool second_key = false;
};

struct CacheCase {
  const char* what;
  size_t budget_entries;  // the budget, in entries of kWeb's size
  std::vector<Step> steps;
  uint64_t evictions;
};

TEST_CASE("hits misses refreshes and evictions") {
  const std::vector<CacheCase> cases = {
      {"a miss then a hit", 10, {{&kWeb, 0, Outcome::miss}, {&kWeb, 60, Outcome::hit}}, 0},
      {"a rotated RRset hits the same entry",
       10, {{&kWeb, 0, Outcome::miss}, {&kWebRotated, 1, Outcome::hit}, {&kWebUpperOwner, 2, Outcome::hit}}, 0},
      {"other records or another TTL miss",
       10, {{&kWeb, 0, Outcome::miss}, {&kWebTwo, 1, Outcome::miss}, {&kWebOtherTtl, 2, Outcome::miss},
            {&kWeb, 3, Outcome::hit}, {&kWebTwo, 4, Outcome::hit}}, 0},
      {"another key misses", 10,
       {{&kWeb, 0, Outcome::miss}, {&kWeb, 1, Outcome::miss, true}, {&kWeb, 2, Outcome::hit},
        {&kWeb, 3, Outcome::hit, true}}, 0},
      {"refreshed once less than half the validity is left",
       10, {{&kWeb, 0, Outcome::miss}, {&kWeb, 3 * kDay, Outcome::hit},
            {&kWeb, 3 * kDay + kDay / 2 + 1, Outcome::refresh},
            {&kWeb, 3 * kDay + kDay / 2 + 2, Outcome::hit}, {&kWeb, 8 * kDay, Outcome::refresh}}, 0},
      {"the least recently used entry is evicted", 2,
       {{&kWeb, 0, Outcome::miss}, {&kWebTwo, 1, Outcome::miss}, {&kWild, 2, Outcome::miss},
        {&kWebTwo, 3, Outcome::hit}, {&kWeb, 4, Outcome::miss}}, 2},
      {"a hit keeps an entry from eviction", 2,
       {{&kWeb, 0, Outcome::miss}, {&kWebTwo, 1, Outcome::miss}, {&kWeb, 2, Outcome::hit},
        {&kApi, 3, Outcome::miss}, {&kWeb, 4, Outcome::hit}, {&kWebTwo, 5, Outcome::miss}}, 2},
      {"a wildcard RRset is cached under its wildcard owner", 10,
       {{&kWild, 0, Outcome::miss}, {&kWild, 1, Outcome::hit}}, 0},
  };
  const SigningKey first = SigningKey::generate("example.test", kEcdsaP256Sha256, kStart, kStart);
  const SigningKey second = SigningKey::generate("example.test", kEd25519, kStart, kStart);
  std::string web_owner;
  const size_t entry = SignatureCache::entry_bytes(
      canonical_rrset(web_owner, rrset_from_text(kWeb, web_owner)).size(), 18 + 14 + 64);
  for (const CacheCase& c : cases) {
    CAPTURE(c.what);
    int64_t now = kStart;
    const RrsetSigner signer([&now] { return now; });
    SignatureCache cache(c.budget_entries * entry);
    SignatureCache::Stats expected;
    for (size_t i = 0; i < c.steps.size(); ++i) {
      const Step& step = c.steps[i];
      CAPTURE(i);
      now = kStart + step.at;
      const SigningKey& key = step.second_key ? second : first;
      std::string owner;
      const zones::RRset rrset = rrset_from_text(*step.records, owner);
      const auto signature = cache.signature(signer, key, owner, rrset, now);
      REQUIRE(signature);
      CHECK(verify_with_ldns(*step.records, *signature, {key.dnskey_text()}, now) == "All OK");
      if (step.outcome == Outcome::hit) ++expected.hits;
      if (step.outcome == Outcome::miss) ++expected.misses;
      if (step.outcome == Outcome::refresh) ++expected.refreshes;
      CHECK(cache.stats().hits == expected.hits);
      CHECK(cache.stats().misses == expected.misses);
      CHECK(cache.stats().refreshes == expected.refreshes);
      // A refreshed or new signature starts its validity now; a hit keeps the old one.
      if (step.outcome != Outcome::hit) CHECK(signature->inception == now - kInceptionBeforeNow);
    }
    CHECK(cache.stats().evictions == c.evictions);
    CHECK(cache.stats().bytes <= c.budget_entries * entry);
  }
}

TEST_CASE("the byte count follows the entries and an entry over the budget is not kept") {
  const SigningKey key = SigningKey::generate("example.test", kEd25519, kStart, kStart);
  const RrsetSigner signer([] { return kStart; });
  SignatureCache cache(1 << 20);
  std::string owner;
  const zones::RRset rrset = rrset_from_text(kWeb, owner);
  const std::string canonical = canonical_rrset(owner, rrset);
  const auto signature = signer.sign(owner, rrset, key);
  REQUIRE(signature);
  cache.store(key.tag(), canonical, *signature);
  CHECK(cache.stats().entries == 1);
  CHECK(cache.stats().bytes == SignatureCache::entry_bytes(canonical.size(), signature->rdata.size()));
  cache.store(key.tag(), canonical, *signature);  // replaced, not doubled
  CHECK(cache.stats().entries == 1);
  CHECK(cache.find(key.tag(), canonical, kStart) != nullptr);

  SignatureCache tiny(100);
  tiny.store(key.tag(), canonical, *signature);
  CHECK(tiny.stats().entries == 0);
  CHECK(tiny.stats().bytes == 0);
  CHECK(tiny.find(key.tag(), canonical, kStart) == nullptr);
}

TEST_CASE("the canonical form sorts records and lower-cases the owner") {
  std::string a_owner, b_owner;
  const zones::RRset a = rrset_from_text(kWeb, a_owner);
  const zones::RRset b = rrset_from_text(kWebUpperOwner, b_owner);
  CHECK(canonical_rrset(a_owner, a) == canonical_rrset(b_owner, b));
  const std::string canonical = canonical_rrset(a_owner, a);
  // owner (18) + type, class, TTL, length (10) + 4 octets of address, three times
  CHECK(canonical.size() == 3 * (18 + 10 + 4));
  CHECK(canonical.substr(0, 18) == std::string("\x03web\x07" "example\x04test\x00", 18));
  CHECK(canonical.substr(18 + 10, 4) == std::string("\xc0\x00\x02\x01", 4));
}

}  // namespace
}  // namespace rotor::dnssec

TEST_SUITE_END();
