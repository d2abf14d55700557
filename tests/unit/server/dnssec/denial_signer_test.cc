// The denial signer thread: a request through a worker's channel comes back
// signed by the zone's signer (verified by ldns) and wakes the worker; a
// request without a signer is a failure, not a crash; a burst beyond the
// ring's capacity is refused by request(), never blocks, and the rest is
// still signed.
#include "server/dnssec/denial_signer.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "server/dns/wire.h"
#include "server/dnssec/signer.h"
#include "zones/zone.h"
#include "tests/unit/server/dnssec/dnssec_test_support.h"

TEST_SUITE_BEGIN("unit/server/dnssec/denial_signer");

namespace rotor::dnssec {
namespace {

constexpr int64_t kNow = 1796000000;

// A zone's signer as the snapshot builder makes it, reduced to one key and
// the fixed clock.
class TestSigner final : public zones::OnlineSigner {
 public:
  TestSigner()
      : key_(SigningKey::generate("denial.test.", kEcdsaP256Sha256, kNow - 100, kNow - 100)),
        signer_([] { return kNow; }) {}
  std::optional<std::string> sign(std::string_view owner, const zones::RRset& rrset) const override {
    const auto rrsig = signer_.sign(owner, rrset, key_);
    if (!rrsig) return std::nullopt;
    return rrsig->rdata;
  }
  uint16_t key_tag() const noexcept override { return key_.tag(); }
  const SigningKey& key() const { return key_; }

 private:
  SigningKey key_;
  RrsetSigner signer_;
};

std::shared_ptr<const TestSigner> make_key() { return std::make_shared<const TestSigner>(); }

DenialRequest request_for(const std::shared_ptr<const zones::OnlineSigner>& key,
                          const std::string& label) {
  DenialRequest request;
  request.key = key;
  const std::string owner =
      std::string(1, static_cast<char>(label.size())) + label + std::string("\x06" "denial\x04test\x00", 13);
  request.record.owner.assign(owner);
  request.record.ttl = 300;
  request.record.rdata_size = static_cast<uint16_t>(nxname_nsec_rdata(owner, request.record.rdata));
  return request;
}

// Waits (bounded) until `channel` has `count` results; returns them.
std::vector<SignedDenial> take(DenialSigner::Channel& channel, size_t count) {
  std::vector<SignedDenial> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    SignedDenial result;
    if (channel.take(result)) {
      out.push_back(result);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return out;
}

TEST_CASE("a requested NSEC comes back signed and wakes the worker") {
  const auto key = make_key();
  DenialSigner signer;
  std::atomic<int> wakes{0};
  DenialSigner::Channel& channel = signer.attach([&] { wakes.fetch_add(1); });
  signer.start();
  const DenialRequest request = request_for(key, "nope");
  REQUIRE(channel.request(request));
  REQUIRE(channel.request(request));  // the same name again
  const std::vector<SignedDenial> results = take(channel, 2);
  REQUIRE(results.size() == 2);
  signer.stop();
  CHECK(wakes.load() >= 1);
  CHECK(signer.stats().signed_count == 2);
  const SignedDenial& result = results.front();
  REQUIRE(result.signed_ok);
  CHECK(result.key == key);
  CHECK(result.record.owner.view() == request.record.owner.view());
  CHECK(result.expiration == static_cast<uint32_t>(kNow + kValidity));
  const Rrsig rrsig{std::string(result.rrsig_view()), 0, result.expiration};
  CHECK(testing::verify_with_ldns(
            {"nope.denial.test. 300 IN NSEC \\000.nope.denial.test. RRSIG NSEC TYPE128"}, rrsig,
            {key->key().dnskey_text()}, kNow) == "All OK");
}

TEST_CASE("a burst beyond the ring is refused without blocking and the rest is signed") {
  const auto key = make_key();
  DenialSigner signer(8);
  DenialSigner::Channel& channel = signer.attach(nullptr);
  size_t accepted = 0;
  for (int i = 0; i < 20; ++i) {
    if (channel.request(request_for(key, "n" + std::to_string(i)))) ++accepted;
  }
  CHECK(accepted == 8);  // the signer is not running yet: nothing drains
  signer.start();
  const std::vector<SignedDenial> results = take(channel, accepted);
  signer.stop();
  REQUIRE(results.size() == accepted);
  for (const SignedDenial& result : results) CHECK(result.signed_ok);
  CHECK(signer.stats().signed_count == accepted);
}

TEST_CASE("a request without a signer fails and is answered") {
  DenialSigner signer;
  DenialSigner::Channel& channel = signer.attach(nullptr);
  signer.start();
  REQUIRE(channel.request(request_for(nullptr, "x")));
  const std::vector<SignedDenial> results = take(channel, 1);
  signer.stop();
  REQUIRE(results.size() == 1);
  CHECK_FALSE(results.front().signed_ok);
  CHECK(signer.stats().failures == 1);
}

}  // namespace
}  // namespace rotor::dnssec

TEST_SUITE_END();
