#pragma once
// One worker thread's world: a libuv loop, its TCP listeners and
// connections, and its own pointer to the current snapshot. Built and torn
// down by WorkerPool. UDP is not served here: each UDP socket has a thread of
// its own blocking in recvmmsg (udp_responder.h), which measured cheaper per
// query than uv_poll + recvmmsg on this loop (issue 18).
// Apart from request_stop(), the publisher's and the denial signer's
// wake-ups, everything here runs on the worker's thread (or on the
// constructing thread before run()).

#include <uv.h>

#include <chrono>
#include <memory>

#include "server/net/socket.h"
#include "server/net/tcp_server.h"
#include "server/net/worker_context.h"
#include "server/snapshot/publisher.h"

namespace rotor::net {

class Worker {
 public:
  // `rate_limiter` (null: none) must outlive the worker.
  Worker(SnapshotPublisher& publisher, std::chrono::milliseconds tcp_idle_timeout,
         size_t tcp_max_connections, RateLimiter* rate_limiter = nullptr);
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
  static void on_stop_requested(uv_async_t* async);
  static void on_signatures(uv_async_t* async);
  void close_handles() noexcept;

  SnapshotPublisher& publisher_;
  uv_loop_t loop_;
  uv_async_t snapshot_wake_;
  uv_async_t stop_wake_;
  uv_async_t denial_wake_;  // the denial signer has results for us
  WorkerContext context_;
  TcpServer tcp_;
  size_t subscription_ = 0;
  bool handles_closed_ = false;
};

}  // namespace rotor::net
