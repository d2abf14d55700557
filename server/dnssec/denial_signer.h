#pragma once
// The denial signer: one thread that signs the compact-denial NSEC records
// (compact_denial.h) the workers could not answer from their caches, so that
// no worker ever signs. Each worker attaches a Channel: two bounded
// single-producer/single-consumer rings (requests in, signed results out),
// preallocated, and a wake-up the signer calls after pushing results (the
// worker's uv_async_send). The worker pushes without locking; the signer
// sleeps on an atomic counter the workers bump (a futex on it, woken only
// when the signer sleeps, and a sleep of at most 100 ms, so that a lost
// wake-up cannot stall signing or stop()).
//
// It signs through the zone's OnlineSigner::sign_denial (Zone::online_signer:
// the zone's active key and the denial part of the signature cache every
// signed zone shares, so a name several workers ask for is signed once, and a
// flood of names evicts no zone or array signature); that signer serialises its callers,
// so the snapshot builder may sign at the same time.
//
// Throughput bounds compact denial: one signature (ECDSA P-256) costs ~65 us
// here, so one signer makes ~15,000 per second; a flood of random names
// beyond that fills the rings and the workers drop what does not fit.
//
// Thread-safety: attach() before start(), from the owning thread; a
// Channel's request()/take() from its one worker thread; stats() from any
// thread. Errors: a failed signature is returned with signed_ok false and
// counted; nothing throws after start().

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "server/common/spsc_ring.h"
#include "server/dnssec/compact_denial.h"

namespace rotor::dnssec {

class DenialSigner {
 public:
  static constexpr size_t kRingCapacity = 256;

  struct Stats {
    uint64_t signed_count = 0;     // requests signed (new, or from the zone's cache)
    uint64_t failures = 0;         // the zone's signer could not sign
    uint64_t results_dropped = 0;  // a worker's result ring was full
  };

  class Channel {
   public:
    // Worker: queues `request` and wakes the signer; false when the ring is full.
    bool request(const DenialRequest& request) noexcept;
    // Worker: the oldest signed result; false when there is none.
    bool take(SignedDenial& out) noexcept { return results_.try_pop(out); }

   private:
    friend class DenialSigner;
    Channel(DenialSigner& signer, std::function<void()> wake, size_t capacity)
        : signer_(signer), wake_(std::move(wake)), requests_(capacity), results_(capacity) {}
    DenialSigner& signer_;
    std::function<void()> wake_;
    SpscRing<DenialRequest> requests_;
    SpscRing<SignedDenial> results_;
  };

  explicit DenialSigner(size_t ring_capacity = kRingCapacity);
  ~DenialSigner();
  DenialSigner(const DenialSigner&) = delete;
  DenialSigner& operator=(const DenialSigner&) = delete;

  // A channel for one worker; `wake` runs on the signer thread after it has
  // pushed results to this channel. Before start() only.
  Channel& attach(std::function<void()> wake);
  void start();
  // Stops and joins the thread; requests still queued are not signed. Idempotent.
  void stop();

  Stats stats() const noexcept;

 private:
  void run();
  // Wakes the signer if it sleeps; from any thread, no lock, no allocation.
  void wake() noexcept;
  // The signer's sleep: until work_ moves from `seen`, a wake(), or at most
  // 100 ms (a lost wake-up costs no more; denial_signer.cc says why).
  void sleep_unless_moved(uint32_t seen) noexcept;
  // One pass over every channel; returns whether it found work.
  bool serve_channels();
  void sign_into(const DenialRequest& request, SignedDenial& out);

  const size_t ring_capacity_;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::atomic<uint32_t> work_{0};  // bumped by every request and by stop()
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> sleepers_{0};  // the signer, while in sleep_unless_moved
  std::thread thread_;
  std::atomic<uint64_t> signed_count_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> results_dropped_{0};
};

}  // namespace rotor::dnssec
