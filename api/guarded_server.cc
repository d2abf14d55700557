#include "api/guarded_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "api/request_head.h"
#include "server/common/background_thread.h"

// httplib's reason phrases, exported by libcpp-httplib but not declared in its
// header (namespace detail: not a stable API). The own writer uses it so that
// its status lines are httplib's, byte for byte.
namespace httplib::detail {
const char* status_message(int status);
}  // namespace httplib::detail

namespace rotor::api {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string address_text(const sockaddr_storage& address, int& port) {
  char text[INET6_ADDRSTRLEN] = "";
  port = 0;
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    port = ntohs(v4.sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    port = ntohs(v6.sin6_port);
  }
  return text;
}

// httplib's header order (detail::ci: names compared through tolower).
bool less_ignoring_case(std::string_view a, std::string_view b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](unsigned char x, unsigned char y) {
    return std::tolower(x) < std::tolower(y);
  });
}
bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

// What the first bytes of a connection to a TLS port are.
enum class Opening { tls, plain, nothing };

// A socket stream whose every wait ends at the request's deadline as well as
// after the silence limit; httplib's own stream only has the latter. After
// accept_tls it reads and writes through OpenSSL on the now non-blocking
// socket, with the same waits, so TLS keeps every limit.
//
// What httplib writes is gathered and sent by flush(): before the stream
// waits for input (an "Expect: 100-continue" reply must reach the client
// before its body comes) and when a request is done. httplib writes a reply's
// headers and body apart; sent apart they were two TCP segments, each paying
// the loopback's whole transmit and receive path. A read or write tries the
// socket first and polls only when it is not ready (a poll per call was a
// system call per read and write), a plain connection waits for its next
// request in one blocking recv bounded by SO_RCVTIMEO (not a poll and a
// recv), and the peer's and our addresses, which httplib asks for on every
// request, are read once per connection.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int fd, milliseconds io_timeout) : fd_(fd), io_timeout_(io_timeout) {}
  ~DeadlineStream() override {
    if (ssl_ == nullptr) return;
    // One try at close_notify; never after a fatal error (OpenSSL forbids it).
    ERR_clear_error();
    if (tls_usable_) SSL_shutdown(ssl_);
    SSL_free(ssl_);
    ERR_clear_error();
  }
  DeadlineStream(const DeadlineStream&) = delete;
  DeadlineStream& operator=(const DeadlineStream&) = delete;

  // A TLS connection starts with a handshake record (0x16); anything else is
  // a client speaking plain HTTP (or nothing) to the TLS port.
  Opening peek_opening() {
    unsigned char first = 0;
    if (!wait(POLLIN)) return Opening::nothing;
    ssize_t got;
    do {
      got = ::recv(fd_, &first, 1, MSG_PEEK);
    } while (got < 0 && errno == EINTR);
    if (got <= 0) return Opening::nothing;
    return first == 0x16 ? Opening::tls : Opening::plain;
  }

  // The TLS handshake, within the current deadline; false when it fails or
  // times out.
  bool accept_tls(SSL_CTX* context) {
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) < 0) return false;
    ssl_ = SSL_new(context);
    if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) return false;
    tls_usable_ = tls_call([this] { return SSL_accept(ssl_); }) > 0;
    return tls_usable_;
  }

  void start_request(milliseconds time, size_t bytes) {
    deadline_ = Clock::now() + time;
    bytes_left_ = bytes;
  }

  // Waits up to `idle` (and never past no deadline) for the next request's
  // first byte; false when the client went quiet or closed.
  bool wait_for_request(milliseconds idle) {
    if (begin_ < end_ || tls_pending()) return true;
    if (ssl_ == nullptr && idle > milliseconds(0)) {
      // Plain HTTP: one blocking recv, bounded by SO_RCVTIMEO (set once per
      // connection), instead of a poll and then a recv.
      if (idle != receive_timeout_) {
        const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(idle).count();
        const timeval timeout{.tv_sec = static_cast<time_t>(micros / 1000000),
                              .tv_usec = static_cast<suseconds_t>(micros % 1000000)};
        if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) return false;
        receive_timeout_ = idle;
      }
      ssize_t got;
      do {
        got = ::recv(fd_, buffer_, sizeof buffer_, 0);
      } while (got < 0 && errno == EINTR);
      if (got <= 0) return false;
      begin_ = 0;
      end_ = static_cast<size_t>(got);
      return true;
    }
    pollfd entry{.fd = fd_, .events = POLLIN, .revents = 0};
    int ready;
    do {
      ready = ::poll(&entry, 1, static_cast<int>(idle.count()));
    } while (ready < 0 && errno == EINTR);
    return ready > 0;
  }

  bool is_readable() const override {
    if (begin_ < end_ || tls_pending()) return true;
    // A wait for input may follow: what is gathered must be out first. (The
    // override is const; the stream is httplib's only to use.)
    if (!out_.empty() && !const_cast<DeadlineStream*>(this)->flush()) return false;
    return wait(POLLIN);
  }
  bool is_writable() const override { return wait(POLLOUT); }

  ssize_t read(char* out, size_t size) override {
    if (bytes_left_ == 0) return -1;
    if (!out_.empty() && !flush()) return -1;
    if (begin_ == end_) {
      const ssize_t got = receive();
      if (got <= 0) return got;
      begin_ = 0;
      end_ = static_cast<size_t>(got);
    }
    const size_t n = std::min({size, end_ - begin_, bytes_left_});
    std::memcpy(out, buffer_ + begin_, n);
    begin_ += n;
    bytes_left_ -= n;
    return static_cast<ssize_t>(n);
  }

  // Gathers; flush() sends. A large reply goes out in pieces of kFlushAt.
  ssize_t write(const char* data, size_t size) override {
    out_.append(data, size);
    if (out_.size() >= kFlushAt && !flush()) return -1;
    return static_cast<ssize_t>(size);
  }

  // Sends what write() gathered; false when the peer is gone or the
  // request's deadline passed (the connection is then closed).
  bool flush() {
    size_t done = 0;
    bool ok = true;
    while (done < out_.size()) {
      const ssize_t sent = send_some(out_.data() + done, out_.size() - done);
      if (sent <= 0) {
        ok = false;
        break;
      }
      done += static_cast<size_t>(sent);
    }
    out_.clear();
    return ok;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    if (!remote_) remote_ = address_of(::getpeername);
    ip = remote_->ip;
    port = remote_->port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    if (!local_) local_ = address_of(::getsockname);
    ip = local_->ip;
    port = local_->port;
  }
  socket_t socket() const override { return fd_; }

  // The request reached its byte budget: what follows cannot be framed.
  bool exhausted() const noexcept { return bytes_left_ == 0; }

  // For the own reader: what was read and not consumed, after one read if
  // nothing was (as httplib's first read would do); false when the peer
  // closed, failed or timed out before sending anything.
  bool fill() {
    if (begin_ < end_) return true;
    if (bytes_left_ == 0) return false;
    const ssize_t got = receive();
    if (got <= 0) return false;
    begin_ = 0;
    end_ = static_cast<size_t>(got);
    return true;
  }
  std::string_view buffered() const noexcept { return {buffer_ + begin_, end_ - begin_}; }
  // Takes `n` buffered bytes as read; false (nothing taken) past the budget.
  bool consume(size_t n) noexcept {
    if (n > end_ - begin_ || n >= bytes_left_) return false;
    begin_ += n;
    bytes_left_ -= n;
    return true;
  }
  // Appends exactly `n` bytes to `out`; false when the peer closed, failed,
  // timed out or the budget ran out first.
  bool read_exactly(std::string& out, size_t n) {
    const size_t start = out.size();
    out.resize(start + n);
    for (size_t done = 0; done < n;) {
      const ssize_t got = read(out.data() + start + done, n - done);
      if (got <= 0) {
        out.resize(start + done);
        return false;
      }
      done += static_cast<size_t>(got);
    }
    return true;
  }

 private:
  struct Endpoint {
    std::string ip;
    int port = 0;
  };
  template <typename Name>
  Endpoint address_of(Name name) const {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    Endpoint endpoint;
    if (name(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      endpoint.ip = address_text(address, endpoint.port);
    }
    return endpoint;
  }

  // Bytes into buffer_: >0 read, 0 closed, -1 failed or timed out.
  ssize_t receive() {
    if (ssl_ != nullptr) {
      return tls_call([this] { return SSL_read(ssl_, buffer_, sizeof buffer_); });
    }
    return ready_call(POLLIN, [this] { return ::recv(fd_, buffer_, sizeof buffer_, MSG_DONTWAIT); });
  }

  // >0 bytes sent, -1 failed or timed out.
  ssize_t send_some(const char* data, size_t size) {
    if (ssl_ != nullptr) {
      const int length = static_cast<int>(std::min<size_t>(size, INT32_MAX));
      return tls_call([&] { return SSL_write(ssl_, data, length); });
    }
    return ready_call(POLLOUT, [&] { return ::send(fd_, data, size, MSG_NOSIGNAL | MSG_DONTWAIT); });
  }

  // A non-blocking recv or send, tried at once and again after each poll
  // says the socket is ready, until it does not block: the deadline and the
  // silence limit hold as with a poll before every call.
  template <typename Call>
  ssize_t ready_call(short events, Call&& call) {
    if (Clock::now() >= deadline_) return -1;
    for (;;) {
      const ssize_t result = call();
      if (result >= 0) return result;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait(events)) return -1;
    }
  }

  // Runs an OpenSSL call until it completes, waiting (within the deadline)
  // for whatever it wants: >0 its result, 0 the peer closed, -1 failed.
  template <typename Call>
  int tls_call(Call&& call) {
    for (;;) {
      ERR_clear_error();  // SSL_get_error reads this thread's queue
      const int result = call();
      if (result > 0) return result;
      const int error = SSL_get_error(ssl_, result);
      if (error == SSL_ERROR_WANT_READ && wait(POLLIN)) continue;
      if (error == SSL_ERROR_WANT_WRITE && wait(POLLOUT)) continue;
      if (error != SSL_ERROR_ZERO_RETURN && error != SSL_ERROR_WANT_READ &&
          error != SSL_ERROR_WANT_WRITE) {
        tls_usable_ = false;
      }
      ERR_clear_error();
      return error == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
  }

  // Decrypted bytes OpenSSL holds that poll cannot see.
  bool tls_pending() const { return ssl_ != nullptr && SSL_pending(ssl_) > 0; }

  bool wait(short events) const {
    pollfd entry{.fd = fd_, .events = events, .revents = 0};
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now());
      if (left <= milliseconds(0)) return false;
      const int ready = ::poll(&entry, 1, static_cast<int>(std::min(left, io_timeout_).count()));
      if (ready < 0 && errno == EINTR) continue;
      return ready > 0;
    }
  }

  int fd_;
  milliseconds io_timeout_;
  Clock::time_point deadline_ = Clock::now();
  size_t bytes_left_ = 0;
  char buffer_[4096];
  size_t begin_ = 0;
  size_t end_ = 0;
  SSL* ssl_ = nullptr;       // set by accept_tls
  bool tls_usable_ = false;  // handshake done and no fatal error since
  static constexpr size_t kFlushAt = 64 << 10;
  milliseconds receive_timeout_{0};  // SO_RCVTIMEO as set by wait_for_request; 0: none
  std::string out_;  // written, not sent yet
  mutable std::optional<Endpoint> remote_;  // read on first use
  mutable std::optional<Endpoint> local_;
};

// Workers started when a connection finds none idle, up to `ceiling`; beyond
// it connections wait in line. They stay until shutdown.
class OnDemandPool final : public httplib::TaskQueue {
 public:
  explicit OnDemandPool(size_t ceiling) : ceiling_(std::max<size_t>(ceiling, 1)) {}
  ~OnDemandPool() override { shutdown(); }

  void enqueue(std::function<void()> job) override {
    auto state = state_.lock();
    state->jobs.push_back(std::move(job));
    if (state->idle == 0 && state->workers.size() < ceiling_) {
      state->workers.emplace_back([this] {
        lower_this_thread_priority();
        run();
      });
    } else {
      wake_.notify_one();
    }
  }

  void shutdown() override {
    {
      auto state = state_.lock();
      if (state->stopping && state->workers.empty()) return;
      state->stopping = true;
    }
    wake_.notify_all();
    std::vector<std::thread> workers;
    workers.swap(state_.lock()->workers);
    for (std::thread& worker : workers) worker.join();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        auto state = state_.lock();
        ++state->idle;
        wake_.wait(state.lock(), [&] { return state->stopping || !state->jobs.empty(); });
        --state->idle;
        if (state->jobs.empty()) return;  // stopping, nothing left
        job = std::move(state->jobs.front());
        state->jobs.pop_front();
      }
      job();
    }
  }

  struct State {
    std::deque<std::function<void()>> jobs;
    std::vector<std::thread> workers;
    size_t idle = 0;
    bool stopping = false;
  };
  const size_t ceiling_;
  LockGuarded<State> state_;
  std::condition_variable wake_;
};

// Written by hand: a refused connection holds its worker only for this write.
const std::string& too_many_connections_reply() {
  static const std::string reply = [] {
    const std::string body =
        R"({"error":{"code":429,"message":"too many connections from this address","field":null}})";
    return "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
           "Connection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  return reply;
}

// A plain HTTP request to the TLS port gets a plain answer saying so,
// rather than a TLS alert the client cannot show.
const std::string& plain_http_on_tls_reply() {
  static const std::string reply = [] {
    const std::string body =
        R"({"error":{"code":400,"message":"this port speaks HTTPS (TLS); use https://","field":null}})";
    return "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
           "Connection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  return reply;
}

}  // namespace

GuardedServer::GuardedServer(ConnectionLimits limits, std::shared_ptr<const TlsContext> tls)
    : limits_(limits), tls_(std::move(tls)) {
  // httplib's default of 5 requests per connection makes a busy client
  // reconnect constantly; the per-request deadline already bounds a connection's hold.
  set_keep_alive_max_count(limits_.max_requests_per_connection);
  const size_t ceiling = limits_.max_workers;
  new_task_queue = [ceiling] { return new OnDemandPool(ceiling); };
}

void GuardedServer::serve_with(Handler handler, HandlerWithResponse error_handler,
                               ExceptionHandler exception_handler) {
  handler_ = std::move(handler);
  on_error_ = std::move(error_handler);
  on_exception_ = std::move(exception_handler);
  // The requests left to httplib reach the same handler. "[\\s\\S]*" rather
  // than ".*", which would not match a path holding a decoded newline (%0A).
  constexpr const char* kAnyPath = "[\\s\\S]*";
  const Handler to_handler = [this](const httplib::Request& request, httplib::Response& response) {
    handler_(request, response);
  };
  Get(kAnyPath, to_handler);
  Post(kAnyPath, to_handler);
  Put(kAnyPath, to_handler);
  Patch(kAnyPath, to_handler);
  Delete(kAnyPath, to_handler);
  Options(kAnyPath, to_handler);
  set_error_handler(on_error_);
  set_exception_handler(on_exception_);
}

bool GuardedServer::admit(const std::string& address) {
  auto per_client = per_client_.lock();
  size_t& count = (*per_client)[address];
  if (count >= limits_.max_per_client) return false;
  ++count;
  return true;
}

void GuardedServer::release(const std::string& address) {
  auto per_client = per_client_.lock();
  const auto found = per_client->find(address);
  if (found != per_client->end() && --found->second == 0) per_client->erase(found);
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  // httplib writes a reply's headers and body separately: with Nagle on, the
  // body waits for the client's delayed ACK (40 ms per keep-alive request).
  const int on = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  const bool ok = serve_connection(sock);  // its TLS state is gone before the close
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

bool GuardedServer::serve_connection(socket_t sock) {
  DeadlineStream stream(sock, limits_.io_timeout);
  std::string client;
  int port = 0;
  stream.get_remote_ip_and_port(client, port);
  if (!admit(client)) {
    // A TLS client could not read a plain reply, and a handshake would hold
    // a worker for a connection refused anyway: it is just closed.
    if (tls_ == nullptr) {
      stream.start_request(limits_.io_timeout, 0);
      const std::string& reply = too_many_connections_reply();
      stream.write(reply.data(), reply.size());
      stream.flush();
    }
    return false;
  }
  bool ok = true;
  if (tls_ != nullptr) {
    // The handshake is held to a request's deadline and silence limit.
    stream.start_request(limits_.request_deadline, 0);
    const Opening opening = stream.peek_opening();
    if (opening == Opening::plain) {
      const std::string& reply = plain_http_on_tls_reply();
      stream.write(reply.data(), reply.size());
      stream.flush();
    }
    ok = opening == Opening::tls && stream.accept_tls(tls_->native());
  }
  for (size_t left = ok ? keep_alive_max_count_ : 0; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    if (!stream.wait_for_request(limits_.keep_alive_idle)) break;
    stream.start_request(limits_.request_deadline, limits_.max_request_bytes);
    bool closed = false;
    ok = handler_ && own_reader_ ? serve_request(stream, left == 1, closed)
                                 : process_request(stream, left == 1, closed, nullptr);
    if (!stream.flush()) ok = false;
    if (!ok || closed || stream.exhausted()) break;
  }
  release(client);
  return ok;
}

}  // namespace rotor::api

namespace rotor::api {

// httplib 0.11's process_request for what read_request_head takes: the
// same Request fields, Connection handling, headers added, exception
// handling and reply. What it does not take is left to process_request
// before a byte is consumed.
bool GuardedServer::serve_request(httplib::Stream& base, bool close_connection, bool& connection_closed) {
  auto& stream = static_cast<DeadlineStream&>(base);
  if (!stream.fill()) return false;  // as httplib's getline failing on the first line
  httplib::Request request;
  RequestHead head;
  if (read_request_head(stream.buffered(), payload_max_length_, request, head) != nullptr ||
      !stream.consume(head.head_bytes)) {
    return process_request(stream, close_connection, connection_closed, nullptr);
  }
  own_reader_requests_.fetch_add(1, std::memory_order_relaxed);
  httplib::Response response;
  response.version = "HTTP/1.1";
  if (head.connection_close) connection_closed = true;
  if (request.version == "HTTP/1.0" && !head.connection_keep_alive) connection_closed = true;
  // The fields only: httplib also adds them as headers (REMOTE_ADDR and the
  // others), which no handler reads (api/request_head.h).
  stream.get_remote_ip_and_port(request.remote_addr, request.remote_port);
  stream.get_local_ip_and_port(request.local_addr, request.local_port);

  if (head.content_length > 0 && !stream.read_exactly(request.body, head.content_length)) {
    response.status = 400;  // httplib: the content could not be read
  } else {
    try {
      handler_(request, response);
    } catch (...) {
      if (on_exception_) {
        on_exception_(request, response, std::current_exception());
      } else {
        response.status = 500;
      }
    }
    if (response.status == -1) response.status = 200;
  }
  write_reply(stream, close_connection || head.connection_close, request, response);
  return true;
}

void GuardedServer::write_reply(httplib::Stream& stream, bool close_connection,
                                const httplib::Request& request, httplib::Response& response) const {
  if (response.status >= 400 && on_error_) on_error_(request, response);
  if (response.content_provider_) {
    // Not given by the API's handlers; refused rather than half written.
    response = httplib::Response();
    response.status = 500;
    if (on_error_) on_error_(request, response);
  }
  // The headers httplib adds, on the same conditions. They are written merged
  // into the handler's rather than inserted into response.headers (a tree
  // node and a tolower per compared byte each): in the multimap's order, by
  // name ignoring case, an added one after the handler's of the same name.
  const auto has = [&](std::string_view name) {
    for (const auto& header : response.headers) {
      if (equal_ignoring_case(header.first, name)) return true;
    }
    return false;
  };
  struct Added {
    std::string_view name;
    std::string value;
  };
  std::array<Added, 4> added;
  size_t count = 0;
  const bool has_body = !response.body.empty();
  const bool head_only = request.method == "HEAD";
  if (has_body) added[count++] = {"Content-Length", std::to_string(response.body.size())};
  if (close_connection) {
    added[count++] = {"Connection", "close"};
  } else {
    added[count++] = {"Keep-Alive", "timeout=" + std::to_string(keep_alive_timeout_sec_) +
                                        ", max=" + std::to_string(keep_alive_max_count_)};
  }
  if (has_body && !has("Content-Type")) added[count++] = {"Content-Type", "text/plain"};
  if (!has_body && !has("Content-Length")) added[count++] = {"Content-Length", "0"};
  if (head_only && !has("Accept-Ranges")) added[count++] = {"Accept-Ranges", "bytes"};
  std::sort(added.begin(), added.begin() + static_cast<ptrdiff_t>(count),
            [](const Added& a, const Added& b) { return less_ignoring_case(a.name, b.name); });

  std::string out;
  out.reserve(200 + (head_only ? 0 : response.body.size()));
  out += "HTTP/1.1 ";
  out += std::to_string(response.status);
  out += ' ';
  out += httplib::detail::status_message(response.status);
  out += "\r\n";
  // httplib writes them with "%s": a name or value ends at a NUL.
  const auto write_header = [&](std::string_view name, const std::string& value) {
    out.append(name.data(), std::min(name.size(), std::strlen(name.data())));
    out += ": ";
    out += value.c_str();
    out += "\r\n";
  };
  size_t next = 0;
  for (const auto& [name, value] : response.headers) {
    for (; next < count && less_ignoring_case(added[next].name, name); ++next) {
      write_header(added[next].name, added[next].value);
    }
    write_header(name, value);
  }
  for (; next < count; ++next) write_header(added[next].name, added[next].value);
  out += "\r\n";
  if (!head_only) out += response.body;
  stream.write(out.data(), out.size());
}

}  // namespace rotor::api
