#include "tests/support/backends.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>
#include <vector>

namespace rotor::probes::testing {
namespace {

// Binds a listening TCP socket on address:port (0: any free port) and
// reports the port. SO_REUSEADDR lets a backend come back on its old port.
int listen_on(const std::string& address, int backlog, uint16_t& port) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = address.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    inet_pton(AF_INET, address.c_str(), &v4->sin_addr);
    length = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr);
    length = sizeof(sockaddr_in6);
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 || listen(fd, backlog) != 0) {
    std::string why = std::strerror(errno);
    close(fd);
    throw std::runtime_error("listen on " + address + ": " + why);
  }
  getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&storage)->sin_port
                                 : reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  return fd;
}

void send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the checker hung up (e.g. it stopped reading the body)
    sent += static_cast<size_t>(n);
  }
}

std::string status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace

ServerThread::ServerThread(const std::string& bind_address, int backlog, uint16_t port) : port_(port) {
  listener_ = listen_on(bind_address, backlog, port_);
  if (pipe2(wake_, O_CLOEXEC) != 0) {
    close(listener_);
    throw std::runtime_error("pipe2 failed");
  }
}

ServerThread::~ServerThread() {
  stop();
  close(listener_);
  close(wake_[0]);
  close(wake_[1]);
}

void ServerThread::start(Handlers handlers) {
  handlers_ = std::move(handlers);
  thread_ = std::thread([this] { serve(); });
}

void ServerThread::stop() {
  if (!thread_.joinable()) return;
  char byte = 0;
  (void)!write(wake_[1], &byte, 1);
  thread_.join();
}

void ServerThread::serve() {
  std::set<int> clients;
  const auto drop = [&](int fd) {
    close(fd);
    clients.erase(fd);
    handlers_.closed(fd);
  };
  for (;;) {
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listener_, POLLIN, 0}};
    for (int fd : clients) fds.push_back({fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      sockaddr_storage peer{};
      socklen_t length = sizeof peer;
      const int client = accept4(listener_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
      if (client >= 0) {
        char text[INET6_ADDRSTRLEN] = {};
        if (peer.ss_family == AF_INET) {
          inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, text, sizeof text);
        } else {
          inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, text, sizeof text);
        }
        clients.insert(client);
        if (!handlers_.accepted(client, text)) drop(client);
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents && !handlers_.readable(fds[i].fd)) drop(fds[i].fd);
    }
  }
  for (int fd : clients) close(fd);
}

HttpBackend::HttpBackend(std::optional<Reply> reply, const std::string& bind_address, uint16_t port)
    : reply_(std::move(reply)), server_(bind_address, 512, port) {
  server_.start({.accepted = [this](int client, const std::string& peer) { return accepted(client, peer); },
                 .readable = [this](int fd) { return readable(fd); },
                 .closed = [this](int fd) { clients_.erase(fd); }});
}

HttpBackend::~HttpBackend() { server_.stop(); }

std::string HttpBackend::last_request_head() const {
  std::lock_guard lock(mutex_);
  return last_request_head_;
}

std::string HttpBackend::last_peer() const {
  std::lock_guard lock(mutex_);
  return last_peer_;
}

void HttpBackend::refuse_peer(const std::string& address) {
  std::lock_guard lock(mutex_);
  refused_peers_.insert(address);
}

void HttpBackend::accept_peer(const std::string& address) {
  std::lock_guard lock(mutex_);
  refused_peers_.erase(address);
}

bool HttpBackend::accepted(int client, const std::string& peer) {
  {
    std::lock_guard lock(mutex_);
    last_peer_ = peer;
    if (refused_peers_.contains(peer)) return false;
  }
  ++connections_;
  clients_.emplace(client, Client{std::string(), closing_.load()});
  return true;
}

bool HttpBackend::readable(int fd) {
  char buffer[4096];
  const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
  if (n <= 0) return false;
  Client& client = clients_.at(fd);
  client.request.append(buffer, static_cast<size_t>(n));
  // Requests come one at a time; a pipelined second one waits in the buffer.
  for (size_t head_end = client.request.find("\r\n\r\n"); head_end != std::string::npos && reply_;
       head_end = client.request.find("\r\n\r\n")) {
    if (client.closing == Closing::first_only && client.answered > 0) return false;
    {
      std::lock_guard lock(mutex_);
      last_request_head_ = client.request.substr(0, head_end);
    }
    client.request.erase(0, head_end + 4);
    ++requests_;
    ++client.answered;
    const bool announce = client.closing == Closing::announced;
    send_all(fd, "HTTP/1.1 " + std::to_string(reply_->status) + " " + status_text(reply_->status) +
                     "\r\nContent-Length: " + std::to_string(reply_->body.size()) + "\r\n" +
                     (announce ? "Connection: close\r\n" : "") + reply_->extra_headers + "\r\n" +
                     reply_->body);
    if (client.closing != Closing::kept && client.closing != Closing::first_only) return false;
  }
  return true;
}

ScriptedBackend::ScriptedBackend(std::vector<std::string> pieces, std::chrono::milliseconds pause, bool keep_open)
    : pieces_(std::move(pieces)), pause_(pause), keep_open_(keep_open), server_("127.0.0.1", 64, 0) {
  server_.start({.accepted =
                     [this](int client, const std::string&) {
                       ++connections_;
                       clients_.emplace(client, Client{});
                       return true;
                     },
                 .readable = [this](int fd) { return readable(fd); },
                 .closed = [this](int fd) { clients_.erase(fd); }});
}

ScriptedBackend::~ScriptedBackend() { server_.stop(); }

std::string ScriptedBackend::last_request_head() const {
  std::lock_guard lock(mutex_);
  return last_request_head_;
}

bool ScriptedBackend::readable(int fd) {
  char buffer[4096];
  const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
  if (n <= 0) return false;
  Client& client = clients_.at(fd);
  std::string& request = client.request;
  request.append(buffer, static_cast<size_t>(n));
  const size_t head_end = request.find("\r\n\r\n");
  if (head_end == std::string::npos) return true;
  {
    std::lock_guard lock(mutex_);
    last_request_head_ = request.substr(0, head_end);
  }
  request.erase(0, head_end + 4);
  ++requests_;
  const int limit = answer_limit_.load();
  if (limit >= 0 && answers_ >= limit) {
    return !client.answered;  // a connection answered before is closed; a new one never answered
  }
  ++answers_;
  client.answered = true;
  for (size_t piece = 0; piece < pieces_.size(); ++piece) {
    if (piece > 0 && pause_.count() > 0) std::this_thread::sleep_for(pause_);
    send_all(fd, pieces_[piece]);
  }
  return keep_open_ && !pieces_.empty();
}

TcpListener::TcpListener(int backlog, const std::string& bind_address, uint16_t port) : port_(port) {
  fd_ = listen_on(bind_address, backlog, port_);
}

TcpListener::~TcpListener() { close(fd_); }

uint16_t closed_port() {
  uint16_t port = 0;
  close(listen_on("127.0.0.1", 1, port));
  return port;
}

TlsBackend::TlsBackend() {
  char pattern[] = "/tmp/rotor-tls-XXXXXX";
  if (!mkdtemp(pattern)) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = pattern;
  std::string cert = (dir_ / "cert.pem").string();
  std::string key = (dir_ / "key.pem").string();
  std::string make_cert = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=backend.test -keyout " +
                          key + " -out " + cert + " >/dev/null 2>&1";
  if (std::system(make_cert.c_str()) != 0) {
    error_ = "openssl req failed";
    return;
  }
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    error_ = "pipe2 failed";
    return;
  }
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test run
    int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    execlp("openssl", "openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert.c_str(), "-key", key.c_str(),
           "-www", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  // s_server prints "ACCEPT 127.0.0.1:<port>" once it listens.
  std::string output;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
    pollfd readable{out[0], POLLIN, 0};
    if (poll(&readable, 1, 200) <= 0) continue;
    char buffer[256];
    ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;
    output.append(buffer, static_cast<size_t>(n));
    size_t at = output.find("ACCEPT 127.0.0.1:");
    size_t end = at == std::string::npos ? at : output.find('\n', at);
    if (end != std::string::npos) port_ = static_cast<uint16_t>(std::stoi(output.substr(at + 17, end - at - 17)));
  }
  close(out[0]);  // s_server -www writes nothing more to stdout that we need
  if (port_ == 0) error_ = "openssl s_server did not start: " + output;
}

TlsBackend::~TlsBackend() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

TestLoop::TestLoop() { uv_loop_init(&loop_); }

TestLoop::~TestLoop() { close_cleanly(); }

bool TestLoop::close_cleanly() {
  if (closed_) return true;
  for (int i = 0; i < 10; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  bool clean = uv_loop_close(&loop_) == 0;
  if (!clean) {
    // Close what leaked so the loop can still be freed; the test reports it.
    uv_walk(
        &loop_, [](uv_handle_t* handle, void*) {
          if (!uv_is_closing(handle)) uv_close(handle, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  closed_ = true;
  return clean;
}

bool run_until(uv_loop_t* loop, const std::function<bool()>& finished, std::chrono::milliseconds limit) {
  // Keeps UV_RUN_ONCE from blocking past the limit. It repeats every
  // millisecond once due: libuv's clock is in whole milliseconds, so it may
  // fire just before `deadline`, and one more turn with nothing else due
  // soon would block until the next timer (a check's 10 s timeout).
  uv_timer_t watchdog;
  uv_timer_init(loop, &watchdog);
  uv_timer_start(&watchdog, [](uv_timer_t*) {}, static_cast<uint64_t>(limit.count()), 1);
  // UV_RUN_ONCE runs due timers before it polls: when one of them finishes
  // (a check's timeout), the poll would still block until the next event
  // unless something is closing. This stops the turn before its poll once
  // finished() holds, so a run ends when its condition does, not at the
  // watchdog (a checker whose verdict closes no libuv handle showed it).
  uv_prepare_t stopper;
  uv_prepare_init(loop, &stopper);
  stopper.data = const_cast<std::function<bool()>*>(&finished);
  uv_prepare_start(&stopper, [](uv_prepare_t* handle) {
    if ((*static_cast<const std::function<bool()>*>(handle->data))()) uv_stop(handle->loop);
  });
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!finished() && std::chrono::steady_clock::now() < deadline) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&stopper), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);  // completes the closes before the handles go out of scope
  return finished();
}

CheckResult run_check(uv_loop_t* loop, Checker& checker, const CheckTarget& target) {
  std::optional<CheckResult> result;
  int calls = 0;
  checker.start(target, [&](CheckResult verdict) {
    ++calls;
    result = std::move(verdict);
  });
  if (calls != 0) return CheckResult{false, "test: done was called inside start()", {}};
  if (!run_until(loop, [&] { return result.has_value(); }, target.timeout + std::chrono::seconds(5))) {
    return CheckResult{false, "test: no verdict in time", {}};
  }
  // One more turn: a second `done` would show up here.
  uv_run(loop, UV_RUN_NOWAIT);
  if (calls != 1) return CheckResult{false, "test: done called " + std::to_string(calls) + " times", {}};
  return *result;
}

CheckTarget loopback_target(CheckKind kind, uint16_t port, const char* address) {
  CheckTarget target;
  target.address = *arrays::IpAddress::parse(address);
  target.port = port;
  target.kind = kind;
  target.timeout = std::chrono::milliseconds(2000);
  return target;
}

}  // namespace rotor::probes::testing
