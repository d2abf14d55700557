#include <doctest/doctest.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "server/net/udp_responder.h"
#include "server/net/worker_pool.h"
#include "tests/support/dns_client.h"
#include "tests/support/eventually.h"
#include "tests/unit/support/allocation_counter.h"
#include "tests/unit/support/listen_endpoint.h"

TEST_SUITE_BEGIN("unit/server/net/udp");

namespace {

using namespace std::chrono_literals;
using rotor::Snapshot;
using rotor::SnapshotPublisher;
using rotor::net::NetworkOptions;
using rotor::net::WorkerPool;
using rotor::test::Bytes;
using rotor::test::reply_id;
using rotor::test::UdpClient;

// "example.com. A" with RD set, as message `id`.
Bytes udp_query(uint16_t id) {
  return rotor::test::make_query("example.com.", LDNS_RR_TYPE_A, {.id = id});
}

rotor::net::ListenEndpoint endpoint(const std::string& text) {
  return rotor::test::listen_endpoint(text);
}

std::shared_ptr<const Snapshot> empty_snapshot(uint64_t generation = 0) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->generation = generation;
  return snapshot;
}

TEST_CASE("a pool on port 0 answers UDP and TCP on one resolved port") {
  SnapshotPublisher publisher(empty_snapshot());
  NetworkOptions options;
  options.listen = {endpoint("127.0.0.1:0")};
  options.threads = 2;
  WorkerPool pool(options, publisher);
  pool.start();

  const auto bound = pool.bound();
  REQUIRE(bound.size() == 1);
  const uint16_t port = rotor::net::address_port(bound[0].address);
  CHECK(port != 0);
  CHECK(bound[0].text == "127.0.0.1:" + std::to_string(port));

  UdpClient udp(bound[0].address);
  const auto udp_reply = udp.exchange(udp_query(0x1234));
  REQUIRE(udp_reply);
  CHECK(reply_id(udp_reply->wire) == 0x1234);
  CHECK(rotor::test::is_reply(udp_reply->wire));
  CHECK((udp_reply->wire.at(3) & 0x0f) == 5);  // REFUSED: the snapshot has no zones

  rotor::test::TcpClient tcp(bound[0].address);
  REQUIRE(tcp.connected());
  REQUIRE(tcp.send(rotor::test::tcp_frame(udp_query(0x4321))));
  const auto tcp_reply = tcp.receive();
  REQUIRE(tcp_reply);
  CHECK(reply_id(tcp_reply->wire) == 0x4321);

  pool.stop();
  pool.stop();  // idempotent
}

TEST_CASE("pools asking for port 0 never share a port") {
  // Auto-bound SO_REUSEPORT UDP sockets of one user can land on the same
  // port; two servers (two test runs) must not end up answering each other's
  // queries.
  SnapshotPublisher publisher(empty_snapshot());
  NetworkOptions options;
  options.listen = {endpoint("127.0.0.1:0")};
  std::vector<std::unique_ptr<WorkerPool>> pools;
  std::set<uint16_t> ports;
  for (int i = 0; i < 100; ++i) {
    pools.push_back(std::make_unique<WorkerPool>(options, publisher));
    ports.insert(rotor::net::address_port(pools.back()->bound()[0].address));
  }
  CHECK(ports.size() == pools.size());
}

TEST_CASE("a pool listens on IPv6 loopback") {
  rotor::net::UniqueFd probe(::socket(AF_INET6, SOCK_DGRAM, 0));
  sockaddr_in6 loopback{};
  loopback.sin6_family = AF_INET6;
  loopback.sin6_addr = in6addr_loopback;
  if (!probe || ::bind(probe.get(), reinterpret_cast<sockaddr*>(&loopback), sizeof loopback) != 0) {
    MESSAGE("no IPv6 loopback here; skipped");
    return;
  }
  SnapshotPublisher publisher(empty_snapshot());
  NetworkOptions options;
  options.listen = {endpoint("[::1]:0")};
  WorkerPool pool(options, publisher);
  pool.start();
  UdpClient udp(pool.bound()[0].address);
  const auto reply = udp.exchange(udp_query(77));
  REQUIRE(reply);
  CHECK(reply_id(reply->wire) == 77);
}

TEST_CASE("a taken port is reported with the address and the reason") {
  // A socket without SO_REUSEPORT keeps every other socket off its port.
  rotor::net::UniqueFd blocker(::socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(blocker.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  ::getsockname(blocker.get(), reinterpret_cast<sockaddr*>(&address), &length);
  const std::string text = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));

  SnapshotPublisher publisher(empty_snapshot());
  NetworkOptions options;
  options.listen = {endpoint(text)};
  CHECK_THROWS_WITH_AS(WorkerPool(options, publisher),
                       ("cannot listen on " + text + ": Address already in use (another process serves it)").c_str(),
                       std::runtime_error);
}

TEST_CASE("a pool of no threads is refused") {
  SnapshotPublisher publisher(empty_snapshot());
  NetworkOptions options;
  options.listen = {endpoint("127.0.0.1:0")};
  options.threads = 0;
  CHECK_THROWS_WITH_AS(WorkerPool(options, publisher), "a worker pool needs at least one thread",
                       std::invalid_argument);
}

TEST_CASE("a pool that is never started shuts down cleanly") {
  SnapshotPublisher publisher(empty_snapshot());
  NetworkOptions options;
  options.listen = {endpoint("127.0.0.1:0"), endpoint("127.0.0.1:0")};
  options.threads = 3;
  WorkerPool pool(options, publisher);
  CHECK(pool.bound().size() == 2);
  publisher.publish(empty_snapshot(1));  // wakes workers that never run
}

TEST_CASE("UDP keeps answering while 1000 snapshots are published") {
  SnapshotPublisher publisher(empty_snapshot());
  NetworkOptions options;
  options.listen = {endpoint("127.0.0.1:0")};
  options.threads = 2;
  WorkerPool pool(options, publisher);
  pool.start();

  std::atomic<bool> published{false};
  std::thread control([&] {
    for (uint64_t generation = 1; generation <= 1000; ++generation) {
      publisher.publish(empty_snapshot(generation));
      if (generation % 50 == 0) std::this_thread::sleep_for(1ms);
    }
    published = true;
  });

  // Several source ports, so SO_REUSEPORT spreads them over both workers.
  std::vector<UdpClient> clients;
  for (int i = 0; i < 8; ++i) clients.emplace_back(pool.bound()[0].address);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  size_t answered = 0;
  size_t lost = 0;
  uint16_t id = 0;
  while ((!published || answered < 500) && std::chrono::steady_clock::now() < deadline) {
    UdpClient& client = clients[id % clients.size()];
    const uint16_t query_id = ++id;
    client.send(udp_query(query_id));
    const auto reply = client.receive(500ms);
    if (!reply) {
      ++lost;
      continue;
    }
    CHECK(reply_id(reply->wire) == query_id);
    ++answered;
  }
  control.join();
  CHECK(published);
  CHECK(answered >= 500);
  CHECK(lost < 5);
  CHECK(publisher.current()->generation == 1000);
  pool.stop();
}

TEST_CASE("a UDP batch is answered without heap allocation") {
  // `wildcard` sockets also read and write IP_PKTINFO control blocks.
  bool wildcard = false;
  SUBCASE("socket bound to one address") { wildcard = false; }
  SUBCASE("socket treated as wildcard") { wildcard = true; }
  CAPTURE(wildcard);
  SnapshotPublisher publisher(empty_snapshot());

  int error = 0;
  auto address = endpoint("127.0.0.1:0").address;
  rotor::net::UniqueFd fd = rotor::net::open_listening_socket(address, SOCK_DGRAM, error);
  REQUIRE(fd);
  socklen_t length = sizeof address;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  const int server_fd = fd.get();

  // No thread: the test runs the thread's rounds itself.
  rotor::net::UdpResponder responder(publisher, std::move(fd), wildcard);
  responder.subscribe();
  UdpClient client(address);
  constexpr int kQueries = 64;  // two full batches
  static_assert(kQueries == 2 * rotor::net::UdpResponder::kBatch);
  for (int i = 0; i < kQueries; ++i) client.send(udp_query(static_cast<uint16_t>(i)));
  pollfd server_socket{server_fd, POLLIN, 0};
  REQUIRE(::poll(&server_socket, 1, 2000) == 1);  // the first datagram is there
  std::this_thread::sleep_for(20ms);  // let every datagram arrive

  size_t allocations = 0;
  {
    rotor::test::AllocationCounter counter;
    responder.serve_once();
    responder.serve_once();
    allocations = counter.allocations();
  }
  CHECK(allocations == 0);
  for (int i = 0; i < kQueries; ++i) {
    const auto reply = client.receive(1000ms);
    REQUIRE(reply);
    CHECK(reply_id(reply->wire) == i);
  }
  CHECK(responder.counters()->total_queries() == kQueries);
}

TEST_CASE("UDP replies leave with Don't Fragment and the path MTU ignored") {
  // RFC 9715: a reply is never fragmented; PROBE sets DF on IPv4 and ignores
  // an ICMP-lowered path MTU (every reply fits 1280 bytes).
  for (const char* text : {"127.0.0.1:0", "[::1]:0"}) {
    CAPTURE(text);
    SnapshotPublisher publisher(empty_snapshot());
    int error = 0;
    const auto address = endpoint(text).address;
    rotor::net::UniqueFd fd = rotor::net::open_listening_socket(address, SOCK_DGRAM, error);
    REQUIRE(fd);
    const int server_fd = fd.get();
    const bool v6 = address.ss_family == AF_INET6;
    const int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
    const int option = v6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER;
    const int probe = v6 ? IPV6_PMTUDISC_PROBE : IP_PMTUDISC_PROBE;
    int mode = -1;
    socklen_t size = sizeof mode;
    REQUIRE(::getsockopt(server_fd, level, option, &mode, &size) == 0);
    CHECK(mode != probe);  // the kernel's default is something else
    rotor::net::UdpResponder responder(publisher, std::move(fd), false);
    REQUIRE(::getsockopt(server_fd, level, option, &mode, &size) == 0);
    CHECK(mode == probe);
  }
}

TEST_CASE("an idle UDP thread takes a published snapshot and stops when asked") {
  auto first = empty_snapshot(1);
  std::weak_ptr<const Snapshot> first_watch = first;
  SnapshotPublisher publisher(std::move(first));
  NetworkOptions options;
  options.listen = {endpoint("127.0.0.1:0")};
  options.threads = 2;
  WorkerPool pool(options, publisher);
  pool.start();
  // No query comes: the UDP threads wake on their receive timeout alone.
  publisher.publish(empty_snapshot(2));
  // Freed by the publisher (here, release_retired()) once both threads let go.
  CHECK(rotor::test::eventually([&] {
    publisher.release_retired();
    return first_watch.expired();
  }));
  // stop() joins threads blocked in recvmmsg (shut down, or timed out).
  pool.stop();
}

}  // namespace

namespace {

// udp_query() plus an OPT record asking for NSID (RFC 5001).
std::vector<uint8_t> make_nsid_query(uint16_t id) {
  return rotor::test::make_query("example.com.", LDNS_RR_TYPE_A, {.id = id, .edns = true, .nsid = true});
}

bool contains(const std::vector<uint8_t>& bytes, const std::string& text) {
  return std::search(bytes.begin(), bytes.end(), text.begin(), text.end()) != bytes.end();
}

std::shared_ptr<const Snapshot> snapshot_with_nsid(const std::string& nsid) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->options.nsid = nsid;
  return snapshot;
}

TEST_CASE("a published snapshot reaches the worker and the old one is freed") {
  auto first = snapshot_with_nsid("first-snapshot");
  std::weak_ptr<const Snapshot> first_watch = first;
  SnapshotPublisher publisher(std::move(first));
  NetworkOptions options;
  options.listen = {endpoint("127.0.0.1:0")};
  WorkerPool pool(options, publisher);
  pool.start();
  UdpClient client(pool.bound()[0].address);

  const auto before = client.exchange(make_nsid_query(1));
  REQUIRE(before);
  CHECK(contains(before->wire, "first-snapshot"));

  publisher.publish(snapshot_with_nsid("second-snapshot"));
  bool swapped = false;
  for (uint16_t id = 2; id < 200 && !swapped; ++id) {
    const auto reply = client.exchange(make_nsid_query(id));
    REQUIRE(reply);
    swapped = contains(reply->wire, "second-snapshot");
    if (!swapped) std::this_thread::sleep_for(10ms);
  }
  CHECK(swapped);
  // The UDP thread let it go before answering; the worker's loop (TCP) does
  // on its own wake-up; then the publisher frees it (publisher.h).
  CHECK(rotor::test::eventually([&] {
    publisher.release_retired();
    return first_watch.expired();
  }));
}

}  // namespace

TEST_CASE("a pool refuses a fixed port another SO_REUSEPORT group holds - for UDP and for TCP") {
  // Another rotor's group, on one protocol only: joining it would take half
  // of that server's queries, so the pool must fail naming the address.
  SnapshotPublisher publisher(empty_snapshot());
  NetworkOptions ephemeral;
  ephemeral.listen = {endpoint("127.0.0.1:0")};
  for (int held_type : {SOCK_DGRAM, SOCK_STREAM}) {
    CAPTURE(held_type);
    WorkerPool first(ephemeral, publisher);  // finds a port free for both
    rotor::net::ListenEndpoint fixed = first.bound()[0];
    first.stop();
    int error = 0;
    rotor::net::UniqueFd held = rotor::net::open_listening_socket(fixed.address, held_type, error);
    REQUIRE(held);
    CHECK_FALSE(rotor::net::address_is_free(fixed.address, held_type, error));
    CHECK(error == EADDRINUSE);
    CHECK(rotor::net::address_is_free(fixed.address, held_type == SOCK_DGRAM ? SOCK_STREAM : SOCK_DGRAM, error));

    NetworkOptions options;
    options.listen = {fixed};
    const std::string expected =
        "cannot listen on " + fixed.text + ": Address already in use (another process serves it)";
    CHECK_THROWS_WITH_AS(WorkerPool(options, publisher), expected.c_str(), std::runtime_error);
    held.reset();
    WorkerPool second(options, publisher);  // free again: the port is ours
    CHECK(second.bound()[0].text == fixed.text);
  }
}

TEST_SUITE_END();
