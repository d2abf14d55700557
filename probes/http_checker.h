#pragma once
// HTTP and HTTPS checks on a libuv loop. Plain http goes to PlainHttpChecker
// (our own HTTP/1.1 client on libuv, plain_http_checker.h), https to libcurl's
// multi-socket interface: curl says which sockets to watch and when to wake
// it; a private epoll set (itself watched by one uv_poll) and one uv_timer do
// the watching, so many checks share one thread without blocking.

#include <curl/curl.h>
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "probes/checker.h"
#include "probes/plain_http_checker.h"
#include "probes/uv_owned.h"

namespace rotor::probes {

// Contract (beyond Checker's): one HttpChecker per loop, used only on that
// loop's thread; many may exist in a process. http targets go to its
// PlainHttpChecker, https targets to curl; both judge alike and word their
// reasons alike (plain_http_checker.h has the http path's own). Each check
// opens a fresh connection and closes it, unless the target has
// reuse_connection: then it takes an idle kept connection (https: to the same
// origin, address, port, Host and source; http: of the same target) when
// there is one and keeps its own open for the next check. A kept connection
// that fails before any response byte arrives (the server closed it while
// idle) is not a failure: the check goes on once on a fresh connection
// within the same timeout. Checks use no proxy, follow no redirect and read
// at most kMaxBody bytes of the body. A target with `host` set sends it as
// Host and SNI while connecting to the instance address. An https check
// resumes the TLS session of an earlier check of the same origin (address,
// port, Host, source, verification) when it has one, and makes a full
// handshake, certificate verification included, at least every
// kTlsSessionMaxAge: resumption spares the certificate work, not the
// connection, so a check still proves a new connection is accepted.
// Fails: status outside [expect_status_min, expect_status_max] ("HTTP 503"),
// expect_body not in the body ("body did not contain \"ok\""), timeout, refused,
// TLS errors ("TLS: <curl's text>"), an unusable target.source ("cannot bind
// source address A: <why>"). Passes with "HTTP <status>". A target with
// read_backend_report judges the final response's Rotor-Weight and
// Rotor-State headers into CheckResult::report, whatever the status.
class HttpChecker final : public Checker {
 public:
  static constexpr size_t kMaxBody = 64 * 1024;
  // TLS sessions: one curl share per origin (curl's own caches hold 5 or 8
  // sessions in all, far fewer than the origins one thread checks), the
  // least recently checked origin dropped past the cap.
  static constexpr size_t kMaxTlsSessionOrigins = 20000;
  static constexpr std::chrono::seconds kTlsSessionMaxAge{300};

  // `tls_session_max_age`: how long an origin's TLS session may be resumed
  // before the next check makes a full handshake (tests shorten it).
  explicit HttpChecker(uv_loop_t* loop, std::chrono::seconds tls_session_max_age = kTlsSessionMaxAge);
  ~HttpChecker() override;
  HttpChecker(const HttpChecker&) = delete;
  HttpChecker& operator=(const HttpChecker&) = delete;

  void start(const CheckTarget& target, Done done) override;

  size_t in_flight() const { return transfers_.size() + plain_.in_flight(); }
  size_t tls_session_origins() const { return tls_sessions_.size(); }

 private:
  struct Transfer;
  struct MultiDeleter {
    void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
  };
  struct EasyDeleter {
    void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
  };
  using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
  // An origin's session share; a transfer holds it while its handle uses it.
  struct TlsSessions {
    std::shared_ptr<CURLSH> share;
    std::chrono::steady_clock::time_point created;
    std::list<std::string>::iterator recency;  // in tls_recency_
  };
  // Idle easy handles, reset and reused: setting one up costs more than a
  // small check (its connection is still fresh every time).
  static constexpr size_t kMaxIdleHandles = 1024;
  // Idle connections kept for reuse_connection checks (CURLMOPT_MAXCONNECTS).
  static constexpr long kMaxKeptConnections = 20000;

  static int on_curl_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socket_data);
  static int on_curl_timer(CURLM* multi, long timeout_ms, void* self);
  static void on_sockets_ready(uv_poll_t* poll, int status, int events);
  static void on_timer(uv_timer_t* timer);
  static void on_deferred(uv_timer_t* timer);

  void drive(curl_socket_t fd, int events);
  void collect_finished();
  // Restarts a reuse_connection transfer whose kept connection failed, on a
  // fresh one; false when `code` is the check's verdict.
  bool retry_fresh(Transfer& transfer, CURLcode code);
  CheckResult verdict(Transfer& transfer, CURLcode code) const;
  void fail_later(Done done, std::string reason);
  // The session share for `target`'s origin (null if curl cannot make one).
  std::shared_ptr<CURLSH> tls_sessions_for(const CheckTarget& target);

  uv_loop_t* loop_;
  std::chrono::seconds tls_session_max_age_;
  PlainHttpChecker plain_;  // CheckKind::http targets
  UvOwned<uv_timer_t> curl_timer_;
  UvOwned<uv_timer_t> deferred_timer_;  // reports failures found inside start()
  std::vector<std::pair<Done, std::string>> deferred_;
  std::unordered_map<std::string, TlsSessions> tls_sessions_;
  std::list<std::string> tls_recency_;  // origins, most recently checked first
  std::unique_ptr<CURLM, MultiDeleter> multi_;
  std::unordered_map<CURL*, std::unique_ptr<Transfer>> transfers_;
  // curl's sockets live in this epoll set, not in one uv_poll each: a
  // uv_poll per socket cost an allocation and about six epoll_ctl/ioctl
  // calls per check (init probes the fd, every start deletes and re-adds it),
  // the set costs one epoll_ctl per change. libuv watches the set's fd while
  // it holds sockets.
  EpollWatch socket_set_;
  size_t sockets_ = 0;  // in the epoll set
  std::vector<EasyHandle> idle_handles_;
  // Cleared by the destructor, so a `done` that destroys the checker stops
  // the remaining callbacks of that batch.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace rotor::probes
