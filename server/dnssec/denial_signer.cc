#include "server/dnssec/denial_signer.h"

#include <pthread.h>

#include <cstring>

namespace rotor::dnssec {

namespace {
// Requests taken from one channel per pass: a busy worker cannot starve the others.
constexpr int kRequestsPerPass = 16;
// Keys copied before the copies are forgotten (a reload brings new keys).
constexpr size_t kMaxKeyCopies = 64;
}  // namespace

bool DenialSigner::Channel::request(const DenialRequest& request) noexcept {
  if (!requests_.try_push(request)) return false;
  signer_.work_.fetch_add(1, std::memory_order_release);
  signer_.work_.notify_one();
  return true;
}

DenialSigner::DenialSigner(RrsetSigner::Clock clock, size_t ring_capacity)
    : ring_capacity_(ring_capacity), signer_(clock), clock_(std::move(clock)) {}

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
          .reused = reused_.load(std::memory_order_relaxed),
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
  const SigningKey* key = request.key ? signing_copy(request.key) : nullptr;
  if (key == nullptr) {
    failures_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::string_view owner = request.record.owner.view();
  const zones::RRset rrset{kTypeNsec, request.record.ttl, {std::string(request.record.rdata_view())}};
  const std::string canonical = canonical_rrset(owner, rrset);
  const int64_t now = clock_();
  const Rrsig* cached = cache_.find(key->tag(), canonical, now);
  std::optional<Rrsig> made;
  if (cached != nullptr) {
    reused_.fetch_add(1, std::memory_order_relaxed);
  } else {
    made = signer_.sign(owner, rrset, *key);
    if (!made || made->rdata.size() > kMaxRrsigRdata) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    signed_count_.fetch_add(1, std::memory_order_relaxed);
    cache_.store(key->tag(), canonical, *made);
    cached = &*made;
  }
  out.expiration = cached->expiration;
  out.rrsig_size = static_cast<uint16_t>(cached->rdata.size());
  std::memcpy(out.rrsig, cached->rdata.data(), cached->rdata.size());
  out.signed_ok = true;
}

const SigningKey* DenialSigner::signing_copy(const std::shared_ptr<const SigningKey>& key) {
  if (auto found = keys_.find(key.get()); found != keys_.end()) return &found->second->copy;
  if (keys_.size() >= kMaxKeyCopies) keys_.clear();
  try {
    // The key's own texts make the copy: what its files hold.
    SigningKey copy = SigningKey::from_texts(key->zone_text(), key->key_file_text(),
                                             key->private_file_text(), key->file_base());
    auto entry = std::make_unique<KeyCopy>(KeyCopy{key, std::move(copy)});
    return &keys_.emplace(key.get(), std::move(entry)).first->second->copy;
  } catch (const KeyError&) {
    return nullptr;
  }
}

}  // namespace rotor::dnssec
