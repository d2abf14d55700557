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
// Only the connection loop is ours; request parsing and routing stay httplib's.
// Thread-safety: httplib's Server contract (handlers run on the workers).

#include <httplib.h>

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

 private:
  bool process_and_close_socket(socket_t sock) override;
  // The connection's requests until it ends; the caller closes the socket.
  bool serve_connection(socket_t sock);
  bool admit(const std::string& address);
  void release(const std::string& address);

  const ConnectionLimits limits_;
  const std::shared_ptr<const TlsContext> tls_;
  LockGuarded<std::unordered_map<std::string, size_t>> per_client_;  // connections by address
};

}  // namespace rotor::api
