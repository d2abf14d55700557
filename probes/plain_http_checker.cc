#include "probes/plain_http_checker.h"

#include <http_parser.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace rotor::probes {
namespace {

using PlainClock = std::chrono::steady_clock;

// One read takes at most this much; a response larger than it comes in
// several reads (the parser keeps its place between them).
constexpr size_t kReadBufferSize = 64 * 1024;

// Idle objects kept for the next checks (see the header): enough for every
// check of a busy pool in flight at once.
constexpr size_t kMaxSpares = 1024;
// A spare attempt's body buffer larger than this is let go (it may have held
// up to kMaxBody of one check's body).
constexpr size_t kMaxSpareBodyCapacity = 4096;

// What curl sent as the check's request, byte for byte but for Connection;
// written over `request`, whose capacity is reused.
void build_request(const CheckTarget& target, std::string& request) {
  std::string host = target.host.empty() ? target.address.to_string() : target.host;
  if (host.find(':') != std::string::npos && !host.starts_with('[')) host = "[" + host + "]";
  request.clear();
  request.reserve(96 + target.path.size() + host.size());
  // As curl, which took the path as part of a URL: a fragment is not sent.
  const std::string_view path = std::string_view(target.path).substr(0, target.path.find('#'));
  request.append("GET ");
  if (!path.starts_with('/')) request.push_back('/');
  request.append(path);
  request.append(" HTTP/1.1\r\nHost: ");
  request.append(host);
  if (target.port != 80) {
    request.push_back(':');
    request.append(std::to_string(target.port));
  }
  request.append("\r\nUser-Agent: rotor-probe\r\nAccept: */*\r\n");
  if (!target.reuse_connection) request.append("Connection: close\r\n");
  request.append("\r\n");
}

}  // namespace

// One TCP connection: a non-blocking socket in the checker's epoll set
// (data.ptr names this). Closing it closes the socket, which also takes it
// out of the set; the memory goes to the checker's spares.
struct PlainHttpChecker::Connection {
  int fd = -1;                  // -1 once closed
  Attempt* attempt = nullptr;   // the check using it; null while idle
  bool connecting = false;      // the connect has not completed yet
  size_t request_sent = 0;      // bytes of attempt->key.request sent so far
  // While idle (kept): its place in the owner's list and its slot.
  Connection* idle_prev = nullptr;
  Connection* idle_next = nullptr;
  Connection** slot = nullptr;
  PlainClock::time_point idle_since;
};

// One check. After the verdict the attempt waits in its checker's spares for
// the next check. `owner` is null from the verdict (or cancellation) on.
struct PlainHttpChecker::Attempt {
  PlainHttpChecker* owner = nullptr;
  Attempt* prev = nullptr;  // the owner's list of unfinished checks
  Attempt* next = nullptr;
  // Its place in the owner's FIFO of its timeout (deadline order).
  Attempt* deadline_prev = nullptr;
  Attempt* deadline_next = nullptr;
  size_t deadline_queue = 0;  // index in the owner's deadline_queues_
  Done done;
  PlainClock::time_point started;
  PlainClock::time_point deadline;  // started + timeout; started when early_failure is set
  std::chrono::milliseconds timeout{};
  uint16_t expect_status_min = 200;
  uint16_t expect_status_max = 399;
  bool read_backend_report = false;
  bool reuse_connection = false;
  std::string expect_body;
  KeptKey key;  // key.request is the request sent
  std::string early_failure;  // found inside start(); the deadline timer reports it
  Connection* connection = nullptr;
  bool on_kept = false;  // the connection was a kept one (a retry is allowed)

  // The response, reset by every message (an interim 1xx is not the final one).
  http_parser parser{};
  bool got_bytes = false;
  bool complete = false;  // the final response ended
  bool capped = false;    // kMaxBody bytes of body taken and more offered
  bool keep_alive = false;
  uint16_t status = 0;
  size_t body_bytes = 0;
  std::string body;  // kept only when expect_body is set
  BackendHeaders backend_headers;
  std::string header_field;  // the header being read, when read_backend_report
  std::string header_value;
  bool in_value = false;

  void flush_header() {
    if (in_value) {
      std::string line = header_field;
      line.push_back(':');
      line.append(header_value);
      collect_backend_header(line, backend_headers);
    }
    header_field.clear();
    header_value.clear();
    in_value = false;
  }

  static Attempt& of(http_parser* parser) { return *static_cast<Attempt*>(parser->data); }

  static int on_message_begin(http_parser* parser) {
    Attempt& attempt = of(parser);
    attempt.status = 0;
    attempt.body_bytes = 0;
    attempt.body.clear();
    attempt.backend_headers = {};
    attempt.header_field.clear();
    attempt.header_value.clear();
    attempt.in_value = false;
    return 0;
  }

  static int on_header_field(http_parser* parser, const char* at, size_t length) {
    Attempt& attempt = of(parser);
    if (!attempt.read_backend_report) return 0;
    if (attempt.in_value) attempt.flush_header();
    attempt.header_field.append(at, length);
    return 0;
  }

  static int on_header_value(http_parser* parser, const char* at, size_t length) {
    Attempt& attempt = of(parser);
    if (!attempt.read_backend_report) return 0;
    attempt.in_value = true;
    attempt.header_value.append(at, length);
    return 0;
  }

  static int on_headers_complete(http_parser* parser) {
    Attempt& attempt = of(parser);
    if (attempt.read_backend_report) attempt.flush_header();
    attempt.status = static_cast<uint16_t>(parser->status_code);
    return 0;
  }

  static int on_body(http_parser* parser, const char* at, size_t length) {
    Attempt& attempt = of(parser);
    const size_t taken = std::min(length, kMaxBody - attempt.body_bytes);
    if (!attempt.expect_body.empty()) attempt.body.append(at, taken);
    attempt.body_bytes += taken;
    if (taken < length) {
      // As curl's write callback refusing the rest: enough was read to judge.
      attempt.capped = true;
      http_parser_pause(parser, 1);
    }
    return 0;
  }

  static int on_message_complete(http_parser* parser) {
    Attempt& attempt = of(parser);
    if (attempt.status >= 100 && attempt.status < 200) return 0;  // interim; the final one follows
    // A chunked body's trailer fields come through the header callbacks with
    // no headers_complete after them; curl handed them to its header
    // callback too, so they count as the response's headers.
    if (attempt.read_backend_report) attempt.flush_header();
    attempt.complete = true;
    attempt.keep_alive = http_should_keep_alive(parser) != 0;
    http_parser_pause(parser, 1);  // bytes after the response are not ours to parse
    return 0;
  }

  void reset_response() {
    http_parser_init(&parser, HTTP_RESPONSE);
    parser.data = this;
    got_bytes = false;
    complete = false;
    capped = false;
    keep_alive = false;
    status = 0;
    body_bytes = 0;
    body.clear();
    backend_headers = {};
    header_field.clear();
    header_value.clear();
    in_value = false;
  }
};

namespace {

const http_parser_settings kPlainParserSettings = [] {
  http_parser_settings settings{};
  http_parser_settings_init(&settings);
  using Attempt = PlainHttpChecker::Attempt;
  settings.on_message_begin = &Attempt::on_message_begin;
  settings.on_header_field = &Attempt::on_header_field;
  settings.on_header_value = &Attempt::on_header_value;
  settings.on_headers_complete = &Attempt::on_headers_complete;
  settings.on_body = &Attempt::on_body;
  settings.on_message_complete = &Attempt::on_message_complete;
  return settings;
}();

}  // namespace

size_t PlainHttpChecker::KeptKeyHash::operator()(const KeptKey& key) const noexcept {
  size_t hash = std::hash<std::string_view>{}(key.request);
  auto mix = [&hash](uint64_t value) { hash ^= value + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2); };
  uint64_t word = 0;
  std::memcpy(&word, key.address.bytes, 8);
  mix(word);
  std::memcpy(&word, key.address.bytes + 8, 8);
  mix(word);
  mix(static_cast<uint64_t>(key.port) << 16 | key.address.family << 8 | key.source.family);
  std::memcpy(&word, key.source.bytes, 8);
  mix(word);
  return hash;
}

PlainHttpChecker::PlainHttpChecker(uv_loop_t* loop)
    : loop_(loop), socket_set_(loop, this), read_buffer_(std::make_unique<char[]>(kReadBufferSize)) {
  auto* timer = new uv_timer_t;
  uv_timer_init(loop, timer);  // cannot fail on Unix
  timer->data = this;
  deadline_timer_.reset(timer);
  // Watched for good: an empty set is never readable, and starting and
  // stopping a uv_poll costs epoll_ctl calls of libuv's own.
  uv_poll_start(socket_set_.watch(), UV_READABLE, &PlainHttpChecker::on_sockets_ready);
}

PlainHttpChecker::~PlainHttpChecker() {
  if (destroyed_ != nullptr) *destroyed_ = true;
  while (attempts_ != nullptr) {
    Attempt* attempt = attempts_;
    attempts_ = attempt->next;
    attempt->owner = nullptr;
    if (attempt->connection != nullptr) close_connection(attempt->connection);
    delete attempt;
  }
  while (idle_oldest_ != nullptr) close_connection(idle_oldest_);
  for (Attempt* attempt : spare_attempts_) delete attempt;
  // Their sockets are closed: nothing refers to them.
  for (Connection* connection : spare_connections_) delete connection;
  for (Connection* connection : closed_in_batch_) delete connection;
  socket_set_.close();
}

void PlainHttpChecker::start(const CheckTarget& target, Done done) {
  Attempt* attempt;
  if (spare_attempts_.empty()) {
    attempt = new Attempt;
  } else {
    // Stopped, its callbacks done: only the fields below are set afresh
    // (the response's are reset with the request, reset_response).
    attempt = spare_attempts_.back();
    spare_attempts_.pop_back();
  }
  attempt->owner = this;
  attempt->prev = nullptr;
  attempt->done = std::move(done);
  attempt->started = PlainClock::now();
  attempt->timeout = target.timeout;
  attempt->expect_status_min = target.expect_status_min;
  attempt->expect_status_max = target.expect_status_max;
  attempt->read_backend_report = target.read_backend_report;
  attempt->reuse_connection = target.reuse_connection;
  attempt->expect_body = target.expect_body;
  attempt->key.address = target.address;
  attempt->key.source = target.source;
  attempt->key.port = target.port;
  build_request(target, attempt->key.request);
  attempt->early_failure.clear();
  attempt->connection = nullptr;
  attempt->on_kept = false;
  attempt->reset_response();
  attempt->next = attempts_;
  if (attempts_ != nullptr) attempts_->prev = attempt;
  attempts_ = attempt;
  ++in_flight_;

  Connection* kept = target.reuse_connection ? take_kept(attempt->key) : nullptr;
  if (kept != nullptr) {
    kept->attempt = attempt;
    attempt->connection = kept;
    attempt->on_kept = true;
    if (send_request(*attempt) != 0) {
      // Not writable any more: as a kept connection that died, so afresh.
      close_connection(kept);
      attempt->connection = nullptr;
      kept = nullptr;
    }
  }
  if (kept == nullptr) attempt->early_failure = connect_fresh(*attempt);
  // An early failure is reported from the loop, never from inside start():
  // a deadline of now, in a FIFO of its own.
  enqueue_deadline(*attempt, attempt->early_failure.empty()
                                 ? std::max(std::chrono::milliseconds(1), target.timeout)
                                 : std::chrono::milliseconds(0));
}

void PlainHttpChecker::enqueue_deadline(Attempt& attempt, std::chrono::milliseconds timeout) {
  size_t index = 0;
  while (index < deadline_queues_.size() && deadline_queues_[index].timeout != timeout) ++index;
  if (index == deadline_queues_.size()) deadline_queues_.push_back(DeadlineQueue{timeout});
  DeadlineQueue& queue = deadline_queues_[index];
  // The clock only goes forward, so the newest deadline of a FIFO is its last.
  attempt.deadline = attempt.started + timeout;
  attempt.deadline_queue = index;
  attempt.deadline_next = nullptr;
  attempt.deadline_prev = queue.tail;
  if (queue.tail != nullptr) {
    queue.tail->deadline_next = &attempt;
  } else {
    queue.head = &attempt;
  }
  queue.tail = &attempt;
  if (attempt.deadline < armed_for_) arm_for(attempt.deadline);
}

void PlainHttpChecker::dequeue_deadline(Attempt& attempt) {
  DeadlineQueue& queue = deadline_queues_[attempt.deadline_queue];
  if (attempt.deadline_prev != nullptr) {
    attempt.deadline_prev->deadline_next = attempt.deadline_next;
  } else {
    queue.head = attempt.deadline_next;
  }
  if (attempt.deadline_next != nullptr) {
    attempt.deadline_next->deadline_prev = attempt.deadline_prev;
  } else {
    queue.tail = attempt.deadline_prev;
  }
  attempt.deadline_prev = nullptr;
  attempt.deadline_next = nullptr;
  // The timer stays armed: when it fires for nothing, it is armed for the next head.
}

void PlainHttpChecker::arm_for(PlainClockTime deadline) {
  armed_for_ = deadline;
  // libuv counts from its loop time, read at the top of this iteration;
  // refreshed, so that the wait counts from now. Rounded up to the
  // millisecond: the timer never fires before the deadline by more than
  // libuv's truncation of its clock, and a wake that finds no check due
  // arms it again.
  uv_update_time(loop_);
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - PlainClock::now());
  uv_timer_start(deadline_timer_.get(), &PlainHttpChecker::on_timer,
                 static_cast<uint64_t>(std::max<int64_t>(0, wait.count())), 0);
}

std::string PlainHttpChecker::connect_fresh(Attempt& attempt) {
  Connection* connection;
  if (spare_connections_.empty()) {
    connection = new Connection;
  } else {
    // Closed (fd -1, out of every list): only the fields below are set afresh.
    connection = spare_connections_.back();
    spare_connections_.pop_back();
  }
  connection->attempt = &attempt;
  connection->connecting = true;
  connection->request_sent = 0;
  attempt.connection = connection;
  attempt.on_kept = false;
  const sockaddr_storage address = to_sockaddr(attempt.key.address, attempt.key.port);
  const socklen_t address_length = address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  connection->fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (connection->fd < 0) return connect_error_reason(errno);
  if (attempt.key.source.family != 0) {
    // As libuv's uv_tcp_bind did: SO_REUSEADDR, dual-stack IPv6, port 0
    // (any local port) from the configured address.
    const int fd = connection->fd;
    const sockaddr_storage source = to_sockaddr(attempt.key.source, 0);
    const socklen_t source_length = source.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    int on = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) {
      return bind_error_reason(attempt.key.source, errno);
    }
    int v6_only = 0;
    if (source.ss_family == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof v6_only) != 0 &&
        errno != ENOPROTOOPT) {
      return bind_error_reason(attempt.key.source, errno);
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&source), source_length) != 0) {
      // libuv reported a source of the other family as EINVAL.
      return bind_error_reason(attempt.key.source, errno == EAFNOSUPPORT ? EINVAL : errno);
    }
  }
  int rc;
  do {
    rc = ::connect(connection->fd, reinterpret_cast<const sockaddr*>(&address), address_length);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0 && errno != EINPROGRESS) {
    return errno == EADDRINUSE && attempt.key.source.family != 0 ? bind_error_reason(attempt.key.source, errno)
                                                                 : connect_error_reason(errno);
  }
  // Both directions at once and edge-triggered: the connect's completion
  // (writable) and the response (readable) each wake the loop once, with no
  // epoll_ctl between them; the close takes the socket out of the set.
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.ptr = connection;
  if (::epoll_ctl(socket_set_.fd(), EPOLL_CTL_ADD, connection->fd, &event) != 0) return connect_error_reason(errno);
  return {};
}

int PlainHttpChecker::send_request(Attempt& attempt) {
  attempt.reset_response();
  attempt.connection->request_sent = 0;
  return send_rest(*attempt.connection);
}

int PlainHttpChecker::send_rest(Connection& connection) {
  // A request fits the socket buffer of a connection with nothing in flight,
  // so it goes in one send(). MSG_NOSIGNAL: a connection reset under it is
  // an EPIPE (as curl had it), never a SIGPIPE, whatever the process does
  // with the signal. A partial send (which a request never is in practice)
  // leaves the rest for the next writable edge.
  const std::string& request = connection.attempt->key.request;
  while (connection.request_sent < request.size()) {
    const ssize_t written = ::send(connection.fd, request.data() + connection.request_sent,
                                   request.size() - connection.request_sent, MSG_NOSIGNAL);
    if (written >= 0) {
      connection.request_sent += static_cast<size_t>(written);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -errno;
  }
  return 0;
}

void PlainHttpChecker::on_sockets_ready(uv_poll_t* poll, int status, int) {
  auto& self = *static_cast<PlainHttpChecker*>(poll->data);
  if (status != 0) return;
  // More stay ready when there are more than a batch: the set's fd stays
  // readable and libuv calls again.
  constexpr int kBatch = 256;
  epoll_event ready[kBatch];
  const int count = ::epoll_wait(self.socket_set_.fd(), ready, kBatch, 0);
  bool destroyed = false;
  self.destroyed_ = &destroyed;
  self.dispatching_ = true;
  for (int i = 0; i < count && !destroyed; ++i) {
    self.on_socket_event(*static_cast<Connection*>(ready[i].data.ptr), ready[i].events);
  }
  if (destroyed) return;
  self.destroyed_ = nullptr;
  self.dispatching_ = false;
  // No event of this batch is left to name them.
  for (Connection* connection : self.closed_in_batch_) self.recycle_connection(connection);
  self.closed_in_batch_.clear();
}

void PlainHttpChecker::on_socket_event(Connection& connection, uint32_t events) {
  if (connection.fd < 0) return;  // closed earlier in this batch
  constexpr uint32_t kReadable = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
  if (connection.attempt == nullptr) {
    // Idle: the server closed it, or sent what nobody asked for. Either way
    // it is no use for the next check. (A writable edge alone is no news.)
    if ((events & kReadable) != 0) close_connection(&connection);
    return;
  }
  Attempt& attempt = *connection.attempt;
  if (connection.connecting) {
    if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
      // Refused, unreachable, reset: the socket says which.
      int error = 0;
      socklen_t length = sizeof error;
      if (::getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      finish(attempt, false, connect_error_reason(error != 0 ? error : ECONNRESET), false);
      return;
    }
    if ((events & EPOLLOUT) == 0) return;
    connection.connecting = false;
    if (int error = send_request(attempt); error != 0) {
      finish(attempt, false, connect_error_reason(-error), false);
      return;
    }
  } else if ((events & EPOLLOUT) != 0 && connection.request_sent < attempt.key.request.size()) {
    if (int error = send_rest(connection); error != 0) {
      // As a failed write of the request: the read side judges a response
      // under way; a kept connection that died goes on afresh.
      if (!attempt.got_bytes) {
        if (!retry_fresh(attempt)) finish(attempt, false, connect_error_reason(-error), false);
        return;
      }
    }
  }
  if ((events & kReadable) != 0) read_available(connection, events);
}

void PlainHttpChecker::read_available(Connection& connection, uint32_t events) {
  // Edge-triggered: read until the socket is drained. A read shorter than
  // the buffer drained it, unless the peer's end (or an error) came too,
  // which only a further read reports (and which no new edge would).
  const bool ended = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
  char* const buffer = read_buffer_.get();
  for (;;) {
    ssize_t nread = ::recv(connection.fd, buffer, kReadBufferSize, 0);
    if (nread < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      nread = -errno;
    } else if (nread == 0) {
      nread = UV_EOF;
    }
    const bool drained = nread > 0 && static_cast<size_t>(nread) < kReadBufferSize && !ended;
    if (!on_data(connection, nread, buffer, ended) || drained || nread < 0) return;
  }
}

bool PlainHttpChecker::on_data(Connection& connection, ssize_t nread, const char* data, bool peer_ended) {
  if (connection.attempt == nullptr) {
    // Idle: the server closed it, or sent what nobody asked for. Either way
    // it is no use for the next check.
    close_connection(&connection);
    return false;
  }
  Attempt& attempt = *connection.attempt;
  if (nread < 0) {
    if (!attempt.got_bytes && retry_fresh(attempt)) return false;
    if (nread != UV_EOF) {
      finish(attempt, false, connect_error_reason(static_cast<int>(-nread)), false);
      return false;
    }
    if (!attempt.got_bytes) {
      finish(attempt, false, "empty reply: connection closed without a response", false);
      return false;
    }
    // The end of the stream ends a response that had no length.
    http_parser_execute(&attempt.parser, &kPlainParserSettings, nullptr, 0);
    if (!attempt.complete) {
      finish(attempt, false, "connection closed before the response ended", false);
      return false;
    }
    attempt.keep_alive = false;
  } else {
    attempt.got_bytes = true;
    const size_t parsed =
        http_parser_execute(&attempt.parser, &kPlainParserSettings, data, static_cast<size_t>(nread));
    const http_errno error = HTTP_PARSER_ERRNO(&attempt.parser);
    if (error != HPE_OK && error != HPE_PAUSED) {
      finish(attempt, false, std::string("malformed response: ") + http_errno_description(error), false);
      return false;
    }
    if (!attempt.complete && !attempt.capped) return true;  // more to come
    // Bytes after the response: the connection's stream is no longer ours to trust.
    if (parsed != static_cast<size_t>(nread)) attempt.keep_alive = false;
  }

  HttpVerdict verdict = judge_http_response(attempt.status, attempt.body, attempt.expect_status_min,
                                            attempt.expect_status_max, attempt.expect_body);
  std::optional<BackendReport> report;
  if (attempt.read_backend_report) report = judge_backend_headers(attempt.backend_headers);
  // A server that closed right behind its response (its end came with it,
  // and no further edge would say so once the connection is idle) is not kept.
  const bool keep =
      attempt.reuse_connection && attempt.complete && !attempt.capped && attempt.keep_alive && !peer_ended;
  finish(attempt, verdict.passed, std::move(verdict.reason), keep, std::move(report));
  return false;
}

bool PlainHttpChecker::retry_fresh(Attempt& attempt) {
  if (!attempt.on_kept) return false;  // it failed on a connection of its own: a real failure
  // The kept connection died under the request (the server's keep-alive
  // timeout crossed it, or it restarted): not the instance's fault. Once
  // more on a fresh connection; the check's deadline stays, so the retry
  // has what is left of the same timeout.
  Connection* dead = attempt.connection;
  dead->attempt = nullptr;
  close_connection(dead);
  attempt.connection = nullptr;
  std::string failure = connect_fresh(attempt);
  if (!failure.empty()) finish(attempt, false, std::move(failure), false);
  return true;
}

void PlainHttpChecker::on_timer(uv_timer_t* timer) {
  auto& self = *static_cast<PlainHttpChecker*>(timer->data);
  self.armed_for_ = PlainClockTime::max();  // a one-shot timer: no longer armed
  const PlainClockTime now = PlainClock::now();
  bool destroyed = false;
  self.destroyed_ = &destroyed;
  // Every check due now; `done` may start checks (later deadlines, at the
  // tails) or destroy this checker.
  for (size_t index = 0; index < self.deadline_queues_.size() && !destroyed; ++index) {
    for (;;) {
      Attempt* attempt = self.deadline_queues_[index].head;
      if (attempt == nullptr || attempt->deadline > now) break;
      std::string reason = attempt->early_failure.empty() ? timeout_reason(attempt->timeout)
                                                          : std::move(attempt->early_failure);
      self.finish(*attempt, false, std::move(reason), false);
      if (destroyed) break;
    }
  }
  if (destroyed) return;
  self.destroyed_ = nullptr;
  PlainClockTime earliest = PlainClockTime::max();
  for (const DeadlineQueue& queue : self.deadline_queues_) {
    if (queue.head != nullptr) earliest = std::min(earliest, queue.head->deadline);
  }
  if (earliest < self.armed_for_) self.arm_for(earliest);
}

void PlainHttpChecker::finish(Attempt& attempt, bool passed, std::string reason, bool keep_connection,
                              std::optional<BackendReport> report) {
  CheckResult result;
  result.passed = passed;
  result.reason = std::move(reason);
  result.latency = std::chrono::duration_cast<std::chrono::microseconds>(PlainClock::now() - attempt.started);
  result.report = std::move(report);

  if (attempt.prev != nullptr) attempt.prev->next = attempt.next;
  if (attempt.next != nullptr) attempt.next->prev = attempt.prev;
  if (attempts_ == &attempt) attempts_ = attempt.next;
  --in_flight_;
  attempt.owner = nullptr;

  if (Connection* connection = attempt.connection; connection != nullptr) {
    attempt.connection = nullptr;
    connection->attempt = nullptr;
    if (keep_connection) {
      keep(connection, attempt.key);
    } else {
      close_connection(connection);
    }
  }
  Done done = std::move(attempt.done);
  attempt.done = nullptr;
  dequeue_deadline(attempt);
  if (spare_attempts_.size() < kMaxSpares) {
    if (attempt.body.capacity() > kMaxSpareBodyCapacity) std::string().swap(attempt.body);
    spare_attempts_.push_back(&attempt);
  } else {
    delete &attempt;
  }
  // Last and from a local: `done` may start checks or destroy this checker.
  done(std::move(result));
}

void PlainHttpChecker::close_connection(Connection* connection) {
  if (connection->slot != nullptr) unlink_idle(connection);
  connection->attempt = nullptr;
  if (connection->fd >= 0) ::close(connection->fd);  // also leaves the epoll set: the socket is never duplicated
  connection->fd = -1;
  if (dispatching_) {
    closed_in_batch_.push_back(connection);
  } else {
    recycle_connection(connection);
  }
}

void PlainHttpChecker::recycle_connection(Connection* connection) {
  if (spare_connections_.size() < kMaxSpares) {
    spare_connections_.push_back(connection);
  } else {
    delete connection;
  }
}

void PlainHttpChecker::keep(Connection* connection, const KeptKey& key) {
  auto [slot, inserted] = slots_.try_emplace(key, nullptr);
  // Two checks of one target at once (identical requests from two specs)
  // left two connections: the older idle one goes.
  if (slot->second != nullptr) close_connection(slot->second);
  slot->second = connection;
  connection->slot = &slot->second;
  connection->idle_since = PlainClock::now();
  connection->idle_prev = idle_newest_;
  connection->idle_next = nullptr;
  if (idle_newest_ != nullptr) idle_newest_->idle_next = connection;
  idle_newest_ = connection;
  if (idle_oldest_ == nullptr) idle_oldest_ = connection;
  ++kept_;
  if (kept_ > kMaxKeptConnections) close_connection(idle_oldest_);
  // Slots of targets that went away stay empty; drop them now and then.
  if (inserted && slots_.size() > 2 * kMaxKeptConnections) {
    std::erase_if(slots_, [](const auto& entry) { return entry.second == nullptr; });
  }
}

PlainHttpChecker::Connection* PlainHttpChecker::take_kept(const KeptKey& key) {
  auto found = slots_.find(key);
  if (found == slots_.end() || found->second == nullptr) return nullptr;
  Connection* connection = found->second;
  unlink_idle(connection);
  if (PlainClock::now() - connection->idle_since > kMaxIdle) {
    close_connection(connection);
    return nullptr;
  }
  return connection;
}

void PlainHttpChecker::unlink_idle(Connection* connection) {
  *connection->slot = nullptr;
  connection->slot = nullptr;
  if (connection->idle_prev != nullptr) connection->idle_prev->idle_next = connection->idle_next;
  if (connection->idle_next != nullptr) connection->idle_next->idle_prev = connection->idle_prev;
  if (idle_oldest_ == connection) idle_oldest_ = connection->idle_next;
  if (idle_newest_ == connection) idle_newest_ = connection->idle_prev;
  connection->idle_prev = nullptr;
  connection->idle_next = nullptr;
  --kept_;
}

}  // namespace rotor::probes
