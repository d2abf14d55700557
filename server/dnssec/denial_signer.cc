#include "server/dnssec/denial_signer.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>
#include <cstring>
#include <optional>
#include <string>

#include "server/dnssec/signer.h"
#include "zones/zone.h"

namespace rotor::dnssec {

namespace {
// Requests taken from one channel per pass: a busy worker cannot starve the others.
constexpr int kRequestsPerPass = 16;
// The longest the signer sleeps without looking: a wake-up that goes missing
// costs at most this. One did go missing with std::atomic::wait/notify_one
// (libstdc++ 12, under TSan, 2026-12-02): the signer slept on after stop()'s
// notify and stop() waited in join for ever.
constexpr long kIdleRecheckNs = 100'000'000;

// `work` is the futex word (a lock-free 32-bit atomic is one).
uint32_t* futex_word(std::atomic<uint32_t>& work) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                std::atomic<uint32_t>::is_always_lock_free);
  return reinterpret_cast<uint32_t*>(&work);
}
}  // namespace

void DenialSigner::wake() noexcept {
  // The system call only when the signer sleeps (or is about to: it counts
  // itself in before it checks work_ one last time).
  if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
  syscall(SYS_futex, futex_word(work_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void DenialSigner::sleep_unless_moved(uint32_t seen) noexcept {
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  if (work_.load(std::memory_order_seq_cst) == seen) {
    timespec bound{0, kIdleRecheckNs};
    // Returns at once if work_ is no longer `seen` (the kernel compares).
    syscall(SYS_futex, futex_word(work_), FUTEX_WAIT_PRIVATE, seen, &bound, nullptr, 0);
  }
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
}

bool DenialSigner::Channel::request(const DenialRequest& request) noexcept {
  if (!requests_.try_push(request)) return false;
  signer_.work_.fetch_add(1, std::memory_order_seq_cst);
  signer_.wake();
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
  work_.fetch_add(1, std::memory_order_seq_cst);
  wake();
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
    if (!serve_channels()) sleep_unless_moved(seen);
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
