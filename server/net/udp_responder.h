#pragma once
// One SO_REUSEPORT UDP socket served by a thread of its own (issue 18): the
// thread blocks in recvmmsg(MSG_WAITFORONE) (batches of up to 32, no epoll:
// one system call fewer per wake-up, which measured 0.88x the CPU per query
// of epoll + recvmmsg on the echo floor, tests/bench/README.md "Receive
// paths"), answers into preallocated slots and replies with one sendmmsg per
// batch. Nothing is allocated per packet; nothing is locked per query.
//
// The thread has its own WorkerContext (rotation counters, its own counters
// block for the metrics scrape, denial cache, parking lot, denial-signer
// channel): nothing of it is shared with the worker's libuv thread, which
// serves TCP. What other threads touch, and how:
// - the publisher's wake-up only bumps `published_` (an atomic generation
//   hint); the UDP thread compares it once per batch and per receive timeout,
//   and takes publisher.current() (a short lock) only when it changed;
// - request_stop() stores `stop_` and shutdown(SHUT_RD)s the socket, which
//   wakes a blocked recvmmsg; the file descriptor is closed only after join;
// - the denial signer writes this thread's result ring (SPSC) and calls a
//   no-op wake: the thread polls the ring per batch and, while any query is
//   parked, receives with a short timeout (kParkedTimeout) so that a quiet
//   socket still answers a late signature within a few milliseconds;
// - the counters block is single-writer (this thread), read by the scrape.
// An idle socket's recvmmsg returns every kIdleTimeout (SO_RCVTIMEO), so an
// idle thread still lets go of an old snapshot and sees `stop_` even if a
// shutdown() did not wake it.

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "server/net/parking_lot.h"
#include "server/net/socket.h"
#include "server/net/worker_context.h"
#include "server/snapshot/publisher.h"

namespace rotor::net {

class UdpResponder {
 public:
  // Takes a bound UDP socket (made blocking here). `wildcard`: replies must
  // leave from the address the query hit (IP_PKTINFO). `rate_limiter` (null:
  // none) and `publisher` must outlive this object.
  UdpResponder(SnapshotPublisher& publisher, UniqueFd fd, bool wildcard,
               RateLimiter* rate_limiter = nullptr);
  // Stops and joins the thread if it runs, and stops following the publisher.
  ~UdpResponder();
  UdpResponder(const UdpResponder&) = delete;
  UdpResponder& operator=(const UdpResponder&) = delete;

  // Connects to the denial signer (before it starts): a channel of our own.
  void attach_denial_signer(dnssec::DenialSigner& signer);
  // Starts following the publisher and takes its current snapshot. Before start().
  void subscribe();
  // Stops following the publisher; once it returns no wake-up is in flight.
  void unsubscribe();

  // Runs the thread (named `name`) until request_stop().
  void start(const std::string& name);
  // The thread start() created (the pool pins it to its worker's CPU).
  pthread_t native_handle() { return thread_.native_handle(); }
  // Asks the thread to return. Any thread; join() waits for it.
  void request_stop() noexcept;
  void join();

  // This thread's statistics block, for the metrics scrape (which may outlive us).
  std::shared_ptr<const counters::WorkerCounters> counters() const { return context_.state.counters; }

  // One round of the thread: waits for datagrams (at most the receive
  // timeout), takes a new snapshot and the signer's results if any, answers
  // the batch and sends the replies. Public for the allocation test, which
  // calls it without a thread; only one thread may call it.
  void serve_once() noexcept;

  static constexpr size_t kBatch = 32;
  static constexpr size_t kQuerySize = 4096;  // larger datagrams are dropped
  static constexpr size_t kReplySize = 4096;  // answer_query's UDP minimum
  // Queries waiting for a late signature (parking_lot.h): at most this many.
  static constexpr size_t kParkedSlots = 256;
  // SO_RCVTIMEO: how long an idle thread may keep an old snapshot or miss
  // stop_; and, while queries are parked, how often a quiet socket looks for
  // late signatures (the kernel rounds it up to a jiffy, 1-4 ms).
  static constexpr std::chrono::milliseconds kIdleTimeout{100};
  static constexpr std::chrono::milliseconds kParkedTimeout{2};

 private:
  // Room for the IP_PKTINFO / IPV6_PKTINFO of one datagram.
  static constexpr size_t kControlSize = CMSG_SPACE(sizeof(in6_pktinfo));
  struct alignas(cmsghdr) Control {
    uint8_t bytes[kControlSize];
  };

  // Where a parked query's late answer goes (always this thread's socket).
  struct Peer {
    sockaddr_storage address{};
    socklen_t address_length = 0;
    Control control{};
    socklen_t control_length = 0;
  };
  using Parked = ParkingLot<Peer, kParkedSlots>;

  void run() noexcept;
  // Takes the signer's results: the denial cache, then the parked queries.
  void take_signatures() noexcept;
  // Short timeout while queries are parked, long otherwise (one setsockopt per change).
  void set_receive_timeout(std::chrono::milliseconds timeout) noexcept;
  // Holds query `i` of the batch until its signature comes; false: dropped.
  void park(size_t i) noexcept;
  // Answers one parked query whose NSEC was signed (`result`).
  void answer_late(Parked::Slot& slot, const dnssec::SignedDenial& result, uint8_t* reply) noexcept;
  // Response rate limiting of one reply; false: not to be sent.
  bool admit(const sockaddr* client, uint8_t* reply, size_t& length) noexcept;
  size_t answer_batch(size_t received) noexcept;
  void send_batch(size_t count) noexcept;

  SnapshotPublisher& publisher_;
  UniqueFd fd_;
  const bool wildcard_;
  WorkerContext context_;
  size_t subscription_ = 0;
  // Bumped by every publish (any thread); the UDP thread's last look is
  // context_.seen (follow_publisher, worker_context.h).
  std::atomic<uint64_t> published_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::chrono::milliseconds receive_timeout_{0};  // what SO_RCVTIMEO is set to
  // CLOCK_MONOTONIC_COARSE in ms, read at most once per round and only when
  // something needs it (the rate limiter, parked queries): a plain array
  // answer reads no clock.
  uint64_t now_ms() noexcept;
  uint64_t now_ms_ = 0;
  bool clock_read_ = false;  // now_ms_ is this round's
  // received_ headers the last recvmmsg may have written to (reset before the next).
  size_t headers_written_ = kBatch;
  dnssec::SignedDenial signed_;  // take_signatures()'s buffer (large: kept, not on the stack)

  std::array<mmsghdr, kBatch> received_{};
  std::array<iovec, kBatch> received_iov_{};
  std::array<mmsghdr, kBatch> replies_{};
  std::array<iovec, kBatch> replies_iov_{};
  std::array<sockaddr_storage, kBatch> peers_{};
  std::array<Control, kBatch> controls_{};
  std::unique_ptr<uint8_t[]> query_buffers_;  // kBatch * kQuerySize
  std::unique_ptr<uint8_t[]> reply_buffers_;  // kBatch * kReplySize
  Parked parked_;
};

}  // namespace rotor::net
