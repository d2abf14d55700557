#pragma once
// One worker thread's world: a libuv loop, its TCP listeners and
// connections, and its own pointer to the current snapshot. Built and torn
// down by WorkerPool. UDP is not served here: each UDP socket has a thread of
// its own blocking in recvmmsg (udp_responder.h), which measured cheaper per
// query than uv_poll + recvmmsg on this loop (issue 18).
// Apart from request_stop(), the publisher's and the denial signer's
// wake-ups, everything here runs on the worker's thread (or on the
// constructing thread before run()).
//
// Publishes wake the loop at most once per kQuietWindow: a wake-up (the
// uv_async, epoll and a context switch) cost the loop ~100 µs on the test
// VM, against ~220 instructions for the swap itself (tests/bench/README.md),
// and the composer publishes up to 50 times a second. The first publish
// after a quiet window wakes the loop, which takes the snapshot and opens a
// window; publishes within it only bump `published_`; at its end the loop
// takes the newest if there was one (and opens another). A TCP read looks at
// `published_` before answering (follow_publisher), so no query is answered
// from a snapshot older than the last publish before its read, and an idle
// loop lets go of an old snapshot within kQuietWindow.

#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "server/net/socket.h"
#include "server/net/tcp_server.h"
#include "server/net/worker_context.h"
#include "server/snapshot/publisher.h"

namespace rotor::net {

class Worker {
 public:
  // How long publishes after a wake-up leave the loop asleep (see above):
  // as long as an idle UDP thread may keep an old snapshot.
  static constexpr std::chrono::milliseconds kQuietWindow{100};

  // `rate_limiter` (null: none) must outlive the worker. `quiet_window`:
  // kQuietWindow but in tests, which shorten or widen it to see both sides.
  Worker(SnapshotPublisher& publisher, std::chrono::milliseconds tcp_idle_timeout,
         size_t tcp_max_connections, RateLimiter* rate_limiter = nullptr,
         std::chrono::milliseconds quiet_window = kQuietWindow);
  // Closes whatever is still open and runs the loop dry, so a worker that was
  // never started (or whose constructor's caller threw) leaks nothing.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void add_tcp_listener(UniqueFd fd) { tcp_.add_listener(std::move(fd)); }

  // The worker's statistics block, for WorkerPool to hand to the metrics
  // scrape (which may outlive this worker).
  std::shared_ptr<const counters::WorkerCounters> counters() const {
    return context_.state.counters;
  }

  // Connects the worker to the denial signer (before run()): its results
  // wake this worker's loop.
  void attach_denial_signer(dnssec::DenialSigner& signer);

  // Starts following the publisher; call once all sockets are added.
  void subscribe();
  // Stops following the publisher. Once it returns no wake-up is in flight.
  void unsubscribe();

  // Runs the loop until request_stop() has been processed. Worker thread.
  void run() noexcept;
  // Asks the running loop to close everything and return. Any thread.
  void request_stop() noexcept;

 private:
  static void on_snapshot_published(uv_async_t* async);
  static void on_quiet_window_end(uv_timer_t* timer);
  static void on_stop_requested(uv_async_t* async);
  static void on_signatures(uv_async_t* async);
  void close_handles() noexcept;

  SnapshotPublisher& publisher_;
  uv_loop_t loop_;
  uv_async_t snapshot_wake_;
  uv_timer_t quiet_window_;  // runs while publishes do not wake the loop
  const uint64_t quiet_window_ms_;
  // Bumped by every publish (any thread); the loop's last look is context_.seen.
  std::atomic<uint64_t> published_{0};
  // Set by the publish that sent the wake-up; cleared by the loop when a
  // quiet window ends with nothing new. Sequentially consistent with
  // `published_`, so a publish either sees it clear (and wakes the loop) or
  // the loop sees that publish's bump.
  std::atomic<bool> wake_sent_{false};
  uv_async_t stop_wake_;
  uv_async_t denial_wake_;  // the denial signer has results for us
  WorkerContext context_;
  TcpServer tcp_;
  size_t subscription_ = 0;
  bool handles_closed_ = false;
};

}  // namespace rotor::net
