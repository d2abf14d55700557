#include "server/dnssec/denial_signer.h"

#include <pthread.h>

#include <cstring>
#include <optional>
#include <string>

#include "server/dnssec/signer.h"
#include "zones/zone.h"

namespace rotor::dnssec {

namespace {
// Requests taken from one channel per pass: a busy worker cannot starve the others.
constexpr int kRequestsPerPass = 16;
}  // namespace

bool DenialSigner::Channel::request(const DenialRequest& request) noexcept {
  if (!requests_.try_push(request)) return false;
  signer_.work_.fetch_add(1, std::memory_order_release);
  signer_.work_.notify_one();
  return true;
}

DenialSigner::DenialSigner(size_t ring_capacity) : ring_capacity_(ring_capacity) {}

DenialSigner::~DenialSigner() { stop(); }

DenialSigner::Channel& DenialSigner::attach(std::function<void()> wake) {
  channels_.push_back(std::unique_ptr<Channel>(new Channel(*this, std::move(wake), ring_capacity_)));
  return *channels_.back();
}

void DenialSigner::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "rotor-denial");
    run();
  });
}

void DenialSigner::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_release);
  work_.fetch_add(1, std::memory_order_release);
  work_.notify_one();
  thread_.join();
}

DenialSigner::Stats DenialSigner::stats() const noexcept {
  return {.signed_count = signed_count_.load(std::memory_order_relaxed),
          .failures = failures_.load(std::memory_order_relaxed),
          .results_dropped = results_dropped_.load(std::memory_order_relaxed)};
}

void DenialSigner::run() {
  while (!stopping_.load(std::memory_order_acquire)) {
    // Read the counter before looking: a request pushed after this read
    // changes it, so the wait below returns at once instead of sleeping on it.
    const uint32_t seen = work_.load(std::memory_order_acquire);
    if (!serve_channels()) work_.wait(seen, std::memory_order_acquire);
  }
}

bool DenialSigner::serve_channels() {
  bool found = false;
  DenialRequest request;
  auto result = std::make_unique<SignedDenial>();
  for (auto& channel : channels_) {
    bool pushed = false;
    for (int i = 0; i < kRequestsPerPass && channel->requests_.try_pop(request); ++i) {
      found = true;
      sign_into(request, *result);
      request.key.reset();
      if (channel->results_.try_push(*result)) {
        pushed = true;
      } else {
        results_dropped_.fetch_add(1, std::memory_order_relaxed);
      }
      result->key.reset();
    }
    if (pushed && channel->wake_) channel->wake_();
  }
  return found;
}

void DenialSigner::sign_into(const DenialRequest& request, SignedDenial& out) {
  out.key = request.key;
  out.record = request.record;
  out.signed_ok = false;
  out.rrsig_size = 0;
  std::optional<std::string> rrsig;
  if (request.key) {
    const zones::RRset rrset{kTypeNsec, request.record.ttl, {std::string(request.record.rdata_view())}};
    rrsig = request.key->sign_denial(request.record.owner.view(), rrset);
  }
  const auto header = rrsig ? read_rrsig_header(*rrsig) : std::nullopt;
  if (!header || rrsig->size() > kMaxRrsigRdata) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  signed_count_.fetch_add(1, std::memory_order_relaxed);
  out.expiration = header->expiration;
  out.rrsig_size = static_cast<uint16_t>(rrsig->size());
  std::memcpy(out.rrsig, rrsig->data(), rrsig->size());
  out.signed_ok = true;
}

}  // namespace rotor::dnssec
