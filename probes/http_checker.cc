#include "probes/http_checker.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace rotor::probes {
namespace {

using Clock = std::chrono::steady_clock;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

void init_curl_once() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) throw std::runtime_error(std::string("curl init: ") + curl_easy_strerror(code));
}

std::string bracketed(const std::string& host) {
  if (host.find(':') == std::string::npos || host.starts_with('[')) return host;
  return "[" + host + "]";
}

bool is_tls_error(CURLcode code) {
  switch (code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct HttpChecker::Transfer {
  std::shared_ptr<CURLSH> tls_sessions;  // declared first: outlives `easy`, which uses it
  EasyHandle easy;
  std::unique_ptr<curl_slist, SlistDeleter> connect_to;
  std::string url;
  std::string interface;  // CURLOPT_INTERFACE keeps a pointer: "host!<source>"
  CheckTarget target;
  Done done;
  std::string body;  // kept only when the target expects a body
  size_t body_bytes = 0;
  bool body_capped = false;  // we stopped reading at kMaxBody, which is not a failure
  BackendHeaders backend_headers;  // collected when the target reads the backend's report
  Clock::time_point started;
  bool retried = false;  // a kept connection failed and the check went on a fresh one
  char error[CURL_ERROR_SIZE] = {};

  static size_t on_body(char* data, size_t size, size_t count, void* self) {
    auto& transfer = *static_cast<Transfer*>(self);
    size_t offered = size * count;
    size_t taken = std::min(offered, kMaxBody - transfer.body_bytes);
    if (!transfer.target.expect_body.empty()) transfer.body.append(data, taken);
    transfer.body_bytes += taken;
    // Returning less than offered makes curl abort with CURLE_WRITE_ERROR.
    if (taken < offered) transfer.body_capped = true;
    return taken;
  }

  static size_t on_header(char* data, size_t size, size_t count, void* self) {
    auto& transfer = *static_cast<Transfer*>(self);
    collect_backend_header(std::string_view(data, size * count), transfer.backend_headers);
    return size * count;
  }

  std::string curl_text(CURLcode code) const {
    return error[0] != '\0' ? std::string(error) : std::string(curl_easy_strerror(code));
  }
};

HttpChecker::HttpChecker(uv_loop_t* loop, std::chrono::seconds tls_session_max_age)
    : loop_(loop), tls_session_max_age_(tls_session_max_age), plain_(loop), socket_set_(loop, this) {
  init_curl_once();
  auto* curl_timer = new uv_timer_t;
  uv_timer_init(loop_, curl_timer);
  curl_timer->data = this;
  curl_timer_.reset(curl_timer);
  auto* deferred_timer = new uv_timer_t;
  uv_timer_init(loop_, deferred_timer);
  deferred_timer->data = this;
  deferred_timer_.reset(deferred_timer);

  multi_.reset(curl_multi_init());
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &HttpChecker::on_curl_socket);
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &HttpChecker::on_curl_timer);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this);
  // Only reuse_connection checks leave connections here, one per origin
  // checked at a time; past the cap curl closes the oldest idle one and that
  // origin's next check connects afresh.
  curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, kMaxKeptConnections);
}

HttpChecker::~HttpChecker() {
  *alive_ = false;
  // Removing a handle may call on_curl_socket to drop its sockets, so the
  // watches and timers must outlive this loop and the multi cleanup.
  for (auto& [easy, transfer] : transfers_) curl_multi_remove_handle(multi_.get(), easy);
  transfers_.clear();
  multi_.reset();
  socket_set_.close();
}

void HttpChecker::start(const CheckTarget& target, Done done) {
  if (target.kind == CheckKind::http) {
    plain_.start(target, std::move(done));
    return;
  }
  auto transfer = std::make_unique<Transfer>();
  transfer->target = target;
  transfer->done = std::move(done);
  transfer->started = Clock::now();
  if (idle_handles_.empty()) {
    transfer->easy.reset(curl_easy_init());
  } else {
    transfer->easy = std::move(idle_handles_.back());
    idle_handles_.pop_back();
    curl_easy_reset(transfer->easy.get());  // every option is set again below
  }
  if (!transfer->easy) {
    fail_later(std::move(transfer->done), "internal: curl_easy_init failed");
    return;
  }
  CURL* easy = transfer->easy.get();

  const std::string address = bracketed(target.address.to_string());
  const std::string port = std::to_string(target.port);
  const std::string authority_host = target.host.empty() ? address : bracketed(target.host);
  std::string path = target.path.empty() ? "/" : target.path;
  if (!path.starts_with('/')) path.insert(0, "/");
  transfer->url = std::string(target.kind == CheckKind::https ? "https" : "http") + "://" +
                  authority_host + ":" + port + path;
  if (!target.host.empty()) {
    // The URL names the host so Host and SNI carry it; CONNECT_TO sends the
    // connection to the instance. Unlike CURLOPT_RESOLVE it is per handle, not
    // an entry in the multi's shared DNS cache, so instances of one array
    // (same host, different addresses) cannot be mixed up.
    std::string rule = authority_host + ":" + port + ":" + address + ":" + port;
    transfer->connect_to.reset(curl_slist_append(nullptr, rule.c_str()));
    curl_easy_setopt(easy, CURLOPT_CONNECT_TO, transfer->connect_to.get());
  }

  const long timeout_ms = std::max<long>(1, static_cast<long>(target.timeout.count()));
  if (target.source.family != 0) {
    // "host!" makes curl take the text as an address to bind, never an interface name.
    transfer->interface = "host!" + target.source.to_string();
    curl_easy_setopt(easy, CURLOPT_INTERFACE, transfer->interface.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_URL, transfer->url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "rotor-probe");
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
  // By default a check proves a new connection works, not an old one; with
  // reuse_connection it takes an idle connection to the same origin from
  // the multi's cache, and leaves its own there for the next check.
  const long fresh = target.reuse_connection ? 0L : 1L;
  curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, fresh);
  curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, fresh);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, target.tls_verify ? 1L : 0L);
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, target.tls_verify ? 2L : 0L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error);
  if (target.read_backend_report) {
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
  }
  transfer->tls_sessions = tls_sessions_for(target);
  if (transfer->tls_sessions) curl_easy_setopt(easy, CURLOPT_SHARE, transfer->tls_sessions.get());

  CURLMcode added = curl_multi_add_handle(multi_.get(), easy);
  if (added != CURLM_OK) {
    fail_later(std::move(transfer->done), std::string("internal: ") + curl_multi_strerror(added));
    return;
  }
  transfers_.emplace(easy, std::move(transfer));
}

int HttpChecker::on_curl_socket(CURL*, curl_socket_t fd, int what, void* self_ptr, void* socket_data) {
  auto& self = *static_cast<HttpChecker*>(self_ptr);
  // socket_data (curl_multi_assign) marks a socket already in the set.
  const bool known = socket_data != nullptr;
  if (what == CURL_POLL_REMOVE) {
    if (!known) return 0;
    ::epoll_ctl(self.socket_set_.fd(), EPOLL_CTL_DEL, fd, nullptr);  // curl closes it right after
    if (--self.sockets_ == 0) uv_poll_stop(self.socket_set_.watch());
    return 0;
  }
  epoll_event event{};
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) event.events |= EPOLLIN;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) event.events |= EPOLLOUT;
  event.data.fd = fd;
  if (::epoll_ctl(self.socket_set_.fd(), known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &event) != 0) {
    return -1;  // curl fails the transfer that owns this socket
  }
  if (!known) {
    curl_multi_assign(self.multi_.get(), fd, &self);
    if (self.sockets_++ == 0) uv_poll_start(self.socket_set_.watch(), UV_READABLE, &HttpChecker::on_sockets_ready);
  }
  return 0;
}

int HttpChecker::on_curl_timer(CURLM*, long timeout_ms, void* self_ptr) {
  // curl forbids calling curl_multi_socket_action from here; even a 0 ms
  // timeout goes through the uv timer.
  auto& self = *static_cast<HttpChecker*>(self_ptr);
  if (timeout_ms < 0) {
    uv_timer_stop(self.curl_timer_.get());
  } else {
    uv_timer_start(self.curl_timer_.get(), &HttpChecker::on_timer, static_cast<uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void HttpChecker::on_sockets_ready(uv_poll_t* poll, int, int) {
  auto& self = *static_cast<HttpChecker*>(poll->data);
  constexpr int kBatch = 64;  // more stay ready: the set's fd stays readable and libuv calls again
  epoll_event ready[kBatch];
  const int count = ::epoll_wait(self.socket_set_.fd(), ready, kBatch, 0);
  int running = 0;
  for (int i = 0; i < count; ++i) {
    const uint32_t events = ready[i].events;
    int flags = 0;
    // On an error or hang-up curl reads or writes to learn why (a reset, a
    // refused connect), so it is told both and the error.
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_IN;
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_OUT;
    if (events & EPOLLERR) flags |= CURL_CSELECT_ERR;
    // A socket curl removed earlier in this batch is unknown to it now: curl ignores it.
    curl_multi_socket_action(self.multi_.get(), ready[i].data.fd, flags, &running);
  }
  self.collect_finished();
}

void HttpChecker::on_timer(uv_timer_t* timer) {
  static_cast<HttpChecker*>(timer->data)->drive(CURL_SOCKET_TIMEOUT, 0);
}

void HttpChecker::drive(curl_socket_t fd, int events) {
  int running = 0;
  curl_multi_socket_action(multi_.get(), fd, events, &running);
  collect_finished();
}

void HttpChecker::collect_finished() {
  std::vector<std::pair<Done, CheckResult>> finished;
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_.get(), &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* easy = message->easy_handle;
    CURLcode code = message->data.result;  // read before remove_handle frees the message
    auto found = transfers_.find(easy);
    curl_multi_remove_handle(multi_.get(), easy);
    if (found == transfers_.end()) continue;
    if (retry_fresh(*found->second, code)) continue;
    finished.emplace_back(std::move(found->second->done), verdict(*found->second, code));
    // An idle handle holds no share: an evicted origin's share is freed with its last transfer.
    curl_easy_setopt(easy, CURLOPT_SHARE, nullptr);
    if (idle_handles_.size() < kMaxIdleHandles) idle_handles_.push_back(std::move(found->second->easy));
    transfers_.erase(found);
  }
  // Callbacks run last: one of them may start new checks or destroy this checker.
  std::shared_ptr<bool> alive = alive_;
  for (auto& [done, result] : finished) {
    if (!*alive) return;
    done(std::move(result));
  }
}

bool HttpChecker::retry_fresh(Transfer& transfer, CURLcode code) {
  if (!transfer.target.reuse_connection || transfer.retried) return false;
  if (code != CURLE_GOT_NOTHING && code != CURLE_RECV_ERROR && code != CURLE_SEND_ERROR) return false;
  CURL* easy = transfer.easy.get();
  long connects = 0;
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
  if (connects != 0) return false;  // it failed on a connection of its own: a real failure
  // The kept connection died under the request (the server's keep-alive
  // timeout crossed it): not the instance's fault. Once more on a fresh
  // connection, within what is left of the timeout.
  const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - transfer.started);
  const long left_ms = static_cast<long>((transfer.target.timeout - spent).count());
  if (left_ms < 1) return false;
  transfer.retried = true;
  transfer.body.clear();
  transfer.body_bytes = 0;
  transfer.body_capped = false;
  transfer.backend_headers = {};
  transfer.error[0] = '\0';
  curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, left_ms);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, left_ms);
  return curl_multi_add_handle(multi_.get(), easy) == CURLM_OK;
}

CheckResult HttpChecker::verdict(Transfer& transfer, CURLcode code) const {
  CheckResult result;
  result.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - transfer.started);
  if (code == CURLE_WRITE_ERROR && transfer.body_capped) code = CURLE_OK;
  CURL* easy = transfer.easy.get();
  const CheckTarget& target = transfer.target;

  if (code != CURLE_OK) {
    long os_error = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_error);
    if (code == CURLE_OPERATION_TIMEDOUT) {
      result.reason = timeout_reason(target.timeout);
    } else if (code == CURLE_INTERFACE_FAILED) {
      result.reason = bind_error_reason(target.source, os_error != 0 ? static_cast<int>(os_error) : EADDRNOTAVAIL);
    } else if (code == CURLE_COULDNT_CONNECT && os_error != 0) {
      result.reason = connect_error_reason(static_cast<int>(os_error));
    } else if (is_tls_error(code)) {
      result.reason = "TLS: " + transfer.curl_text(code);
    } else if (code == CURLE_GOT_NOTHING) {
      result.reason = "empty reply: connection closed without a response";
    } else if ((code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR) && os_error != 0) {
      result.reason = connect_error_reason(static_cast<int>(os_error));
    } else {
      result.reason = transfer.curl_text(code);
    }
    return result;
  }

  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (target.read_backend_report) result.report = judge_backend_headers(transfer.backend_headers);
  HttpVerdict verdict = judge_http_response(status, transfer.body, target.expect_status_min,
                                            target.expect_status_max, target.expect_body);
  result.passed = verdict.passed;
  result.reason = std::move(verdict.reason);
  return result;
}

std::shared_ptr<CURLSH> HttpChecker::tls_sessions_for(const CheckTarget& target) {
  std::string origin = target.address.to_string() + ' ' + std::to_string(target.port) + ' ' + target.host + ' ' +
                       (target.source.family != 0 ? target.source.to_string() : std::string()) +
                       (target.tls_verify ? " verify" : "");
  const auto now = Clock::now();
  auto found = tls_sessions_.find(origin);
  if (found != tls_sessions_.end()) {
    tls_recency_.splice(tls_recency_.begin(), tls_recency_, found->second.recency);
    // Past the age the origin starts over: the next handshake is a full one,
    // so a certificate that changed or expired is seen. A transfer still
    // holding the old share keeps it alive until it ends.
    if (now - found->second.created < tls_session_max_age_) return found->second.share;
    tls_recency_.erase(found->second.recency);
    tls_sessions_.erase(found);
  }
  std::shared_ptr<CURLSH> share(curl_share_init(), [](CURLSH* handle) { curl_share_cleanup(handle); });
  if (!share || curl_share_setopt(share.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
    return nullptr;  // the check goes on without resumption
  }
  if (tls_sessions_.size() >= kMaxTlsSessionOrigins) {
    tls_sessions_.erase(tls_recency_.back());
    tls_recency_.pop_back();
  }
  tls_recency_.push_front(origin);
  tls_sessions_.emplace(std::move(origin), TlsSessions{share, now, tls_recency_.begin()});
  return share;
}

void HttpChecker::fail_later(Done done, std::string reason) {
  deferred_.emplace_back(std::move(done), std::move(reason));
  uv_timer_start(deferred_timer_.get(), &HttpChecker::on_deferred, 0, 0);
}

void HttpChecker::on_deferred(uv_timer_t* timer) {
  auto& self = *static_cast<HttpChecker*>(timer->data);
  auto failures = std::move(self.deferred_);
  self.deferred_.clear();
  std::shared_ptr<bool> alive = self.alive_;
  for (auto& [done, reason] : failures) {
    if (!*alive) return;
    done(CheckResult{false, std::move(reason), {}});
  }
}

}  // namespace rotor::probes
