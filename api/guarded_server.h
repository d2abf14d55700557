#pragma once
// httplib's server with the limits httplib 0.11 lacks, so that no client can
// stall the API for the others:
// - a deadline per request (reading it, handling it, writing the reply): a
//   client that trickles its request a byte at a time, which httplib's
//   per-read timeout never catches, is cut off;
// - a cap on the connections one client address holds at once: more are
//   answered 429 and closed without taking a worker;
// - workers started on demand up to a ceiling, so connections never queue
//   behind slow ones while the ceiling is not reached.
// - TLS (with a TlsContext): each connection's handshake and encrypted
//   reads and writes run under the same deadlines and byte budget; a plain
//   HTTP request to the TLS port is answered 400 in plain HTTP.
// - with serve_with: one handler for every request, and rotor's own reader
//   and writer for the common requests (api/request_head.h): the head parsed
//   from what the first read brought, the body read to its Content-Length,
//   the reply written as httplib writes it (same status line, headers and
//   order). Every other request (chunked, Expect, Range, forms, compression,
//   a head split over reads, anything unusual) goes through httplib's
//   process_request as before, which also routes it to the handler.
//   process_request cost about 79,000 instructions a request besides the
//   handler, the own reader and writer 25,000 (tests/bench/README.md).
// Thread-safety: httplib's Server contract (handlers run on the workers).

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>

#include "api/tls_context.h"
#include "server/common/lock_guarded.h"

namespace rotor::api {

struct ConnectionLimits {
  std::chrono::milliseconds request_deadline{30000};
  std::chrono::milliseconds io_timeout{5000};  // longest silence within a request
  std::chrono::milliseconds keep_alive_idle{5000};
  size_t max_requests_per_connection = 100;
  // Bytes one request may send, headers and body; past it reads fail. httplib
  // caps a declared Content-Length but not a chunked body.
  size_t max_request_bytes = (1 << 20) + (64 << 10);
  size_t max_per_client = 8;
  size_t max_workers = 64;
};

class GuardedServer : public httplib::Server {
 public:
  // `tls` null: plain HTTP.
  explicit GuardedServer(ConnectionLimits limits, std::shared_ptr<const TlsContext> tls = nullptr);

  // Serves every request of every routed method (GET, HEAD, POST, PUT, PATCH,
  // DELETE, OPTIONS) and path with `handler`, whichever reader parsed it;
  // `error_handler` and `exception_handler` as httplib's. Call before listening.
  // The handler's reply must be a body (no content provider: answered 500).
  void serve_with(Handler handler, HandlerWithResponse error_handler, ExceptionHandler exception_handler);
  // False: every request through httplib's reader (for the tests that compare
  // the two). Call before listening.
  void set_own_reader(bool on) { own_reader_ = on; }
  // Requests served by the own reader so far.
  size_t own_reader_requests() const { return own_reader_requests_.load(std::memory_order_relaxed); }

 private:
  bool process_and_close_socket(socket_t sock) override;
  // The connection's requests until it ends; the caller closes the socket.
  bool serve_connection(socket_t sock);
  // One request as httplib's process_request serves it; the stream is a DeadlineStream.
  bool serve_request(httplib::Stream& stream, bool close_connection, bool& connection_closed);
  // The reply's bytes into `stream` as httplib's write_response_core writes
  // them; `close_connection`: this is the connection's last request, or the
  // client asked for "Connection: close".
  void write_reply(httplib::Stream& stream, bool close_connection, const httplib::Request& request,
                   httplib::Response& response) const;
  bool admit(const std::string& address);
  void release(const std::string& address);

  const ConnectionLimits limits_;
  const std::shared_ptr<const TlsContext> tls_;
  LockGuarded<std::unordered_map<std::string, size_t>> per_client_;  // connections by address
  Handler handler_;  // empty: httplib's reader only
  HandlerWithResponse on_error_;
  ExceptionHandler on_exception_;
  bool own_reader_ = true;
  std::atomic<size_t> own_reader_requests_{0};
};

}  // namespace rotor::api
