#pragma once
// Real servers on loopback for the probe tests (unit and integration), each
// stopped by its destructor, plus a bounded way to run a uv loop until checks
// finish.

#include <uv.h>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "probes/checker.h"

namespace rotor::probes::testing {

// The thread both HTTP backends serve on: it polls a listener, the
// connections it accepted and a wake pipe (the stop), hands each new
// connection (with its peer's address) to `accepted` and each readable one to
// `readable`, and closes a connection either declines (then `closed` forgets
// it). Owns the listener, the pipe, the thread and the connections; stop()
// (or the destructor) ends and joins the thread, so it is declared last in
// its owner, whose handlers it calls.
class ServerThread {
 public:
  struct Handlers {
    std::function<bool(int client, const std::string& peer)> accepted;  // false: closed at once
    std::function<bool(int client)> readable;                          // false: closed
    std::function<void(int client)> closed;
  };

  // Listens on `bind_address`:`port` (0: an ephemeral port; the old port of a
  // stopped server is taken over).
  ServerThread(const std::string& bind_address, int backlog, uint16_t port);
  ~ServerThread();
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  uint16_t port() const { return port_; }
  void start(Handlers handlers);
  void stop();

 private:
  void serve();

  Handlers handlers_;
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::thread thread_;
};

// HTTP/1.1 server thread on `bind_address`:`port` (0: an ephemeral port). With
// a reply it answers every request with it and closes (set_closing chooses
// other ways a connection ends); without one it accepts, reads and never
// answers (for timeouts). A backend made again on
// the port of a destroyed one takes it over (a restarted server). Connections
// from a refused peer address are closed at once, unanswered, as a firewall
// rule against one prober would (the TCP handshake still completes).
class HttpBackend {
 public:
  struct Reply {
    int status = 200;
    std::string body;
    std::string extra_headers;  // "Name: value\r\n" lines
  };

  // What happens to a connection after a reply.
  enum class Closing {
    announced,    // "Connection: close", then closed (the default)
    kept,         // no Connection header; it stays open for the next request
    unannounced,  // no Connection header, yet closed after the reply
    // Kept after its first reply; a later request on it is read and the
    // connection closed unanswered (a keep-alive timeout crossing the request).
    first_only,
  };

  explicit HttpBackend(std::optional<Reply> reply, const std::string& bind_address = "127.0.0.1",
                       uint16_t port = 0);
  ~HttpBackend();
  HttpBackend(const HttpBackend&) = delete;
  HttpBackend& operator=(const HttpBackend&) = delete;

  uint16_t port() const { return server_.port(); }
  int requests() const { return requests_.load(); }
  // Connections accepted and not refused (see refuse_peer).
  int connections() const { return connections_.load(); }
  // For connections accepted from now on.
  void set_closing(Closing closing) { closing_.store(closing); }
  std::string last_request_head() const;
  // The address the last connection came from ("127.0.0.2"); empty before any.
  std::string last_peer() const;
  // From now on, connections from `address` are closed unanswered.
  void refuse_peer(const std::string& address);
  // Undoes refuse_peer: connections from `address` are answered again.
  void accept_peer(const std::string& address);

 private:
  struct Client {
    std::string request;  // bytes of the next request so far
    Closing closing;      // as set when it was accepted
    int answered = 0;
  };
  // False when the connection came from a refused peer.
  bool accepted(int client, const std::string& peer);
  // False when the connection is to be closed.
  bool readable(int fd);

  std::optional<Reply> reply_;
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::atomic<Closing> closing_{Closing::announced};
  mutable std::mutex mutex_;
  std::string last_request_head_;
  std::string last_peer_;
  std::set<std::string> refused_peers_;
  std::map<int, Client> clients_;  // the server thread's only
  ServerThread server_;            // last: stopped first
};

// HTTP server thread on 127.0.0.1:<ephemeral> that answers every request
// with raw bytes: `pieces` sent one by one, `pause` between two (a response
// split over several reads), then the connection is closed, or kept for the
// next request with keep_open (also: an unfinished response that hangs).
// No pieces: closed unanswered once the request arrived.
class ScriptedBackend {
 public:
  explicit ScriptedBackend(std::vector<std::string> pieces, std::chrono::milliseconds pause = {},
                           bool keep_open = false);
  ~ScriptedBackend();
  ScriptedBackend(const ScriptedBackend&) = delete;
  ScriptedBackend& operator=(const ScriptedBackend&) = delete;

  uint16_t port() const { return server_.port(); }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_.load(); }
  std::string last_request_head() const;
  // After `count` answers in all, a request on a connection answered before
  // closes it unanswered (a keep-alive timeout crossing the request) and one
  // on a new connection is never answered (the backend hung).
  void answer_only(int count) { answer_limit_.store(count); }

 private:
  struct Client {
    std::string request;  // bytes of the next request so far
    bool answered = false;
  };
  // False when the connection is to be closed.
  bool readable(int fd);

  std::atomic<int> answer_limit_{-1};
  std::vector<std::string> pieces_;
  std::chrono::milliseconds pause_;
  bool keep_open_;
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::string last_request_head_;
  std::map<int, Client> clients_;  // the server thread's only
  int answers_ = 0;                // the server thread's only
  ServerThread server_;            // last: stopped first
};

// A listening socket nobody accepts from: the kernel still completes
// handshakes until the backlog is full, then drops SYNs (connects hang).
class TcpListener {
 public:
  explicit TcpListener(int backlog = 256, const std::string& bind_address = "127.0.0.1",
                       uint16_t port = 0);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A loopback port that was just free: connecting to it is refused.
uint16_t closed_port();

// `openssl s_server -www` with a fresh self-signed certificate for
// CN=backend.test, on 127.0.0.1:<ephemeral>. `error()` is empty when it runs.
class TlsBackend {
 public:
  TlsBackend();
  ~TlsBackend();
  TlsBackend(const TlsBackend&) = delete;
  TlsBackend& operator=(const TlsBackend&) = delete;
  uint16_t port() const { return port_; }
  const std::string& error() const { return error_; }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string error_;
};

// A private uv loop for one test. close_cleanly() drains pending closes and
// reports whether every handle was released (uv_loop_close succeeded).
class TestLoop {
 public:
  TestLoop();
  ~TestLoop();
  uv_loop_t* get() { return &loop_; }
  bool close_cleanly();

 private:
  uv_loop_t loop_{};
  bool closed_ = false;
};

// Runs `loop` until `finished()` or `limit` passes; returns finished().
bool run_until(uv_loop_t* loop, const std::function<bool()>& finished, std::chrono::milliseconds limit);

// Starts one check and runs the loop until its verdict (bounded by timeout + 5 s).
CheckResult run_check(uv_loop_t* loop, Checker& checker, const CheckTarget& target);

CheckTarget loopback_target(CheckKind kind, uint16_t port, const char* address = "127.0.0.1");

}  // namespace rotor::probes::testing
