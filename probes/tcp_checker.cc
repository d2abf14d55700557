#include "probes/tcp_checker.h"

#include <netinet/in.h>

#include <cstring>
#include <string>
#include <utility>

namespace rotor::probes {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

// Lives from start() until libuv has closed both handles, which may be after
// the verdict and after the checker is gone; `owner` is null from the verdict
// (or cancellation) on, so late callbacks know to do nothing.
struct TcpChecker::Attempt {
  TcpChecker* owner = nullptr;
  uv_tcp_t tcp{};
  uv_connect_t connect{};
  uv_timer_t timer{};
  Done done;
  std::chrono::milliseconds timeout{};
  Clock::time_point started;
  std::string early_failure;  // uv_tcp_connect failed at once; the timer reports it
  int open_handles = 2;

  void close_handles() {
    auto on_closed = [](uv_handle_t* handle) {
      auto* attempt = static_cast<Attempt*>(handle->data);
      if (--attempt->open_handles == 0) delete attempt;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_closed);
  }

  void finish(bool passed, std::string reason) {
    owner->attempts_.erase(this);
    owner = nullptr;
    close_handles();  // also cancels a pending connect: on_connect sees UV_ECANCELED
    auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
    // Called last and from a local: `done` may destroy the checker.
    Done report = std::move(done);
    report(CheckResult{passed, std::move(reason), latency});
  }

  static void on_connect(uv_connect_t* request, int status) {
    auto* attempt = static_cast<Attempt*>(request->data);
    if (status == UV_ECANCELED || attempt->owner == nullptr) return;
    if (status == 0) {
      attempt->finish(true, "connected");
    } else {
      attempt->finish(false, connect_error_reason(-status));
    }
  }

  static void on_timer(uv_timer_t* timer) {
    auto* attempt = static_cast<Attempt*>(timer->data);
    if (attempt->owner == nullptr) return;
    std::string reason = attempt->early_failure.empty() ? timeout_reason(attempt->timeout)
                                                        : std::move(attempt->early_failure);
    attempt->finish(false, std::move(reason));
  }
};

TcpChecker::TcpChecker(uv_loop_t* loop) : loop_(loop) {}

TcpChecker::~TcpChecker() {
  for (Attempt* attempt : attempts_) {
    attempt->owner = nullptr;
    attempt->close_handles();
  }
}

void TcpChecker::start(const CheckTarget& target, Done done) {
  auto* attempt = new Attempt;
  attempt->owner = this;
  attempt->done = std::move(done);
  attempt->timeout = target.timeout;
  attempt->started = Clock::now();
  uv_tcp_init(loop_, &attempt->tcp);
  uv_timer_init(loop_, &attempt->timer);
  attempt->tcp.data = attempt;
  attempt->timer.data = attempt;
  attempt->connect.data = attempt;
  attempts_.insert(attempt);

  uint64_t timeout_ms = target.timeout.count() > 0 ? static_cast<uint64_t>(target.timeout.count()) : 0;
  int error = 0;
  if (target.source.family != 0) {
    // Port 0: any local port, from the configured address.
    sockaddr_storage source = to_sockaddr(target.source, 0);
    error = uv_tcp_bind(&attempt->tcp, reinterpret_cast<const sockaddr*>(&source), 0);
    if (error != 0) attempt->early_failure = bind_error_reason(target.source, -error);
  }
  if (error == 0) {
    sockaddr_storage address = to_sockaddr(target.address, target.port);
    error = uv_tcp_connect(&attempt->connect, &attempt->tcp, reinterpret_cast<const sockaddr*>(&address),
                           &Attempt::on_connect);
    if (error != 0) attempt->early_failure = connect_error_reason(-error);
  }
  if (error != 0) timeout_ms = 0;  // reported from the loop, never from inside start()
  // The loop clock was read at the start of this iteration; without a refresh
  // the timeout would count from then, not from now.
  uv_update_time(loop_);
  uv_timer_start(&attempt->timer, &Attempt::on_timer, timeout_ms, 0);
}

}  // namespace rotor::probes
