// What the health-check prober pool costs at scale, measured through the real
// ProberPool against real loopback listeners: N distinct checks at one
// interval, then over a measuring window (after a warm-up that hides the first
// round, where every check is due at once) the CPU the prober process used
// (user + sys, as % of one core), checks per second, and how late checks
// started (p50/p99 of the pool's lateness histogram, window only). Goal from
// the issue: 10,000 targets at 1 s under half a core with p99 under 100 ms.
//
// The backend (listeners that answer "200 ok", or accept and close for tcp)
// runs in a forked child, so the parent's rusage is the prober's alone; the
// child's CPU is printed beside it for context. Targets are spread over
// --addresses loopback addresses 127.0.a.b and --ports ports from --base-port
// (kept below the ephemeral range so listeners do not take ports from the
// prober's connects). http targets differ by path where address and port
// repeat; tcp checks have no path, so tcp needs one listener per target.
// Health uses rise 1 / fall 1, so every failed check shows as a down report.
// Loopback caveat: the kernel delivers a loopback packet in the sender's
// softirq, so part of the backend's TCP work is charged to the prober (and the
// other way round). The machine's busy time is printed so that load from
// other processes, which makes lateness worse, shows in the numbers.
// --pin puts the prober on CPU 0 and the backend on CPU 1.
// One check type per run: run it once with --type http and once with tcp.
//
// CPU per HTTP check (issue 18: at most 50 us at 10,000 checks/s on one
// prober thread): http runs measure each --connections mode in turn, with its
// own pool and backend, and end with one table: the CPU of the prober's
// threads (the process's CPU minus the main thread's, which only samples)
// over the checks finished in the window, the goal and a verdict. `fresh` is
// the default check (a new connection each time) against a backend that
// answers "Connection: close" and closes, as before; `reuse` sets
// check.reuse_connection against a backend that keeps connections open.
// `floor` is the kernel's share of a fresh check, as the echo floor is for
// DNS: the same exchange (connect, the checker's request bytes, read the
// response to its end, close) against the same fresh backend at the same
// rate, with nothing but non-blocking sockets and one edge-triggered epoll
// set (socket, connect, epoll_ctl add, send, recv, close; no libuv, no HTTP
// parser, no health state). The table prints fresh / floor: how far the
// checker is from what the kernel alone costs on this machine.
// Prints numbers and verdicts only; its exit status never depends on them.
//
// Usage: rotor_probes_bench [--targets N] [--interval-ms MS] [--type http|tcp]
//                           [--connections fresh|reuse|floor|both|all]
//                           [--seconds S] [--warmup-seconds S]
//                           [--threads T] [--max-in-flight K] [--addresses A] [--ports P]
//                           [--base-port PORT] [--pin]

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "probes/check_spec.h"
#include "probes/prober_pool.h"
#include "server/arrays/array.h"
#include "server/common/background_thread.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace arrays = rotor::arrays;
namespace probes = rotor::probes;

constexpr const char* kHttpReply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
// For reused connections: no "Connection: close", and the connection stays open.
constexpr const char* kKeptHttpReply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
constexpr double kGoalCpuPerCheckUs = 50;  // issue 18
constexpr size_t kMaxRequestBytes = 8192;  // a probe's request is ~100 bytes

struct Options {
  size_t targets = 10000;
  unsigned interval_ms = 1000;
  double seconds = 10;
  double warmup_seconds = 3;
  std::string type = "http";
  // http: fresh, reuse, floor, both (fresh then reuse) or all (fresh, floor, reuse)
  std::string connections = "all";
  size_t max_in_flight = probes::ProberOptions{}.max_in_flight;
  unsigned threads = probes::ProberOptions{}.threads;
  size_t addresses = 100;
  size_t ports = 0;  // 0: 5 for http, as many as tcp needs for distinct targets
  unsigned base_port = 20000;
  bool pin = false;
};

// 127.0.1.1, 127.0.1.2, ... 127.0.1.250, 127.0.2.1, ...: no .0 or .255 octets.
uint32_t loopback_address(size_t index) {
  return (127u << 24) | static_cast<uint32_t>(1 + index / 250) << 8 | static_cast<uint32_t>(1 + index % 250);
}

arrays::IpAddress to_ip_address(uint32_t address) {
  arrays::IpAddress ip;
  ip.family = 4;
  ip.bytes[0] = static_cast<uint8_t>(address >> 24);
  ip.bytes[1] = static_cast<uint8_t>(address >> 16);
  ip.bytes[2] = static_cast<uint8_t>(address >> 8);
  ip.bytes[3] = static_cast<uint8_t>(address);
  return ip;
}

// Every listener is one fd in each process, and the prober needs one per
// check in flight: the default soft limit (1024) is far too low.
void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

size_t fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  return static_cast<size_t>(limit.rlim_cur);
}

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    std::fprintf(stderr, "probes_bench: cannot pin to CPU %d: %s\n", cpu, std::strerror(errno));
  }
}

// Process CPU time (user + sys) in seconds; children excluded.
double own_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU time (user + sys) of the calling thread, in seconds.
double thread_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// utime + stime of another process from /proc (clock-tick resolution), or -1.
double process_cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command name is in parentheses and may contain spaces: count from ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields;
  size_t at = close + 2;
  while (at < text.size()) {
    size_t end = text.find(' ', at);
    if (end == std::string::npos) end = text.size();
    fields.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (fields.size() < 13) return -1;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

// Busy time of the whole machine (every CPU, every process, interrupts
// included) in seconds, from the first line of /proc/stat; -1 when unreadable.
double machine_busy_seconds() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu") return -1;
  return (user + nice + system + irq + softirq + steal) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

struct Listener {
  int fd = -1;
  uint32_t address = 0;
  uint16_t port = 0;
};

// One listener per (address, port): a socket bound to 127.0.0.1 does not
// take connections to 127.0.1.1, and a wildcard bind would reach beyond
// loopback. SO_REUSEADDR lets a rerun bind while the last run's server-side
// TIME_WAIT sockets still hold the ports.
std::vector<Listener> open_listeners(size_t address_count, size_t port_count, unsigned base_port) {
  std::vector<Listener> listeners;
  listeners.reserve(address_count * port_count);
  for (size_t p = 0; p < port_count; ++p) {
    for (size_t a = 0; a < address_count; ++a) {
      Listener listener{-1, loopback_address(a), static_cast<uint16_t>(base_port + p)};
      listener.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (listener.fd < 0) {
        throw std::runtime_error(std::string("socket: ") + std::strerror(errno) + " (after " +
                                 std::to_string(listeners.size()) + " listeners)");
      }
      int one = 1;
      ::setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(listener.port);
      address.sin_addr.s_addr = htonl(listener.address);
      if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
          ::listen(listener.fd, 4096) != 0) {
        const std::string error = std::strerror(errno);
        ::close(listener.fd);
        for (const Listener& opened : listeners) ::close(opened.fd);
        throw std::runtime_error("cannot listen on " + to_ip_address(listener.address).to_string() + ":" +
                                 std::to_string(listener.port) + ": " + error + " (try another --base-port)");
      }
      listeners.push_back(listener);
    }
  }
  return listeners;
}

// The child's whole life: one epoll thread accepting on every listener. http:
// read the request head, answer 200 "ok", close (keep_alive: answer without
// "Connection: close" and wait for the next request on the connection until
// the client closes it). tcp: accept and close.
[[noreturn]] void serve_backend(const std::vector<Listener>& listeners, bool http, bool keep_alive, int ready_fd) {
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) ::_exit(2);
  const size_t fd_count = fd_limit();
  std::vector<bool> is_listener(fd_count, false);
  std::vector<std::string> requests(http ? fd_count : 0);
  for (const Listener& listener : listeners) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listener.fd;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, listener.fd, &event) != 0) ::_exit(2);
    is_listener[static_cast<size_t>(listener.fd)] = true;
  }
  const char ready = 1;
  if (::write(ready_fd, &ready, 1) != 1) ::_exit(2);
  ::close(ready_fd);

  const char* reply = keep_alive ? kKeptHttpReply : kHttpReply;
  const size_t reply_length = std::strlen(reply);
  epoll_event events[256];
  char buffer[4096];
  for (;;) {
    const int count = ::epoll_wait(epoll, events, 256, -1);
    for (int e = 0; e < count; ++e) {
      const int fd = events[e].data.fd;
      if (is_listener[static_cast<size_t>(fd)]) {
        for (;;) {
          const int client = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (client < 0) break;  // EAGAIN, or EMFILE: the rest waits in the backlog
          if (!http || static_cast<size_t>(client) >= fd_count) {
            ::close(client);
            continue;
          }
          epoll_event event{};
          event.events = EPOLLIN | EPOLLRDHUP;
          event.data.fd = client;
          if (::epoll_ctl(epoll, EPOLL_CTL_ADD, client, &event) != 0) ::close(client);
        }
        continue;
      }
      std::string& request = requests[static_cast<size_t>(fd)];
      bool done = false;
      for (;;) {
        const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
        if (got > 0) {
          request.append(buffer, static_cast<size_t>(got));
          if (const size_t head_end = request.find("\r\n\r\n"); head_end != std::string::npos) {
            // The reply fits any socket buffer: one send, then close or wait for the next request.
            [[maybe_unused]] ssize_t sent = ::send(fd, reply, reply_length, MSG_NOSIGNAL);
            if (!keep_alive) {
              done = true;
              break;
            }
            request.erase(0, head_end + 4);
            continue;
          }
          if (request.size() > kMaxRequestBytes) {
            done = true;
            break;
          }
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        done = true;  // EOF or error before a whole request
        break;
      }
      if (done) {
        request.clear();
        ::close(fd);  // also leaves the epoll set: the fd is never duplicated
      }
    }
  }
}

// The forked backend; killed and reaped when this goes out of scope.
class BackendProcess {
 public:
  BackendProcess(std::vector<Listener> listeners, bool http, bool keep_alive, int cpu) {
    int ready_pipe[2];
    if (::pipe2(ready_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const pid_t parent = ::getpid();
    std::fflush(stdout);
    std::fflush(stderr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::close(ready_pipe[0]);
      // Never outlive the bench, even when it is killed.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(0);
      if (cpu >= 0) pin_to_cpu(cpu);
      serve_backend(listeners, http, keep_alive, ready_pipe[1]);
    }
    ::close(ready_pipe[1]);
    // The child owns the listeners now; the prober needs the fds.
    for (const Listener& listener : listeners) ::close(listener.fd);
    pollfd waiting{ready_pipe[0], POLLIN, 0};
    char ready = 0;
    const bool started = ::poll(&waiting, 1, 10000) == 1 && ::read(ready_pipe[0], &ready, 1) == 1;
    ::close(ready_pipe[0]);
    if (!started) {
      stop();
      throw std::runtime_error("the backend process did not start");
    }
  }
  ~BackendProcess() { stop(); }
  BackendProcess(const BackendProcess&) = delete;
  BackendProcess& operator=(const BackendProcess&) = delete;

  pid_t pid() const { return pid_; }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// Latest health per instance and counts of reports, fed by on_transitions on
// the pool's thread and read from the main thread.
struct HealthTally {
  std::mutex mutex;
  std::unordered_map<int64_t, arrays::Health> latest;
  uint64_t up_reports = 0;
  uint64_t down_reports = 0;
  std::map<std::string, uint64_t> down_reasons;

  probes::ProberPool::OnTransitions sink() {
    return [this](std::vector<probes::ProbeReport> batch) {
      std::lock_guard lock(mutex);
      for (const probes::ProbeReport& report : batch) {
        latest[report.instance_id] = report.health;
        if (report.health == arrays::Health::up) ++up_reports;
        if (report.health == arrays::Health::down) {
          ++down_reports;
          ++down_reasons[report.reason];
        }
      }
    };
  }

  struct Counts {
    uint64_t up_reports = 0;
    uint64_t down_reports = 0;
    size_t up = 0;
    size_t down = 0;
  };
  Counts counts() {
    std::lock_guard lock(mutex);
    Counts counts{up_reports, down_reports, 0, 0};
    for (const auto& [instance, health] : latest) {
      if (health == arrays::Health::up) ++counts.up;
      if (health == arrays::Health::down) ++counts.down;
    }
    return counts;
  }
};

// The kernel floor of a fresh HTTP check (the `floor` mode): the same
// exchange as the checker's (connect, its request bytes, read the response to
// its end, close) at the same pace, with the bare minimum around it. One
// thread, one edge-triggered epoll set: each socket is added once for both
// directions, so a connect's completion and the response each wake it once
// and no epoll_ctl follows; closing the socket takes it out of the set.
// Per exchange: socket, connect, epoll_ctl add, send, recv (until the
// response's Content-Length is in), close. The response is judged no
// further than its status line (2xx or 3xx) and length, the request is built
// once per target, and exchanges start in turn, target after target, evenly
// spaced over the interval (no jitter), at most max_in_flight at once, from
// a thread at the prober threads' priority. Only what the pool's stats report
// for the table is kept.
class BareHttpExchanges {
 public:
  struct Target {
    sockaddr_in address{};
    std::string request;
  };

  BareHttpExchanges(std::vector<Target> targets, std::chrono::milliseconds interval, std::chrono::milliseconds timeout,
                    size_t max_in_flight)
      : targets_(std::move(targets)),
        spacing_(std::chrono::duration_cast<Clock::duration>(interval) / std::max<size_t>(1, targets_.size())),
        timeout_(timeout),
        slots_(std::max<size_t>(1, max_in_flight)) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    free_.reserve(slots_.size());
    for (size_t i = slots_.size(); i > 0; --i) free_.push_back(static_cast<uint32_t>(i - 1));
  }
  ~BareHttpExchanges() {
    stop();
    for (Exchange& exchange : slots_) {
      if (exchange.fd >= 0) ::close(exchange.fd);
    }
    ::close(epoll_);
  }
  BareHttpExchanges(const BareHttpExchanges&) = delete;
  BareHttpExchanges& operator=(const BareHttpExchanges&) = delete;

  // At the prober threads' nice value (+10, ProberPool::start): with other
  // processes on the prober's core, a floor at nice 0 got about three times
  // the prober's share of it and fewer preemptions, so the two rows were
  // measured under different conditions.
  void start() {
    thread_ = std::thread([this] {
      rotor::lower_this_thread_priority();
      run();
    });
  }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // The fields the table reads, as the pool reports them.
  probes::ProberStats stats() const {
    probes::ProberStats stats;
    stats.checks_started = started_.load(std::memory_order_relaxed);
    stats.checks_finished = finished_.load(std::memory_order_relaxed);
    stats.in_flight = in_flight_.load(std::memory_order_relaxed);
    stats.max_in_flight_seen = max_in_flight_seen_.load(std::memory_order_relaxed);
    stats.waiting = waiting_.load(std::memory_order_relaxed);
    stats.probes = targets_.size();
    for (size_t i = 0; i < lateness_.size(); ++i) {
      stats.lateness_histogram[i] = lateness_[i].load(std::memory_order_relaxed);
    }
    return stats;
  }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  struct Exchange {
    int fd = -1;
    bool sent = false;
    uint32_t target_index = 0;
    Clock::time_point started;
    size_t received = 0;
    std::array<char, 512> response{};  // the backend's is 63 bytes
  };

  void run() {
    std::array<epoll_event, 256> events{};
    const Clock::time_point first_due = Clock::now();
    uint64_t count = 0;  // exchanges started
    Clock::time_point next_sweep = first_due + std::chrono::milliseconds(100);
    while (!stopping_) {
      const Clock::time_point now = Clock::now();
      Clock::time_point due = first_due + spacing_ * count;
      while (due <= now && !free_.empty()) {
        begin(static_cast<uint32_t>(count % targets_.size()), now - due, now);
        due = first_due + spacing_ * ++count;
      }
      waiting_.store(due <= now ? 1 : 0, std::memory_order_relaxed);
      if (now >= next_sweep) {
        sweep_timeouts(now);
        next_sweep = now + std::chrono::milliseconds(100);
      }
      // Wake for the next start (rounded up to a millisecond, as a libuv
      // timer), and at least every 50 ms to notice stop().
      int wait_ms = 50;
      if (!free_.empty()) {
        const auto until = std::chrono::ceil<std::chrono::milliseconds>(due - now).count();
        wait_ms = static_cast<int>(std::clamp<int64_t>(until, 0, 50));
      }
      const int ready = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), wait_ms);
      for (int e = 0; e < ready; ++e) {
        const epoll_event& event = events[static_cast<size_t>(e)];
        on_event(event.data.u32, event.events);
      }
    }
  }

  void begin(uint32_t target_index, Clock::duration lateness, Clock::time_point now) {
    const uint32_t slot = free_.back();
    Exchange& exchange = slots_[slot];
    started_.fetch_add(1, std::memory_order_relaxed);
    record_lateness(lateness);
    const Target& target = targets_[target_index];
    exchange.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (exchange.fd < 0) {
      count_finished(false);
      return;
    }
    free_.pop_back();
    const size_t in_flight = slots_.size() - free_.size();
    in_flight_.store(in_flight, std::memory_order_relaxed);
    if (in_flight > max_in_flight_seen_.load(std::memory_order_relaxed)) {
      max_in_flight_seen_.store(in_flight, std::memory_order_relaxed);
    }
    exchange.sent = false;
    exchange.received = 0;
    exchange.started = now;
    exchange.target_index = target_index;
    if (::connect(exchange.fd, reinterpret_cast<const sockaddr*>(&target.address), sizeof target.address) != 0 &&
        errno != EINPROGRESS) {
      end(slot, false);
      return;
    }
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u32 = slot;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, exchange.fd, &event) != 0) end(slot, false);
  }

  void on_event(uint32_t slot, uint32_t events) {
    Exchange& exchange = slots_[slot];
    if (exchange.fd < 0) return;
    if (!exchange.sent) {
      if ((events & EPOLLERR) != 0 || (events & EPOLLOUT) == 0) {
        end(slot, false);  // refused or reset before the request
        return;
      }
      const std::string& request = targets_[exchange.target_index].request;
      if (::send(exchange.fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
        end(slot, false);
        return;
      }
      exchange.sent = true;
      if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) == 0) return;
    }
    for (;;) {
      char* const into = exchange.response.data() + exchange.received;
      const ssize_t got = ::recv(exchange.fd, into, exchange.response.size() - exchange.received, 0);
      if (got > 0) {
        exchange.received += static_cast<size_t>(got);
        if (const int verdict = judge(exchange); verdict >= 0) {
          end(slot, verdict == 1);
          return;
        }
        if (exchange.received == exchange.response.size()) {
          end(slot, false);  // longer than any response of the backend's
          return;
        }
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      end(slot, false);  // closed or reset before the response ended
      return;
    }
  }

  // 1: a whole 2xx/3xx response; 0: a whole other one; -1: not whole yet.
  static int judge(const Exchange& exchange) {
    const std::string_view response(exchange.response.data(), exchange.received);
    const size_t head_end = response.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return -1;
    constexpr std::string_view kLength = "Content-Length:";
    size_t length = 0;
    if (const size_t at = response.substr(0, head_end).find(kLength); at != std::string_view::npos) {
      for (size_t i = at + kLength.size(); i < head_end && response[i] != '\r'; ++i) {
        if (response[i] >= '0' && response[i] <= '9') length = length * 10 + static_cast<size_t>(response[i] - '0');
      }
    }
    if (response.size() < head_end + 4 + length) return -1;
    const bool passed =
        response.size() > 12 && response.starts_with("HTTP/1.") && (response[9] == '2' || response[9] == '3');
    return passed ? 1 : 0;
  }

  void end(uint32_t slot, bool passed) {
    Exchange& exchange = slots_[slot];
    ::close(exchange.fd);  // also leaves the epoll set: the fd is not shared
    exchange.fd = -1;
    free_.push_back(slot);
    in_flight_.store(slots_.size() - free_.size(), std::memory_order_relaxed);
    count_finished(passed);
  }

  void count_finished(bool passed) {
    finished_.fetch_add(1, std::memory_order_relaxed);
    if (!passed) failed_.fetch_add(1, std::memory_order_relaxed);
  }

  void sweep_timeouts(Clock::time_point now) {
    for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
      if (slots_[slot].fd >= 0 && now - slots_[slot].started > timeout_) end(slot, false);
    }
  }

  void record_lateness(Clock::duration lateness) {
    const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(lateness).count();
    const auto& bounds = probes::ProberStats::kLatenessBoundsMs;
    size_t bucket = 0;
    while (bucket < bounds.size() && ms > bounds[bucket]) ++bucket;
    lateness_[bucket].fetch_add(1, std::memory_order_relaxed);
  }

  const std::vector<Target> targets_;
  const Clock::duration spacing_;
  const std::chrono::milliseconds timeout_;
  std::vector<Exchange> slots_;
  std::vector<uint32_t> free_;  // slots not in use
  int epoll_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> started_{0};
  std::atomic<uint64_t> finished_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<size_t> in_flight_{0};
  std::atomic<size_t> max_in_flight_seen_{0};
  std::atomic<size_t> waiting_{0};
  std::array<std::atomic<uint64_t>, probes::ProberStats::kLatenessBoundsMs.size() + 1> lateness_{};
};

std::vector<probes::ProbeTarget> make_targets(const Options& options, const std::vector<Listener>& listeners,
                                              bool http, bool reuse) {
  const auto interval = std::chrono::milliseconds(options.interval_ms);
  std::vector<probes::ProbeTarget> targets(options.targets);
  for (size_t i = 0; i < options.targets; ++i) {
    // Listener i % L; the path tells apart http targets that share one.
    const Listener& listener = listeners[i % listeners.size()];
    probes::CheckSpec& check = targets[i].check;
    check.type = http ? probes::CheckSpec::Type::http : probes::CheckSpec::Type::tcp;
    check.port = listener.port;
    if (http) check.path = "/health/" + std::to_string(i / listeners.size());
    check.interval = interval;
    check.timeout = std::min<std::chrono::milliseconds>(2s, interval / 2);  // the config's default
    // Every failed check becomes a down report, so the tally counts failures.
    check.rise = 1;
    check.fall = 1;
    check.reuse_connection = reuse;
    targets[i].instance_id = static_cast<int64_t>(i + 1);
    targets[i].address = to_ip_address(listener.address);
  }
  return targets;
}

// The floor's targets: the same addresses and the same request bytes as the
// checker sends for a fresh check of `target` (PlainHttpChecker's
// build_request: Host with the port unless 80, Connection: close).
std::vector<BareHttpExchanges::Target> make_bare_targets(const std::vector<probes::ProbeTarget>& targets) {
  std::vector<BareHttpExchanges::Target> bare(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    const probes::CheckSpec& check = targets[i].check;
    const arrays::IpAddress& ip = targets[i].address;
    bare[i].address.sin_family = AF_INET;
    bare[i].address.sin_port = htons(check.port);
    std::memcpy(&bare[i].address.sin_addr, ip.bytes, 4);
    bare[i].request = "GET " + check.path + " HTTP/1.1\r\nHost: " + ip.to_string() +
                      (check.port != 80 ? ":" + std::to_string(check.port) : std::string()) +
                      "\r\nUser-Agent: rotor-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  }
  return bare;
}

// What one mode's window measured, for the closing table.
struct ModeResult {
  std::string mode;
  double checks_per_second = 0;
  double prober_cpu_per_check_us = 0;  // the prober's threads only (process minus main thread)
  double process_cpu_per_check_us = 0;
  uint64_t failed = 0;
  std::string lateness_p99;
};

// mode: "tcp", or for http "fresh", "reuse" or "floor".
ModeResult run_mode(const Options& options, const std::string& mode) {
  const bool http = options.type == "http";
  const bool reuse = mode == "reuse";
  const bool floor = mode == "floor";
  if (options.targets < 1) throw std::invalid_argument("--targets must be at least 1");
  if (options.interval_ms < 100) throw std::invalid_argument("--interval-ms must be at least 100");
  if (options.addresses < 1 || options.addresses > 250 * 254) {
    throw std::invalid_argument("--addresses must be between 1 and 63500");
  }
  size_t ports = options.ports;
  if (ports == 0) ports = http ? 5 : (options.targets + options.addresses - 1) / options.addresses;
  if (!http && options.addresses * ports < options.targets) {
    throw std::invalid_argument("tcp checks have no path: --addresses x --ports must reach --targets");
  }
  if (options.base_port < 1 || options.base_port + ports - 1 > 65535) {
    throw std::invalid_argument("--base-port + --ports runs past port 65535");
  }
  const bool pin = options.pin && std::thread::hardware_concurrency() >= 2;

  raise_fd_limit();
  std::vector<Listener> listeners = open_listeners(options.addresses, ports, options.base_port);
  const size_t listener_count = listeners.size();
  std::vector<probes::ProbeTarget> targets = make_targets(options, listeners, http, reuse);
  std::printf("\nprobes_bench: %zu %s targets every %u ms on %zu listeners (%zu addresses x %zu ports from %u)%s%s\n",
              options.targets, options.type.c_str(), options.interval_ms, listener_count, options.addresses, ports,
              options.base_port, pin ? ", prober on CPU 0, backend on CPU 1" : "",
              !http  ? ""
              : reuse ? ", check.reuse_connection (kept-alive backend)"
              : floor ? ", the kernel floor: bare non-blocking sockets on one epoll set, no checker"
                      : ", fresh connections");

  // Forked before the pool starts any thread.
  BackendProcess backend(std::move(listeners), http, reuse, pin ? 1 : -1);
  if (pin) pin_to_cpu(0);

  HealthTally tally;
  probes::ProberOptions prober_options;
  prober_options.max_in_flight = options.max_in_flight;
  prober_options.threads = options.threads;
  // One of the two runs the checks: the pool, or (floor) the bare exchanges.
  std::unique_ptr<probes::ProberPool> pool;
  std::unique_ptr<BareHttpExchanges> bare;
  if (floor) {
    bare = std::make_unique<BareHttpExchanges>(make_bare_targets(targets), targets.front().check.interval,
                                               targets.front().check.timeout, options.max_in_flight);
  } else {
    pool = std::make_unique<probes::ProberPool>(prober_options, tally.sink());
    pool->set_targets(std::move(targets));
  }
  auto stats = [&] { return floor ? bare->stats() : pool->stats(); };
  const Clock::time_point started = Clock::now();
  if (floor) {
    bare->start();
  } else {
    pool->start();
  }

  std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup_seconds));

  const probes::ProberStats before = stats();
  const uint64_t bare_failed_before = floor ? bare->failed() : 0;
  const HealthTally::Counts tally_before = tally.counts();
  const double cpu_before = own_cpu_seconds();
  const double main_cpu_before = thread_cpu_seconds();
  const double backend_cpu_before = process_cpu_seconds(backend.pid());
  const double machine_before = machine_busy_seconds();
  const Clock::time_point window_start = Clock::now();
  // Sampled, not slept through: the pool's stats hold only the current
  // in-flight and waiting counts, and their peaks show a saturated pool.
  size_t peak_in_flight = 0;
  size_t peak_waiting = 0;
  const auto window = std::chrono::duration<double>(options.seconds);
  while (Clock::now() - window_start < window) {
    std::this_thread::sleep_for(50ms);
    const probes::ProberStats now = stats();
    peak_in_flight = std::max(peak_in_flight, now.in_flight);
    peak_waiting = std::max(peak_waiting, now.waiting);
  }
  const probes::ProberStats after = stats();
  const uint64_t bare_failed_after = floor ? bare->failed() : 0;
  const double cpu_after = own_cpu_seconds();
  const double main_cpu_after = thread_cpu_seconds();
  const double backend_cpu_after = process_cpu_seconds(backend.pid());
  const double machine_after = machine_busy_seconds();
  const double wall = std::chrono::duration<double>(Clock::now() - window_start).count();
  const HealthTally::Counts tally_after = tally.counts();
  const double prober_rss = rss_mib();

  if (floor) {
    bare->stop();
  } else {
    pool->stop();
  }
  backend.stop();
  const double total_seconds = std::chrono::duration<double>(Clock::now() - started).count();

  // The histogram counts since start; the window's share is the difference.
  probes::ProberStats in_window = after;
  for (size_t i = 0; i < in_window.lateness_histogram.size(); ++i) {
    in_window.lateness_histogram[i] -= before.lateness_histogram[i];
  }
  const uint64_t started_checks = after.checks_started - before.checks_started;
  const uint64_t finished_checks = after.checks_finished - before.checks_finished;
  auto bound = [](int64_t ms) { return ms < 0 ? std::string("> 1000") : "<= " + std::to_string(ms); };

  std::printf("\n%-40s %16s\n", "measure", "value");
  std::printf("%-40s %16s\n", "check type", options.type.c_str());
  std::printf("%-40s %16zu\n", "targets", options.targets);
  std::printf("%-40s %16zu\n", "distinct probes scheduled", after.probes);
  std::printf("%-40s %16u\n", "interval, ms", options.interval_ms);
  std::printf("%-40s %16zu\n", "max in flight (option)", options.max_in_flight);
  std::printf("%-40s %16u\n", "prober threads", options.threads);
  std::printf("%-40s %16.2f\n", "window, s", wall);
  std::printf("%-40s %16llu\n", "checks started in window", static_cast<unsigned long long>(started_checks));
  std::printf("%-40s %16llu\n", "checks finished in window", static_cast<unsigned long long>(finished_checks));
  std::printf("%-40s %16.0f\n", "checks started per second", static_cast<double>(started_checks) / wall);
  std::printf("%-40s %16.1f\n", "prober CPU, % of one core", 100.0 * (cpu_after - cpu_before) / wall);
  std::printf("%-40s %16.1f\n", "prober CPU per check, us",
              started_checks ? 1e6 * (cpu_after - cpu_before) / static_cast<double>(started_checks) : 0.0);
  const double prober_threads_cpu = (cpu_after - cpu_before) - (main_cpu_after - main_cpu_before);
  const double per_finished = finished_checks ? 1e6 / static_cast<double>(finished_checks) : 0.0;
  std::printf("%-40s %16.1f\n", "prober threads' CPU per finished check, us", prober_threads_cpu * per_finished);
  std::printf("%-40s %16.1f\n", "backend CPU, % of one core (context)",
              100.0 * (backend_cpu_after - backend_cpu_before) / wall);
  const double prober_share = (cpu_after - cpu_before) / wall;
  const double backend_share = (backend_cpu_after - backend_cpu_before) / wall;
  const double machine_share = (machine_after - machine_before) / wall;
  std::printf("%-40s %16.1f\n", "other processes' CPU, % of one core",
              100.0 * std::max(0.0, machine_share - prober_share - backend_share));
  std::printf("%-40s %16u\n", "CPUs online", std::thread::hardware_concurrency());
  std::printf("%-40s %16s\n", "start lateness p50, ms", bound(in_window.lateness_p50_ms()).c_str());
  std::printf("%-40s %16s\n", "start lateness p99, ms", bound(in_window.lateness_p99_ms()).c_str());
  std::printf("%-40s %16s\n", "start lateness p99.9, ms", bound(in_window.lateness_quantile_ms(0.999)).c_str());
  std::printf("%-40s %16zu\n", "max in flight seen (since start)", after.max_in_flight_seen);
  std::printf("%-40s %16zu\n", "peak in flight in window (50 ms samples)", peak_in_flight);
  std::printf("%-40s %16zu\n", "peak waiting in window (50 ms samples)", peak_waiting);
  if (floor) {
    // No health state: the floor only counts exchanges that failed.
    std::printf("%-40s %16llu\n", "failed exchanges in window",
                static_cast<unsigned long long>(bare_failed_after - bare_failed_before));
  } else {
    std::printf("%-40s %16llu\n", "down reports in window (failed checks)",
                static_cast<unsigned long long>(tally_after.down_reports - tally_before.down_reports));
    std::printf("%-40s %16llu\n", "up reports in window",
                static_cast<unsigned long long>(tally_after.up_reports - tally_before.up_reports));
    std::printf("%-40s %16zu\n", "instances up at the end", tally_after.up);
    std::printf("%-40s %16zu\n", "instances down at the end", tally_after.down);
    std::printf("%-40s %16zu\n", "instances never reported",
                options.targets - std::min(options.targets, tally_after.up + tally_after.down));
  }
  std::printf("%-40s %16.1f\n", "prober RSS, MiB", prober_rss);

  std::printf("\nstart lateness in window, checks per bucket (ms):");
  const auto& bounds = probes::ProberStats::kLatenessBoundsMs;
  for (size_t i = 0; i < in_window.lateness_histogram.size(); ++i) {
    const std::string label = i < bounds.size() ? "<=" + std::to_string(bounds[i]) : ">" + std::to_string(bounds.back());
    std::printf(" %s:%llu", label.c_str(), static_cast<unsigned long long>(in_window.lateness_histogram[i]));
  }
  std::printf("\n");
  {
    std::lock_guard lock(tally.mutex);
    for (const auto& [reason, count] : tally.down_reasons) {
      std::printf("down reason since start: %s (%llu)\n", reason.c_str(), static_cast<unsigned long long>(count));
    }
  }
  std::printf("(warm-up %.0f s excluded; run %.1f s in all; lateness: histogram bucket upper bounds; "
              "goal: under 50 %% of a core, p99 under 100 ms)\n",
              options.warmup_seconds, total_seconds);
  ModeResult result;
  result.mode = mode;
  result.checks_per_second = static_cast<double>(finished_checks) / wall;
  result.prober_cpu_per_check_us = prober_threads_cpu * per_finished;
  result.process_cpu_per_check_us = (cpu_after - cpu_before) * per_finished;
  result.failed = floor ? bare_failed_after - bare_failed_before : tally_after.down_reports - tally_before.down_reports;
  result.lateness_p99 = bound(in_window.lateness_p99_ms());
  return result;
}

int run(const Options& options) {
  const bool http = options.type == "http";
  std::vector<std::string> modes;
  const std::string& wanted = options.connections;
  if (!http) modes = {"tcp"};
  if (http && (wanted == "fresh" || wanted == "both" || wanted == "all")) modes.push_back("fresh");
  if (http && (wanted == "floor" || wanted == "all")) modes.push_back("floor");
  if (http && (wanted == "reuse" || wanted == "both" || wanted == "all")) modes.push_back("reuse");
  std::vector<ModeResult> results;
  for (const std::string& mode : modes) results.push_back(run_mode(options, mode));
  if (!http) return 0;

  std::printf("\nCPU per HTTP check, %zu targets every %u ms, %u prober thread(s) (goal: <= %.0f us at 10,000 checks/s "
              "on one thread)\n",
              options.targets, options.interval_ms, options.threads, kGoalCpuPerCheckUs);
  std::printf("%-8s %12s %18s %18s %10s %10s  %s\n", "mode", "checks/s", "prober us/check", "process us/check",
              "down rep.", "p99 late", "verdict");
  for (const ModeResult& result : results) {
    const bool at_rate = result.checks_per_second >= 0.95 * static_cast<double>(options.targets) * 1000.0 /
                                                        static_cast<double>(options.interval_ms);
    const char* verdict = result.prober_cpu_per_check_us <= kGoalCpuPerCheckUs
                              ? (at_rate ? "MET" : "MET per check (below the offered rate)")
                              : "NOT MET";
    std::printf("%-8s %12.0f %18.1f %18.1f %10llu %10s  %s\n", result.mode.c_str(), result.checks_per_second,
                result.prober_cpu_per_check_us, result.process_cpu_per_check_us,
                static_cast<unsigned long long>(result.failed), result.lateness_p99.c_str(), verdict);
  }
  auto find = [&results](const char* mode) -> const ModeResult* {
    for (const ModeResult& result : results) {
      if (result.mode == mode && result.prober_cpu_per_check_us > 0) return &result;
    }
    return nullptr;
  };
  const ModeResult* fresh = find("fresh");
  const ModeResult* reuse = find("reuse");
  const ModeResult* floor = find("floor");
  if (fresh != nullptr && reuse != nullptr) {
    std::printf("reuse / fresh: %.2f\n", reuse->prober_cpu_per_check_us / fresh->prober_cpu_per_check_us);
  }
  // How much of the fresh check is the checker's: 1.00 is the kernel alone.
  if (fresh != nullptr && floor != nullptr) {
    std::printf("fresh / floor: %.2f\n", fresh->prober_cpu_per_check_us / floor->prober_cpu_per_check_us);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app("rotor prober pool benchmark: CPU and check start lateness against loopback backends");
  app.add_option("--targets", options.targets, "distinct checks to run")->capture_default_str();
  app.add_option("--interval-ms", options.interval_ms, "check interval (>= 100)")->capture_default_str();
  app.add_option("--type", options.type, "check type")
      ->check(CLI::IsMember({"http", "tcp"}))
      ->capture_default_str();
  app.add_option("--connections", options.connections,
                 "http: fresh connections, check.reuse_connection, the kernel floor of a fresh check (bare sockets "
                 "and epoll, no checker), both (fresh, reuse) or all (fresh, floor, reuse), one after the other")
      ->check(CLI::IsMember({"fresh", "reuse", "floor", "both", "all"}))
      ->capture_default_str();
  app.add_option("--seconds", options.seconds, "measuring window")->capture_default_str();
  app.add_option("--warmup-seconds", options.warmup_seconds, "run before measuring")->capture_default_str();
  app.add_option("--threads", options.threads, "prober loop threads")->capture_default_str();
  app.add_option("--max-in-flight", options.max_in_flight, "the pool's limit on checks in flight")
      ->capture_default_str();
  app.add_option("--addresses", options.addresses, "loopback addresses 127.0.a.b to listen on")
      ->capture_default_str();
  app.add_option("--ports", options.ports, "ports per address (0: 5 for http, enough for tcp)")
      ->capture_default_str();
  app.add_option("--base-port", options.base_port, "first listener port (keep below the ephemeral range)")
      ->capture_default_str();
  app.add_flag("--pin", options.pin, "pin the prober to CPU 0 and the backend to CPU 1");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  try {
    return run(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "probes_bench: %s\n", error.what());
    return 1;
  }
}
