#pragma once
// The transport layer: N worker threads, each with its own libuv loop and, for
// every listen address, its own SO_REUSEPORT TCP listener (RFC 7766 framing,
// pipelining, idle timeout, connection cap); and for every listen address N
// SO_REUSEPORT UDP sockets, each served by a thread of its own blocking in
// recvmmsg (udp_responder.h). Every serving thread calls answer_query() on its
// own snapshot pointer with its own state and counters block.

#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "server/counters/worker_counters.h"
#include "server/dnssec/denial_signer.h"
#include "server/query/rate_limiter.h"
#include "server/snapshot/publisher.h"

namespace rotor::net {

struct ListenEndpoint {
  sockaddr_storage address{};  // port 0: the kernel picks one, shared by UDP and TCP
  std::string text;            // "127.0.0.1:5353", "[::1]:5353"
};

// Parses "ADDR:PORT", "[V6]:PORT"; nullopt-like: returns false and sets error.
bool parse_endpoint(const std::string& text, ListenEndpoint& out, std::string& error);

struct NetworkOptions {
  std::vector<ListenEndpoint> listen;
  unsigned threads = 1;  // at least 1 (the pool throws std::invalid_argument on 0)
  // Empty: the serving threads are not pinned. Else serving thread i (worker
  // i's TCP loop and its UDP socket on every listen address) runs on
  // worker_cpus[i % size] alone, pinned as start() creates it.
  std::vector<int> worker_cpus;
  std::chrono::milliseconds tcp_idle_timeout{10000};
  size_t tcp_max_connections = 1000;  // per process, shared out across workers
  // Limits UDP replies per client prefix; one table shared by every worker.
  // Null: no limiting.
  std::shared_ptr<RateLimiter> rate_limiter;
  // Each serving thread's request and result rings to the denial signer
  // (compact denial): requests beyond it are dropped and counted. Tests
  // make it small to reach that path whatever the relative speeds of the
  // signer and the threads (TSan slows them differently).
  size_t denial_ring_capacity = dnssec::DenialSigner::kRingCapacity;
};

class WorkerPool {
 public:
  // Opens and binds every socket (so errors surface before start). Throws
  // std::runtime_error naming the address and the reason on failure.
  WorkerPool(NetworkOptions options, SnapshotPublisher& publisher);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts the serving threads (and pins them, see worker_cpus). Throws
  // std::runtime_error when a thread cannot be pinned; stop() still joins
  // what started.
  void start();
  // Stops every worker, closes every socket, joins the threads. Idempotent.
  void stop();

  // The endpoints actually bound (ports resolved when 0 was asked for).
  std::vector<ListenEndpoint> bound() const;

  // Every worker's and UDP thread's statistics block, for the metrics scrape. Thread-safe: the
  // list is fixed at construction, and the blocks live as long as the pool
  // (and as long as a caller holds them), even after stop().
  std::vector<std::shared_ptr<const counters::WorkerCounters>> counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rotor::net
