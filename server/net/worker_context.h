#pragma once
// One serving thread's query-path state: the snapshot it answers from, its
// rotation counters, counters block, denial cache and signer channel, and the
// loop it runs on (a worker's libuv loop for TCP; null for a UDP thread,
// udp_responder.h, which has a context of its own). Touched by one thread only.

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "server/dnssec/denial_signer.h"
#include "server/query/rate_limiter.h"
#include "server/query/responder.h"
#include "server/snapshot/publisher.h"

namespace rotor::net {

struct WorkerContext {
  uv_loop_t* loop = nullptr;  // null: not on a libuv loop (a UDP thread)
  // Swapped by the worker's publish wake-up, read by every query; `snapshot`
  // is the raw pointer the query path uses, `snapshot_owner` keeps it alive.
  std::shared_ptr<const Snapshot> snapshot_owner;
  const Snapshot* snapshot = nullptr;
  WorkerState state;
  // Shared by every worker (it is lock-free); null when rate limiting is off.
  RateLimiter* rate_limiter = nullptr;
  // This worker's rings to the denial signer; null: none (a query that needs
  // a signature is dropped).
  dnssec::DenialSigner::Channel* denial_channel = nullptr;
  // Set by a worker loop (whose wake-ups are rate-limited, worker.h) and by
  // a UDP thread (never woken by a publish, udp_responder.h): the publisher,
  // its generation hint (bumped by every publish, any thread) and this
  // thread's last look at it. follow_publisher() compares them.
  SnapshotPublisher* publisher = nullptr;
  const std::atomic<uint64_t>* published = nullptr;
  uint64_t seen = 0;
};

// Makes `snapshot` the one the context answers from (the old one is only
// let go: the publisher frees it, on the control plane, publisher.h) and
// readies the state for it. The serving thread, between batches; every swap
// (worker loop, UDP thread) goes through here.
inline void adopt_snapshot(WorkerContext& context, std::shared_ptr<const Snapshot> snapshot) {
  context.snapshot_owner = std::move(snapshot);
  context.snapshot = context.snapshot_owner.get();
  prepare_worker_state(*context.snapshot, context.state);
}

// Takes the publisher's current snapshot if a publish happened since the
// last look (nothing when `context.published` is unset). Between batches:
// the TCP server calls it before answering what a read brought, a UDP thread
// before answering a batch. The atomic is only a hint that current()
// changed; the snapshot itself comes from the publisher's lock, taken once
// per publish, never per query.
inline void follow_publisher(WorkerContext& context) noexcept {
  if (context.published == nullptr) return;
  const uint64_t published = context.published->load();
  if (published == context.seen) return;
  context.seen = published;
  adopt_snapshot(context, context.publisher->current());
}

// Asks the denial signer for the NSEC `state.denial` wants, unless a query
// parked earlier already did (`already_asked`). Returns false, counted as a
// drop, when there is no signer or its ring is full.
inline bool request_signature(WorkerContext& context, bool already_asked) noexcept {
  if (already_asked) return true;
  DenialState& denial = *context.state.denial;
  if (context.denial_channel != nullptr && denial.key != nullptr &&
      context.denial_channel->request({*denial.key, denial.wanted})) {
    return true;
  }
  context.state.counters->denial_dropped.add();
  return false;
}

}  // namespace rotor::net
