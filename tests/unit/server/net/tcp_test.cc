#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "server/net/worker_pool.h"
#include "tests/support/dns_client.h"
#include "tests/unit/support/listen_endpoint.h"

TEST_SUITE_BEGIN("unit/server/net/tcp");

namespace {

using namespace std::chrono_literals;
using rotor::Snapshot;
using rotor::SnapshotPublisher;
using rotor::net::NetworkOptions;
using rotor::net::WorkerPool;
using rotor::test::Bytes;
using rotor::test::reply_id;
using rotor::test::TcpClient;

// "example.com. A" with RD set, as message `id`.
Bytes make_query(uint16_t id) {
  return rotor::test::make_query("example.com.", LDNS_RR_TYPE_A, {.id = id});
}

Bytes framed(const Bytes& message) { return rotor::test::tcp_frame(message); }

// One worker on 127.0.0.1 port 0, answering from an empty snapshot (REFUSED).
struct TcpServerFixture {
  explicit TcpServerFixture(std::chrono::milliseconds idle_timeout = 10s,
                            size_t max_connections = 1000)
      : publisher(std::make_shared<const Snapshot>()), pool(options(idle_timeout, max_connections), publisher) {
    pool.start();
  }
  static NetworkOptions options(std::chrono::milliseconds idle_timeout, size_t max_connections) {
    NetworkOptions options;
    options.listen = {rotor::test::listen_endpoint("127.0.0.1:0")};
    options.threads = 1;
    options.tcp_idle_timeout = idle_timeout;
    options.tcp_max_connections = max_connections;
    return options;
  }
  sockaddr_storage server() const { return pool.bound().at(0).address; }

  SnapshotPublisher publisher;
  WorkerPool pool;
};

TEST_CASE("TCP answers pipelined queries sent in one write - in order") {
  TcpServerFixture fixture;
  TcpClient client(fixture.server());
  REQUIRE(client.connected());
  std::vector<uint8_t> burst;
  for (uint16_t id = 1; id <= 20; ++id) {
    const auto message = framed(make_query(id));
    burst.insert(burst.end(), message.begin(), message.end());
  }
  REQUIRE(client.send(burst));
  for (uint16_t id = 1; id <= 20; ++id) {
    const auto reply = client.receive();
    REQUIRE(reply);
    CHECK(reply_id(reply->wire) == id);
    CHECK((reply->wire.at(3) & 0x0f) == 5);
  }
}

TEST_CASE("TCP reassembles a query sent one byte at a time") {
  TcpServerFixture fixture;
  TcpClient client(fixture.server());
  for (uint8_t byte : framed(make_query(0xbeef))) {
    REQUIRE(client.send({byte}));
    std::this_thread::sleep_for(2ms);
  }
  const auto reply = client.receive();
  REQUIRE(reply);
  CHECK(reply_id(reply->wire) == 0xbeef);
}

TEST_CASE("TCP reassembles a split length prefix across pipelined queries") {
  TcpServerFixture fixture;
  TcpClient client(fixture.server());
  auto stream = framed(make_query(1));
  const auto second = framed(make_query(2));
  stream.insert(stream.end(), second.begin(), second.end());
  // Cut inside the second message's length prefix.
  const size_t cut = framed(make_query(1)).size() + 1;
  REQUIRE(client.send({stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(cut)}));
  const auto first_reply = client.receive();
  REQUIRE(first_reply);
  CHECK(reply_id(first_reply->wire) == 1);
  std::this_thread::sleep_for(30ms);
  REQUIRE(client.send({stream.begin() + static_cast<std::ptrdiff_t>(cut), stream.end()}));
  const auto second_reply = client.receive();
  REQUIRE(second_reply);
  CHECK(reply_id(second_reply->wire) == 2);
}

TEST_CASE("TCP flushes earlier answers - then closes on a zero-length message") {
  TcpServerFixture fixture;
  TcpClient client(fixture.server());
  auto stream = framed(make_query(9));
  stream.insert(stream.end(), {0, 0});
  stream.insert(stream.end(), stream.begin(), stream.begin() + 2);  // never answered
  REQUIRE(client.send(stream));
  const auto reply = client.receive();
  REQUIRE(reply);
  CHECK(reply_id(reply->wire) == 9);
  CHECK(client.closed_within(2s));
}

TEST_CASE("TCP closes on a message the query path drops") {
  TcpServerFixture fixture;
  TcpClient client(fixture.server());
  REQUIRE(client.send(framed({1, 2, 3})));  // shorter than a header
  CHECK(client.closed_within(2s));
}

TEST_CASE("TCP answers what was sent before the client half-closed") {
  TcpServerFixture fixture;
  TcpClient client(fixture.server());
  auto stream = framed(make_query(5));
  const auto second = framed(make_query(6));
  stream.insert(stream.end(), second.begin(), second.end());
  REQUIRE(client.send(stream));
  client.shutdown_write();
  for (uint16_t id : {5, 6}) {
    const auto reply = client.receive();
    REQUIRE(reply);
    CHECK(reply_id(reply->wire) == id);
  }
  CHECK(client.closed_within(2s));
}

TEST_CASE("TCP closes a silent connection after the idle timeout - counted from its last activity") {
  TcpServerFixture fixture(200ms);
  TcpClient silent(fixture.server());
  TcpClient talking(fixture.server());

  // `talking` keeps sending for longer than the timeout and stays open.
  for (uint16_t id = 1; id <= 4; ++id) {
    std::this_thread::sleep_for(100ms);
    REQUIRE(talking.send(framed(make_query(id))));
    const auto reply = talking.receive();
    REQUIRE(reply);
    CHECK(reply_id(reply->wire) == id);
  }
  CHECK(silent.closed_within(1s));
  const auto last_activity = std::chrono::steady_clock::now();
  CHECK(talking.closed_within(1s));  // once it falls silent too
  CHECK(std::chrono::steady_clock::now() - last_activity >= 150ms);
}

TEST_CASE("TCP at the connection cap closes the least recently active connection") {
  TcpServerFixture fixture(10s, 2);
  TcpClient oldest(fixture.server());
  REQUIRE(oldest.send(framed(make_query(1))));
  REQUIRE(oldest.receive());
  TcpClient recent(fixture.server());
  REQUIRE(recent.send(framed(make_query(2))));
  REQUIRE(recent.receive());

  TcpClient newest(fixture.server());
  REQUIRE(newest.send(framed(make_query(3))));
  const auto newest_reply = newest.receive();
  REQUIRE(newest_reply);
  CHECK(reply_id(newest_reply->wire) == 3);
  CHECK(oldest.closed_within(2s));

  REQUIRE(recent.send(framed(make_query(4))));
  const auto recent_reply = recent.receive();
  REQUIRE(recent_reply);
  CHECK(reply_id(recent_reply->wire) == 4);
}

TEST_CASE("TCP keeps order under backpressure from a client that reads late") {
  TcpServerFixture fixture;
  TcpClient client(fixture.server());
  // About 300 KiB of replies: more than the server queues before it stops
  // reading, so it must pause and resume.
  constexpr uint16_t kQueries = 10000;
  std::vector<uint8_t> stream;
  for (uint16_t id = 0; id < kQueries; ++id) {
    const auto message = framed(make_query(id));
    stream.insert(stream.end(), message.begin(), message.end());
  }
  std::thread writer([&] { client.send(stream); });
  std::this_thread::sleep_for(100ms);  // let the server fill up
  bool in_order = true;
  for (uint16_t id = 0; id < kQueries && in_order; ++id) {
    const auto reply = client.receive();
    in_order = reply && reply_id(reply->wire) == id;
  }
  writer.join();
  CHECK(in_order);
}

}  // namespace

TEST_SUITE_END();
