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
// Only the connection loop is ours; request parsing and routing stay httplib's.

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

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
  explicit GuardedServer(ConnectionLimits limits);

 private:
  bool process_and_close_socket(socket_t sock) override;
  bool admit(const std::string& address);
  void release(const std::string& address);

  const ConnectionLimits limits_;
  std::mutex mutex_;
  std::unordered_map<std::string, size_t> per_client_;  // guarded by mutex_
};

}  // namespace rotor::api
