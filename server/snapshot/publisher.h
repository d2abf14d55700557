#pragma once
// Hands a new Snapshot to every worker without the workers ever locking on the
// query path. The control plane calls publish(); each subscriber gets a
// wake-up (a worker loop's uv_async, a UDP thread's atomic generation bump,
// net/udp_responder.h) and swaps its thread-local pointer between batches. The old
// snapshot is freed when the last worker lets go of it.

#include <functional>
#include <memory>
#include <vector>

#include "server/common/lock_guarded.h"
#include "server/snapshot/snapshot.h"

namespace rotor {

class SnapshotPublisher {
 public:
  using Subscriber = std::function<void()>;  // must be cheap and thread-safe (uv_async_send, an atomic add)

  explicit SnapshotPublisher(std::shared_ptr<const Snapshot> initial);

  // Makes `next` current and wakes every subscriber. Thread-safe.
  void publish(std::shared_ptr<const Snapshot> next);

  // The current snapshot. Thread-safe; takes a short lock, so workers call it
  // only from their wake-up callback, never per query.
  std::shared_ptr<const Snapshot> current() const;

  // Registers a wake-up; returns a token for unsubscribe.
  size_t subscribe(Subscriber wake);
  void unsubscribe(size_t token);

 private:
  struct State {
    std::shared_ptr<const Snapshot> current;
    std::vector<std::pair<size_t, Subscriber>> subscribers;
    size_t next_token = 1;
  };
  LockGuarded<State> state_;
};

}  // namespace rotor
