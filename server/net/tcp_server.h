#pragma once
// A worker's TCP side (RFC 7766): its SO_REUSEPORT listeners and the
// connections they accept. Messages carry a 2-byte length prefix; a
// connection may pipeline many queries, answered in order. Connections are
// closed when idle too long, when the worker's share of the connection cap is
// reached (least recently active first), on a zero-length or unanswerable
// message (after the replies before it are flushed), and at EOF (once the
// queries parked for a signature are answered). A query parked for a compact
// denial's signature is answered when it comes, after the queries behind it
// (RFC 7766 6.2.1.1 lets replies leave out of order; clients match by ID).

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <vector>

#include "server/net/parking_lot.h"
#include "server/net/socket.h"
#include "server/net/worker_context.h"

namespace rotor::net {

class TcpServer {
 public:
  TcpServer(WorkerContext& context, std::chrono::milliseconds idle_timeout,
            size_t max_connections);
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Starts accepting on a bound, listening socket; takes ownership of it.
  // Throws std::runtime_error if libuv refuses it.
  void add_listener(UniqueFd fd);
  // Closes the listeners, every connection and the idle timer.
  void close() noexcept;

  // Answers the queries parked for `result`'s name (or drops them when it
  // failed). Worker thread, outside any read callback.
  void answer_parked(const dnssec::SignedDenial& result) noexcept;

  // Replies waiting to be written beyond which a connection stops reading.
  static constexpr size_t kMaxQueuedReplyBytes = 128 * 1024;
  // Queries waiting for a late signature (parking_lot.h): at most this many.
  static constexpr size_t kParkedSlots = 64;

 private:
  struct Connection;
  using Connections = std::list<Connection>;
  struct Connection {
    uv_tcp_t handle;
    uv_write_t write;
    TcpServer* owner = nullptr;
    Connections::iterator self;
    uint64_t last_active = 0;     // uv_now() of the last read or write
    sockaddr_storage peer{};
    std::vector<uint8_t> unread;  // received bytes not yet a whole message
    std::vector<uint8_t> queued;  // framed replies waiting for `in_flight`
    std::vector<uint8_t> in_flight;
    bool writing = false;
    bool paused = false;     // reading stopped because too much is queued
    bool finishing = false;  // no more queries: close once the replies are out
    bool closing = false;
    uint32_t parked = 0;  // queries of this connection waiting for a signature
  };
  using Parked = ParkingLot<Connection*, kParkedSlots>;
  struct Listener {
    uv_tcp_t handle;
    TcpServer* owner = nullptr;
  };

  static void on_connection(uv_stream_t* listener, int status);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* request, int status);
  static void on_close(uv_handle_t* handle);
  static void on_idle_timer(uv_timer_t* timer);

  void accept(uv_stream_t* listener) noexcept;
  void answer_pending(Connection& connection) noexcept;
  void flush(Connection& connection) noexcept;
  void finish(Connection& connection) noexcept;
  // Holds one query until its signature comes; drops it (counted) when it cannot.
  void park(Connection& connection, const uint8_t* query, size_t size) noexcept;
  // Answers one parked query whose NSEC was signed (`result`).
  void answer_late(Parked::Slot& slot, const dnssec::SignedDenial& result) noexcept;
  void touch(Connection& connection) noexcept;
  void close_connection(Connection& connection) noexcept;
  void arm_idle_timer() noexcept;

  WorkerContext& context_;
  const uint64_t idle_timeout_ms_;
  const size_t max_connections_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  Connections active_;   // least recently active first
  Connections closing_;  // waiting for their close callback
  uv_timer_t idle_timer_;
  bool closed_ = false;
  std::unique_ptr<uint8_t[]> read_buffer_;    // shared by all reads of this worker
  std::unique_ptr<uint8_t[]> answer_buffer_;  // 2-byte prefix + one reply
  Parked parked_;
};

}  // namespace rotor::net
