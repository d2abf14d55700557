#include "server/net/worker.h"

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "tests/support/dns_client.h"
#include "tests/support/eventually.h"
#include "tests/unit/support/listen_endpoint.h"

TEST_SUITE_BEGIN("unit/server/net/worker");

namespace {

using namespace std::chrono_literals;

std::shared_ptr<const rotor::Snapshot> worker_test_snapshot(const std::string& nsid) {
  auto snapshot = std::make_shared<rotor::Snapshot>();
  snapshot->options.nsid = nsid;
  return snapshot;
}

// Whether the publisher has freed `watched`: no worker holds it any more.
bool let_go(rotor::SnapshotPublisher& publisher, const std::weak_ptr<const rotor::Snapshot>& watched) {
  publisher.release_retired();
  return watched.expired();
}

// One Worker (its TCP loop alone, no UDP thread) on 127.0.0.1, running.
struct LoneWorker {
  LoneWorker(rotor::SnapshotPublisher& publisher, std::chrono::milliseconds quiet_window)
      : worker(publisher, 10s, 100, nullptr, quiet_window) {
    int error = 0;
    rotor::net::UniqueFd fd = rotor::net::open_listening_socket(
        rotor::test::listen_endpoint("127.0.0.1:0").address, SOCK_STREAM, error);
    REQUIRE(fd);
    socklen_t size = sizeof address;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &size) == 0);
    worker.add_tcp_listener(std::move(fd));
    worker.subscribe();
    thread = std::thread([this] { worker.run(); });
  }
  ~LoneWorker() {
    worker.unsubscribe();
    worker.request_stop();
    thread.join();
  }
  // The NSID the worker answers a TCP query with (its snapshot's).
  std::string nsid_over_tcp() {
    const auto reply = rotor::test::exchange_tcp(
        rotor::test::endpoint_of(address),
        rotor::test::make_query("example.com.", LDNS_RR_TYPE_A, {.id = 7, .edns = true, .nsid = true}));
    if (!reply) return "no reply";
    for (const char* name : {"first", "second", "third", "fourth"}) {
      const std::string text(name);
      if (std::search(reply->wire.begin(), reply->wire.end(), text.begin(), text.end()) != reply->wire.end()) {
        return text;
      }
    }
    return "unknown";
  }

  rotor::net::Worker worker;
  sockaddr_storage address{};
  std::thread thread;
};

TEST_CASE("publishes within a quiet window do not wake the loop but a TCP query still gets the newest") {
  auto first = worker_test_snapshot("first");
  std::weak_ptr<const rotor::Snapshot> first_watch = first;
  rotor::SnapshotPublisher publisher(std::move(first));
  // A window far longer than the test's steps, so a slow (sanitized) run
  // cannot see it end between them.
  LoneWorker lone(publisher, 5s);

  // The first publish wakes the loop: it takes "second" and opens a window.
  auto second = worker_test_snapshot("second");
  std::weak_ptr<const rotor::Snapshot> second_watch = second;
  publisher.publish(std::move(second));
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!let_go(publisher, first_watch) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(let_go(publisher, first_watch));

  // Within the window a publish wakes nothing: the loop keeps "second". A
  // loop woken per publish would let go at once.
  publisher.publish(worker_test_snapshot("third"));
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(let_go(publisher, second_watch));

  // A TCP read looks first, so the query is answered from the newest.
  CHECK(lone.nsid_over_tcp() == "third");
  CHECK(let_go(publisher, second_watch));
}

TEST_CASE("an idle loop takes a publish made within its quiet window when the window ends") {
  rotor::SnapshotPublisher publisher(worker_test_snapshot("first"));
  LoneWorker lone(publisher, 50ms);
  publisher.publish(worker_test_snapshot("second"));  // wakes it; a window opens
  auto third = worker_test_snapshot("third");
  publisher.publish(third);  // within the window: no wake-up
  third.reset();
  // The window's end, and no query: the loop lets go of "second" for
  // "third", and the publisher keeps nothing retired.
  CHECK(rotor::test::eventually([&] { return publisher.release_retired() == 0; }, 2s));
  CHECK(lone.nsid_over_tcp() == "third");
}

}  // namespace

TEST_SUITE_END();
