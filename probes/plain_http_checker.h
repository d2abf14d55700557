#pragma once
// Plain-HTTP checks (check.type "http") with a small HTTP/1.1 client of our
// own on a libuv loop: one non-blocking TCP socket per connection, one
// prebuilt GET, the response read with nodejs/http-parser (Debian's
// libhttp-parser). HttpChecker hands its http targets here and keeps libcurl
// for https. It exists for CPU: curl's per-connection bookkeeping
// (getsockname/getpeername/fcntl, its connection cache, allocations per
// transfer) cost about 17 system calls and 110 us per fresh check, this
// client 6 (tests/bench/README.md). The sockets are not libuv's uv_tcp
// handles but live in a private edge-triggered epoll set that one uv_poll
// watches: a socket joins it once for both directions and leaves it by being
// closed, where uv_tcp spent three more system calls per fresh check (a
// getsockopt(SO_ERROR) after the connect, an epoll_ctl to stop watching for
// writable, an epoll_ctl delete before the close).

#include <uv.h>

#include "probes/uv_owned.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "probes/checker.h"

namespace rotor::probes {

// Contract (beyond Checker's): used only on its loop's thread; judges exactly
// as HttpChecker's curl path did, with the same reason texts.
// - The request: "GET <path> HTTP/1.1", Host (target.host or the address,
//   with ":<port>" unless 80), "User-Agent: rotor-probe", "Accept: */*", and
//   "Connection: close" unless target.reuse_connection. No redirect is
//   followed, no proxy used.
// - Interim 1xx responses are skipped; the final response is judged once it
//   has ended (Content-Length, chunked or end of stream) or kMaxBody bytes
//   of its body arrived. Passes with "HTTP <status>" when the status is in
//   [expect_status_min, expect_status_max] and expect_body occurs in the
//   first kMaxBody bytes of the (de-chunked) body.
// - Fails with "HTTP <status>", "body did not contain \"x\"", "timeout after
//   N ms" (the whole check, connect to verdict), connect_error_reason's texts
//   (refused, reset, ...), bind_error_reason's ("cannot bind source address
//   A: <why>"), "empty reply: connection closed without a response",
//   "connection closed before the response ended" and "malformed response:
//   <http-parser's description>".
// - read_backend_report: the final response's Rotor-Weight and Rotor-State
//   values go through collect_backend_header, whatever the status.
// - reuse_connection: a connection whose response ended cleanly and that the
//   server keeps open is kept for the next check of the same target
//   (address, port, source, request). While idle it is still read, so a
//   server that closes it is noticed and it is dropped. A check on a kept
//   connection that fails before any response byte (closed, reset) goes on
//   once on a fresh connection within the same deadline. At most
//   kMaxKeptConnections are kept (the longest idle closes first); one idle
//   for more than kMaxIdle is closed instead of used.
// - Timeouts: one libuv timer for all the checker's checks, not one per
//   check. Checks wait in one FIFO per timeout value (a check's deadline is
//   its start plus its timeout, so each FIFO is in deadline order); the timer
//   is armed for the earliest head and, when it fires, times out every check
//   whose deadline has passed and is armed again. A judged check leaves its
//   FIFO and the timer alone (no libuv timer start and stop per check, nor
//   a heap update): a timer armed for a check judged since fires for nothing
//   and is armed for the next head, about once per timeout.
// - Allocation: a check's state and a closed connection's memory are kept
//   for the next checks (up to 1,024 of each), so a steady round of checks
//   allocates nothing of its own but the Done it is given; the destructor
//   frees them.
// - Construction throws std::runtime_error when the epoll set cannot be made
//   (out of file descriptors), as HttpChecker's does.
class PlainHttpChecker final : public Checker {
  using PlainClockTime = std::chrono::steady_clock::time_point;

 public:
  static constexpr size_t kMaxBody = 64 * 1024;
  static constexpr size_t kMaxKeptConnections = 20000;
  // As curl's CURLOPT_MAXAGE_CONN default, which the curl path had.
  static constexpr std::chrono::seconds kMaxIdle{118};

  explicit PlainHttpChecker(uv_loop_t* loop);
  ~PlainHttpChecker() override;
  PlainHttpChecker(const PlainHttpChecker&) = delete;
  PlainHttpChecker& operator=(const PlainHttpChecker&) = delete;

  void start(const CheckTarget& target, Done done) override;

  size_t in_flight() const { return in_flight_; }
  size_t kept_connections() const { return kept_; }

  // Public only so the parser's callback table (a file-local constant) can
  // name Attempt's callbacks; nothing outside the .cc uses either.
  struct Attempt;
  struct Connection;

 private:
  struct KeptKey {
    arrays::IpAddress address;
    arrays::IpAddress source;
    uint16_t port = 0;
    std::string request;
    bool operator==(const KeptKey&) const = default;
  };
  struct KeptKeyHash {
    size_t operator()(const KeptKey& key) const noexcept;
  };

  // Empty when the connect is under way; else why it could not start.
  std::string connect_fresh(Attempt& attempt);
  // 0 (sent, or the rest waits for the socket to be writable), or -errno.
  int send_request(Attempt& attempt);
  // The rest of a request a full socket buffer cut short; as send_request.
  int send_rest(Connection& connection);
  // What the epoll set reported for one socket.
  void on_socket_event(Connection& connection, uint32_t events);
  // Reads until the socket is drained or the check needs no more.
  void read_available(Connection& connection, uint32_t events);
  // One read's outcome: nread bytes, UV_EOF, or -errno; peer_ended when the
  // socket's event said the server's end (or an error) came too. True while
  // the check goes on reading this connection; false once it was judged,
  // moved to a fresh connection or the connection was idle (then `done` may
  // have destroyed this checker: touch nothing).
  bool on_data(Connection& connection, ssize_t nread, const char* data, bool peer_ended);
  // A kept connection failed before any response byte: once more afresh.
  bool retry_fresh(Attempt& attempt);
  // Reports the verdict (`done` last: it may destroy this checker) and keeps
  // or closes the connection.
  void finish(Attempt& attempt, bool passed, std::string reason, bool keep_connection,
              std::optional<BackendReport> report = std::nullopt);
  void close_connection(Connection* connection);
  void recycle_connection(Connection* connection);
  void keep(Connection* connection, const KeptKey& key);
  Connection* take_kept(const KeptKey& key);
  void unlink_idle(Connection* connection);

  // Deadlines (see the contract): checks in flight, one FIFO per timeout.
  struct DeadlineQueue {
    std::chrono::milliseconds timeout{};
    Attempt* head = nullptr;
    Attempt* tail = nullptr;
  };
  void enqueue_deadline(Attempt& attempt, std::chrono::milliseconds timeout);
  void dequeue_deadline(Attempt& attempt);
  // Arms the timer for `deadline` unless it is armed for one at least as early.
  void arm_for(PlainClockTime deadline);

  static void on_sockets_ready(uv_poll_t* poll, int status, int events);
  static void on_timer(uv_timer_t* timer);

  uv_loop_t* loop_;
  // The one timer of every check's deadline, armed for armed_for_ (max: not armed).
  UvOwned<uv_timer_t> deadline_timer_;
  PlainClockTime armed_for_ = PlainClockTime::max();
  // Usually one or two timeout values; a FIFO stays once made.
  std::vector<DeadlineQueue> deadline_queues_;
  // Every connection's socket, edge-triggered, watched as one fd by the loop.
  EpollWatch socket_set_;
  // While a batch of socket events is dispatched: set by the destructor when
  // a `done` destroys this checker, so the batch stops.
  bool* destroyed_ = nullptr;
  // One read buffer for every connection: a read is parsed before the next.
  std::unique_ptr<char[]> read_buffer_;
  // Checks not yet judged (intrusive list), for cancelling.
  Attempt* attempts_ = nullptr;
  size_t in_flight_ = 0;
  // Idle kept connections, longest idle first (intrusive list) ...
  Connection* idle_oldest_ = nullptr;
  Connection* idle_newest_ = nullptr;
  size_t kept_ = 0;
  // ... and where each target's is: slots persist (null when none is idle)
  // so keeping and taking allocate nothing once a target was seen.
  std::unordered_map<KeptKey, Connection*, KeptKeyHash> slots_;
  // Judged checks, out of their deadline FIFO, for the next start() ...
  std::vector<Attempt*> spare_attempts_;
  // ... closed connections, for the next connect ...
  std::vector<Connection*> spare_connections_;
  // ... and those closed while a batch of events is dispatched, which wait
  // for its end: a later event of the batch may still name them, and must
  // find them closed, not reused for another socket.
  std::vector<Connection*> closed_in_batch_;
  bool dispatching_ = false;
};

}  // namespace rotor::probes
