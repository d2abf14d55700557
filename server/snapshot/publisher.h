#pragma once
// Hands a new Snapshot to every worker without the workers ever locking on the
// query path. The control plane calls publish(); each subscriber gets a
// wake-up (a worker loop's generation bump and, at most once per 100 ms, its
// uv_async, net/worker.h; a UDP thread's atomic generation bump,
// net/udp_responder.h) and swaps its thread-local pointer between batches.
//
// A replaced snapshot is freed on the control plane, never by a worker: the
// publisher keeps it (retired) until no one else holds it, so a worker's swap
// only drops a reference (an atomic decrement) and never runs the snapshot's
// destructors (zones, the array table, every replaced array's answers: ~30 µs
// of the 120 µs a swap cost the worker's loop, tests/bench/README.md). Every
// publish() and release_retired() frees the retired snapshots whose only
// holder is the publisher (exact: no one can take a new reference to a
// retired snapshot). How many stay alive: those replaced since the workers
// last swapped, i.e. the snapshots published within one UDP thread's idle
// timeout or a worker loop's quiet window (100 ms each) before the last
// release, plus that last one; the composer's thread calls release_retired() while any are left
// (registry/snapshot_composer.h), so they go within a fraction of a second of
// the workers letting go. With no such caller (publish_interval 0) they stay
// until the next publish.

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

  // Makes `next` current, wakes every subscriber, and frees the retired
  // snapshots no one holds any more (on the caller's thread, outside the
  // lock). Thread-safe.
  void publish(std::shared_ptr<const Snapshot> next);

  // Frees the retired snapshots no one holds any more, on the caller's thread
  // (the control plane's), outside the lock. Returns how many are left
  // (still held by a worker that has not swapped yet). Thread-safe.
  size_t release_retired();

  // The current snapshot. Thread-safe; takes a short lock, so workers call it
  // only from their wake-up callback, never per query.
  std::shared_ptr<const Snapshot> current() const;

  // Registers a wake-up; returns a token for unsubscribe.
  size_t subscribe(Subscriber wake);
  void unsubscribe(size_t token);

 private:
  using Retired = std::vector<std::shared_ptr<const Snapshot>>;
  struct State {
    std::shared_ptr<const Snapshot> current;
    Retired retired;  // replaced, possibly still held by a worker
    std::vector<std::pair<size_t, Subscriber>> subscribers;
    size_t next_token = 1;
  };
  // Moves the retired snapshots only `retired` holds into `unheld`.
  static void take_unheld(Retired& retired, Retired& unheld);
  LockGuarded<State> state_;
};

}  // namespace rotor
