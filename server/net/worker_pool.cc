#include "server/net/worker_pool.h"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "server/common/cpu_affinity.h"
#include "server/dnssec/denial_signer.h"
#include "server/net/socket.h"
#include "server/net/udp_responder.h"
#include "server/net/worker.h"

namespace rotor::net {

namespace {

// A kernel-chosen port may turn out to be taken for UDP; then another is tried.
constexpr int kEphemeralPortAttempts = 8;

// Every worker's sockets for one listen endpoint, all on the same port.
struct EndpointSockets {
  ListenEndpoint bound;
  std::vector<UniqueFd> udp;
  std::vector<UniqueFd> tcp;
};

// Pins a serving thread just created (by the thread that created it, so that
// a failure stops startup with a message): it may have begun on the creator's
// CPUs, but is moved before it could have taken more than a few queries.
void pin_serving_thread(pthread_t thread, const std::string& name, const std::vector<int>& cpus,
                        size_t index) {
  if (cpus.empty()) return;
  const int cpu = cpus[index % cpus.size()];
  if (const int error = pin_thread(thread, {cpu}); error != 0) {
    throw std::runtime_error("cannot pin " + name + " to CPU " + std::to_string(cpu) + ": " +
                             std::system_category().message(error));
  }
}

[[noreturn]] void throw_listen_error(const ListenEndpoint& endpoint, int error) {
  std::string message = "cannot listen on " + endpoint.text + ": " + std::system_category().message(error);
  if (error == EADDRINUSE) message += " (another process serves it)";
  throw std::runtime_error(message);
}

// A fixed port must be nobody's yet, for UDP and TCP alike: our sockets set
// SO_REUSEPORT, so without this check a second rotor (same user) would join
// the first one's group and silently take half of its queries. The probes run
// just before the group binds; two rotors starting in that same instant on
// one address with different databases could still both pass (two on the
// same database never get here together: the database lock comes first).
bool fixed_port_is_free(const sockaddr_storage& address, int& error) {
  return address_is_free(address, SOCK_DGRAM, error) && address_is_free(address, SOCK_STREAM, error);
}

// Opens `count` UDP and `count` TCP sockets on `endpoint`, or returns false
// with `error` set.
//
// Port 0 is resolved by a TCP bind, not a UDP one: Linux may auto-bind a
// SO_REUSEPORT UDP socket to a port that another SO_REUSEPORT socket of the
// same user already has (so two servers, say two test runs, would share
// queries), while TCP auto-binding never shares. The UDP side of that port is
// then checked to be free before our group claims it.
bool open_sockets(const ListenEndpoint& endpoint, unsigned count, EndpointSockets& out,
                  int& error) {
  out.bound = endpoint;
  out.udp.clear();
  out.tcp.clear();
  if (address_port(out.bound.address) == 0) {
    UniqueFd first = open_listening_socket(out.bound.address, SOCK_STREAM, error);
    if (!first) return false;
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (getsockname(first.get(), reinterpret_cast<sockaddr*>(&local), &length) != 0) {
      error = errno;
      return false;
    }
    set_address_port(out.bound.address, address_port(local));
    if (!address_is_free(out.bound.address, SOCK_DGRAM, error)) return false;
    out.tcp.push_back(std::move(first));
  } else if (!fixed_port_is_free(out.bound.address, error)) {
    return false;
  }
  while (out.tcp.size() < count) {
    UniqueFd fd = open_listening_socket(out.bound.address, SOCK_STREAM, error);
    if (!fd) return false;
    out.tcp.push_back(std::move(fd));
  }
  while (out.udp.size() < count) {
    UniqueFd fd = open_listening_socket(out.bound.address, SOCK_DGRAM, error);
    if (!fd) return false;
    out.udp.push_back(std::move(fd));
  }
  out.bound.text = format_endpoint(out.bound.address);
  return true;
}

EndpointSockets open_endpoint(const ListenEndpoint& endpoint, unsigned count) {
  const bool ephemeral = address_port(endpoint.address) == 0;
  EndpointSockets sockets;
  int error = 0;
  for (int attempt = 0; attempt < kEphemeralPortAttempts; ++attempt) {
    if (open_sockets(endpoint, count, sockets, error)) return sockets;
    if (!ephemeral || error != EADDRINUSE) break;
  }
  throw_listen_error(endpoint, error);
}

}  // namespace

struct WorkerPool::Impl {
  std::shared_ptr<RateLimiter> rate_limiter;  // outlives the workers that use it
  // Signs compact denial for every worker; sleeps while nobody asks.
  std::unique_ptr<dnssec::DenialSigner> denial_signer;
  std::vector<ListenEndpoint> bound;
  std::vector<std::shared_ptr<const counters::WorkerCounters>> counters;  // fixed once built
  std::vector<std::unique_ptr<Worker>> workers;
  // One per UDP socket: workers x listen endpoints, each with its own thread.
  std::vector<std::unique_ptr<UdpResponder>> udp;
  std::vector<std::thread> threads;
  std::vector<int> worker_cpus;  // NetworkOptions::worker_cpus
  bool started = false;
  bool stopped = false;
};

WorkerPool::WorkerPool(NetworkOptions options, SnapshotPublisher& publisher)
    : impl_(std::make_unique<Impl>()) {
  impl_->rate_limiter = options.rate_limiter;
  impl_->worker_cpus = options.worker_cpus;
  impl_->denial_signer = std::make_unique<dnssec::DenialSigner>(options.denial_ring_capacity);
  // The default (one per CPU, or per worker CPU) is main's to choose
  // (effective_threads); the pool only serves the count it is given.
  if (options.threads == 0) throw std::invalid_argument("a worker pool needs at least one thread");
  const unsigned threads = options.threads;
  // The cap is shared out evenly; SO_REUSEPORT spreads connections evenly too.
  const size_t per_worker_cap =
      std::max<size_t>(1, (options.tcp_max_connections + threads - 1) / threads);

  for (unsigned i = 0; i < threads; ++i) {
    impl_->workers.push_back(
        std::make_unique<Worker>(publisher, options.tcp_idle_timeout, per_worker_cap,
                                 impl_->rate_limiter.get()));
    impl_->counters.push_back(impl_->workers.back()->counters());
    impl_->workers.back()->attach_denial_signer(*impl_->denial_signer);
  }
  for (const ListenEndpoint& endpoint : options.listen) {
    EndpointSockets sockets = open_endpoint(endpoint, threads);
    const bool wildcard = is_wildcard_address(sockets.bound.address);
    for (unsigned i = 0; i < threads; ++i) {
      impl_->udp.push_back(std::make_unique<UdpResponder>(publisher, std::move(sockets.udp[i]), wildcard,
                                                          impl_->rate_limiter.get()));
      impl_->counters.push_back(impl_->udp.back()->counters());
      impl_->udp.back()->attach_denial_signer(*impl_->denial_signer);
      impl_->workers[i]->add_tcp_listener(std::move(sockets.tcp[i]));
    }
    impl_->bound.push_back(std::move(sockets.bound));
  }
  for (auto& worker : impl_->workers) worker->subscribe();
  for (auto& udp : impl_->udp) udp->subscribe();
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::start() {
  if (impl_->started || impl_->stopped) return;
  impl_->started = true;
  impl_->denial_signer->start();
  for (size_t i = 0; i < impl_->workers.size(); ++i) {
    const std::string name = "rotor-worker-" + std::to_string(i);
    impl_->threads.emplace_back([w = impl_->workers[i].get(), name] {
      // A peer that resets a TCP connection mid-write must cost an EPIPE, not
      // the process: SIGPIPE is raised in the writing thread, so block it here.
      sigset_t pipe_signal;
      sigemptyset(&pipe_signal);
      sigaddset(&pipe_signal, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      w->run();
    });
    pin_serving_thread(impl_->threads.back().native_handle(), name, impl_->worker_cpus, i);
  }
  // UDP socket i of every listen address belongs with worker i (the pool
  // opens them endpoint by endpoint, `workers` sockets each).
  for (size_t i = 0; i < impl_->udp.size(); ++i) {
    const std::string name = "rotor-udp-" + std::to_string(i);
    impl_->udp[i]->start(name);
    pin_serving_thread(impl_->udp[i]->native_handle(), name, impl_->worker_cpus, i % impl_->workers.size());
  }
}

void WorkerPool::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  // First: the signer wakes the workers' loops, which close below.
  impl_->denial_signer->stop();
  for (auto& worker : impl_->workers) worker->unsubscribe();
  for (auto& udp : impl_->udp) udp->unsubscribe();
  for (auto& worker : impl_->workers) worker->request_stop();
  for (auto& udp : impl_->udp) udp->request_stop();
  for (auto& thread : impl_->threads) thread.join();
  for (auto& udp : impl_->udp) udp->join();
  impl_->threads.clear();
  // Workers that never ran close their handles in their destructors.
  impl_->workers.clear();
  impl_->udp.clear();
}

std::vector<ListenEndpoint> WorkerPool::bound() const { return impl_->bound; }

std::vector<std::shared_ptr<const counters::WorkerCounters>> WorkerPool::counters() const {
  return impl_->counters;
}

}  // namespace rotor::net
