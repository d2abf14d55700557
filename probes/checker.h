#pragma once
// A checker runs one health check against one instance and reports pass or
// fail with a reason an operator can act on ("HTTP 503", "connection refused",
// "timeout after 2000 ms"). Checkers judge a single attempt; rise/fall
// hysteresis and scheduling belong to the prober pool and its state machine.

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "probes/backend_report.h"
#include "server/arrays/array.h"

namespace rotor::probes {

enum class CheckKind : uint8_t { http, https, tcp };

// `address`:`port` as the socket calls take it (sockaddr_in or sockaddr_in6).
sockaddr_storage to_sockaddr(const arrays::IpAddress& address, uint16_t port);

// The verdict on a final HTTP response, one for both HTTP clients so they
// cannot drift: passed when `status` is in [status_min, status_max] and
// `expect_body` (if any) occurs in `body` (what was kept of it); the reason
// is "HTTP <status>", or `body did not contain "x"` when only the body failed.
struct HttpVerdict {
  bool passed = false;
  std::string reason;
};
HttpVerdict judge_http_response(long status, std::string_view body, uint16_t status_min,
                                uint16_t status_max, const std::string& expect_body);

std::string_view to_string(CheckKind);

struct CheckTarget {
  arrays::IpAddress address;
  uint16_t port = 0;
  CheckKind kind = CheckKind::tcp;
  // HTTP(S) only below.
  std::string path = "/";
  std::string host;  // Host header and TLS SNI; empty: the address
  uint16_t expect_status_min = 200;
  uint16_t expect_status_max = 399;
  std::string expect_body;  // substring of the first 64 KiB of the body; empty: any
  std::chrono::milliseconds timeout{2000};
  bool tls_verify = false;  // verify the chain (system CAs) and the name
  // Read Rotor-Weight and Rotor-State from the response (backend_report.h).
  bool read_backend_report = false;
  // Keep the connection open for the next check of the same address and
  // port (check.reuse_connection); false: a fresh connection every time.
  bool reuse_connection = false;
  // The local address the check connects from (probes.source_address);
  // family 0: the kernel chooses. Must be of the target's family.
  arrays::IpAddress source;
};

struct CheckResult {
  bool passed = false;
  std::string reason;  // "HTTP 200", "connected", or why it failed
  std::chrono::microseconds latency{0};  // start() to verdict
  // What the backend reported about itself: set when the target asks for it
  // (read_backend_report) and a response arrived, passing or not; nullopt
  // when nothing was observed (no response), so the last report stays.
  std::optional<BackendReport> report;
};

// Contract: start() and every callback run on the thread of the uv loop the
// checker was built on. `done` is called exactly once, later on that thread,
// never from inside start(). Destroying a checker cancels the checks in
// flight: their `done` is never called. After destruction the loop must run
// once more so libuv can finish closing the checker's handles.
class Checker {
 public:
  using Done = std::function<void(CheckResult)>;

  virtual ~Checker() = default;
  virtual void start(const CheckTarget& target, Done done) = 0;
};

struct CheckSpec;  // probes/check_spec.h

// What to check on one instance of an array whose check is `spec`; the port
// defaults (80/443) come from the spec.
CheckTarget make_target(const CheckSpec& spec, const arrays::IpAddress& address);

// Shared reason texts, so HTTP and TCP checks word the same failure alike.
std::string timeout_reason(std::chrono::milliseconds timeout);
// `error` is a positive errno from a failed connect().
std::string connect_error_reason(int error);
// `error` is a positive errno from a failed bind() to `source`.
std::string bind_error_reason(const arrays::IpAddress& source, int error);

}  // namespace rotor::probes
