#pragma once
// What a worker's transports share: the loop they run on, the snapshot they
// answer from, and the worker's query-path state. Touched by one thread only.

#include <uv.h>

#include <memory>

#include "server/query/rate_limiter.h"
#include "server/query/responder.h"

namespace rotor::net {

struct WorkerContext {
  uv_loop_t* loop = nullptr;
  // Swapped by the worker's publish wake-up, read by every query; `snapshot`
  // is the raw pointer the query path uses, `snapshot_owner` keeps it alive.
  std::shared_ptr<const Snapshot> snapshot_owner;
  const Snapshot* snapshot = nullptr;
  WorkerState state;
  // Shared by every worker (it is lock-free); null when rate limiting is off.
  RateLimiter* rate_limiter = nullptr;
};

}  // namespace rotor::net
