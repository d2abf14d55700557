#include "server/cluster/etcd_client.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/etcd_cluster.h"
#include "tests/support/eventually.h"

namespace rotor::cluster {
namespace {

using ::rotor::test::eventually;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Kind = EtcdError::Kind;
using testing::EtcdCluster;
using testing::EtcdClusterOptions;

const std::string kPrefix = EtcdCluster::kPrefix;

// Runs `call`, which must throw EtcdError, and returns the error.
template <typename Call>
EtcdError error_of(Call&& call) {
  try {
    call();
  } catch (const EtcdError& error) {
    return error;
  }
  FAIL("no EtcdError thrown");
  return EtcdError(Kind::other, "unreachable");
}

// A watch on its own thread that collects events until stopped.
struct Watcher {
  Watcher(EtcdClient& client, const std::string& key, const std::string& range_end, int64_t start_revision) {
    thread = std::thread([&client, key, range_end, start_revision, this] {
      try {
        client.watch(
            key, range_end, start_revision,
            [this](const std::vector<WatchEvent>& batch, int64_t) {
              std::lock_guard lock(mutex);
              events.insert(events.end(), batch.begin(), batch.end());
            },
            stop);
      } catch (const EtcdError& error) {
        std::lock_guard lock(mutex);
        failure = error.what();
        failure_kind = error.kind;
      }
      ended = true;
    });
  }
  ~Watcher() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
  size_t count() {
    std::lock_guard lock(mutex);
    return events.size();
  }
  std::chrono::milliseconds stop_and_join() {
    auto start = Clock::now();
    stop = true;
    thread.join();
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  }

  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<WatchEvent> events;
  std::string failure;
  std::optional<Kind> failure_kind;
  std::atomic<bool> ended{false};
  std::thread thread;
};

// Sets `flag` after `limit` unless destroyed first: bounds a blocking watch.
struct StopAfter {
  StopAfter(std::atomic<bool>& flag, std::chrono::milliseconds limit)
      : thread([&flag, limit](std::stop_token token) {
          std::mutex mutex;
          std::condition_variable_any wake;
          std::unique_lock lock(mutex);
          wake.wait_for(lock, token, limit, [] { return false; });
          if (!token.stop_requested()) flag = true;
        }) {}
  std::jthread thread;
};

// A loopback port bound but not listening: connecting to it is refused.
struct DeadPort {
  DeadPort() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  }
  ~DeadPort() { close(fd); }
  int fd = -1;
  std::string url;
};

TEST_SUITE("unit/cluster/etcd_client") {
  TEST_CASE("cluster/etcd_client: prefix_end covers exactly the keys that start with the prefix") {
    CHECK(prefix_end("/rotor/") == "/rotor0");
    CHECK(prefix_end("a\xff") == "b");
    CHECK(prefix_end("\xff\xff") == std::string(1, '\0'));
    CHECK(prefix_end("") == std::string(1, '\0'));
  }

  TEST_CASE("cluster/etcd_client: put and range and prefix range and delete with raw bytes") {
    EtcdCluster etcd;
    EtcdClient client(etcd.client_options());
    const std::string binary("\0\xff\n\"", 4);
    int64_t first = client.put(kPrefix + "a", "1");
    client.put(kPrefix + "b", "");
    int64_t last = client.put(kPrefix + "c", binary);
    client.put("/other", "x");
    CHECK(last > first);

    auto one = client.range(kPrefix + "a");
    REQUIRE(one.kvs.size() == 1);
    CHECK(one.kvs[0].key == kPrefix + "a");
    CHECK(one.kvs[0].value == "1");
    CHECK(one.kvs[0].create_revision == first);
    CHECK(one.kvs[0].mod_revision == first);
    CHECK(one.kvs[0].version == 1);
    CHECK(one.revision == last + 1);

    auto all = client.range(kPrefix, prefix_end(kPrefix));
    REQUIRE(all.kvs.size() == 3);
    CHECK(all.kvs[1].value.empty());
    CHECK(all.kvs[2].value == binary);
    CHECK(all.count == 3);
    CHECK_FALSE(all.more);

    auto page = client.range(kPrefix, prefix_end(kPrefix), 0, false, 2);
    CHECK(page.kvs.size() == 2);
    CHECK(page.more);
    CHECK(page.count == 3);

    auto past = client.range(kPrefix, prefix_end(kPrefix), first);
    REQUIRE(past.kvs.size() == 1);
    CHECK(past.kvs[0].key == kPrefix + "a");
    CHECK(client.range(kPrefix, prefix_end(kPrefix), 0, true).kvs.size() == 3);
    CHECK(client.range(kPrefix + "missing").kvs.empty());
    CHECK(error_of([&] { client.range(kPrefix, {}, last + 100); }).kind == Kind::other);

    CHECK(client.delete_range(kPrefix + "b") == 1);
    CHECK(client.delete_range(kPrefix, prefix_end(kPrefix)) == 2);
    CHECK(client.range(kPrefix, prefix_end(kPrefix)).kvs.empty());
    CHECK(client.range("/other").kvs.size() == 1);
  }

  TEST_CASE("cluster/etcd_client: txn with a mod_revision compare lets one of two conflicting writes win") {
    EtcdCluster etcd;
    EtcdClient client(etcd.client_options());
    const std::string key = kPrefix + "counter";
    // Create only if absent (mod_revision 0): the second create fails.
    Compare absent{.key = key, .number = 0};
    CHECK(client.txn({absent}, {{.key = key, .value = "0"}}).succeeded);
    CHECK_FALSE(client.txn({absent}, {{.key = key, .value = "again"}}).succeeded);

    const int64_t read_at = client.range(key).kvs.at(0).mod_revision;
    std::vector<TxnResult> results(2);
    std::vector<std::thread> writers;
    for (int i = 0; i < 2; ++i)
      writers.emplace_back([&, i] {
        results[static_cast<size_t>(i)] =
            client.txn({{.key = key, .number = read_at}}, {{.key = key, .value = "writer" + std::to_string(i)}},
                       {{.kind = Operation::Kind::range, .key = key}});
      });
    for (auto& writer : writers) writer.join();
    REQUIRE(results[0].succeeded != results[1].succeeded);
    const auto& winner = results[0].succeeded ? results[0] : results[1];
    const auto& loser = results[0].succeeded ? results[1] : results[0];
    const std::string winning_value = results[0].succeeded ? "writer0" : "writer1";
    CHECK(winner.ranges.empty());
    REQUIRE(loser.ranges.size() == 1);
    REQUIRE(loser.ranges[0].kvs.size() == 1);
    CHECK(loser.ranges[0].kvs[0].value == winning_value);
    CHECK(loser.ranges[0].kvs[0].mod_revision == winner.revision);

    // The other targets, several operations, and ranges in the branch that ran.
    auto mixed =
        client.txn({{.key = key, .target = Compare::Target::value, .value = winning_value},
                    {.key = key, .target = Compare::Target::version, .result = Compare::Result::greater, .number = 1},
                    {.key = key,
                     .target = Compare::Target::create_revision,
                     .result = Compare::Result::less,
                     .number = winner.revision}},
                   {{.key = kPrefix + "x", .value = "1"},
                    {.kind = Operation::Kind::range, .key = kPrefix, .range_end = prefix_end(kPrefix)},
                    {.kind = Operation::Kind::delete_range, .key = kPrefix + "y"},
                    {.kind = Operation::Kind::range, .key = kPrefix + "y"}});
    CHECK(mixed.succeeded);
    REQUIRE(mixed.ranges.size() == 2);
    CHECK(mixed.ranges[0].kvs.size() == 2);
    CHECK(mixed.ranges[1].kvs.empty());
    // etcd refuses two writes to one key in one txn: an `other` error.
    CHECK(error_of([&] {
            client.txn({}, {{.key = kPrefix + "z", .value = "1"},
                            {.kind = Operation::Kind::delete_range, .key = kPrefix + "z"}});
          }).kind == Kind::other);
  }

  TEST_CASE("cluster/etcd_client: a leased key lives while kept alive and disappears after expiry or revoke") {
    EtcdCluster etcd;
    EtcdClient client(etcd.client_options());
    const int64_t lease = client.lease_grant(1s);  // etcd raises it to its minimum (about 2 s)
    CHECK(lease != 0);
    client.put(kPrefix + "leased", "v", lease);
    CHECK(client.lease_keepalive(lease) > 0);
    CHECK(client.range(kPrefix + "leased").kvs.at(0).lease == lease);
    CHECK(eventually([&] { return client.range(kPrefix + "leased").kvs.empty(); }, 10s));
    CHECK(client.lease_keepalive(lease) == 0);

    const int64_t revoked = client.lease_grant(30s);
    client.put(kPrefix + "revoked", "v", revoked);
    client.lease_revoke(revoked);
    CHECK(client.range(kPrefix + "revoked").kvs.empty());
    client.lease_revoke(revoked);  // already gone: nothing to do
    CHECK(error_of([&] { client.put(kPrefix + "x", "v", revoked); }).kind == Kind::other);
  }

  TEST_CASE("cluster/etcd_client: watch delivers puts and deletes in order from a revision and stops when asked") {
    EtcdCluster etcd;
    EtcdClient client(etcd.client_options());
    const int64_t start = client.put(kPrefix + "a", "1");
    client.put("/outside", "ignored");
    client.put(kPrefix + "b", "2");
    const int64_t deleted_at = [&] {
      client.delete_range(kPrefix + "a");
      return client.range(kPrefix + "b").revision;
    }();

    Watcher watcher(client, kPrefix, prefix_end(kPrefix), start);
    REQUIRE(eventually([&] { return watcher.count() >= 3; }, 5s));
    client.put(kPrefix + "c", "3");  // arrives while watching
    REQUIRE(eventually([&] { return watcher.count() >= 4; }, 5s));
    auto stopped_in = watcher.stop_and_join();
    CHECK(watcher.failure.empty());
    CHECK(stopped_in < 1000ms);  // the contract says 200 ms; the bound leaves room for a busy machine

    REQUIRE(watcher.events.size() == 4);
    CHECK(watcher.events[0].type == WatchEvent::Type::put);
    CHECK(watcher.events[0].kv.key == kPrefix + "a");
    CHECK(watcher.events[0].kv.value == "1");
    CHECK(watcher.events[0].kv.mod_revision == start);
    CHECK(watcher.events[1].kv.key == kPrefix + "b");
    CHECK(watcher.events[2].type == WatchEvent::Type::remove);
    CHECK(watcher.events[2].kv.key == kPrefix + "a");
    CHECK(watcher.events[2].kv.mod_revision == deleted_at);
    CHECK(watcher.events[3].kv.key == kPrefix + "c");
    CHECK(watcher.events[3].kv.value == "3");

    // A callback's exception ends the watch and reaches the caller.
    std::atomic<bool> never{false};
    CHECK_THROWS_WITH_AS(
        client.watch(
            kPrefix, prefix_end(kPrefix), start,
            [](const std::vector<WatchEvent>&, int64_t) { throw std::logic_error("callback failed"); }, never),
        "callback failed", std::logic_error);
  }

  TEST_CASE("cluster/etcd_client: a quiet watch reports progress with the store's revision") {
    EtcdCluster etcd({.progress_notify_interval = 200ms});
    EtcdClient client(etcd.client_options());
    const int64_t revision = client.put("/outside", "moves the revision, not the watched range");
    std::atomic<bool> stop{false};
    StopAfter bound(stop, 5s);
    std::vector<int64_t> progress;
    bool events = false;
    client.watch(
        kPrefix, prefix_end(kPrefix), 0, [&](const std::vector<WatchEvent>&, int64_t) { events = true; }, stop,
        [&](int64_t at) {
          progress.push_back(at);
          stop = progress.size() >= 2;
        });
    CHECK_FALSE(events);
    REQUIRE(progress.size() == 2);
    CHECK(progress[0] == revision);
  }

  TEST_CASE("cluster/etcd_client: watch and range from a compacted revision throw compacted") {
    EtcdCluster etcd;
    EtcdClient client(etcd.client_options());
    const int64_t first = client.put(kPrefix + "k", "1");
    client.put(kPrefix + "k", "2");
    const int64_t last = client.put(kPrefix + "k", "3");
    client.compact(last);

    std::atomic<bool> stop{false};
    auto watch_error = error_of([&] {
      client.watch(
          kPrefix, prefix_end(kPrefix), first, [](const std::vector<WatchEvent>&, int64_t) {}, stop);
    });
    CHECK(watch_error.kind == Kind::compacted);
    CHECK(watch_error.compact_revision == last);
    CHECK(error_of([&] { client.range(kPrefix, prefix_end(kPrefix), first); }).kind == Kind::compacted);
    CHECK(client.range(kPrefix + "k", {}, last).kvs.at(0).value == "3");
  }

  TEST_CASE("cluster/etcd_client: with two of three members dead reads are unavailable but serializable reads answer") {
    EtcdCluster etcd({.members = 3});
    auto options = etcd.client_options();
    options.request_timeout = 1500ms;
    EtcdClient all(options);
    all.put(kPrefix + "k", "v");
    options.endpoints = {etcd.endpoint(2)};
    EtcdClient survivor(options);
    REQUIRE(survivor.range(kPrefix + "k").kvs.size() == 1);  // linearizable: member 2 has applied the put
    options.endpoints = {etcd.endpoint(0)};
    EtcdClient first(options);
    Watcher on_killed(first, kPrefix, prefix_end(kPrefix), 0);
    Watcher on_survivor(survivor, kPrefix, prefix_end(kPrefix), 0);
    REQUIRE(eventually(  // both watches are established: they see a put
        [&] {
          all.put(kPrefix + "seen", "1");
          return on_killed.count() > 0 && on_survivor.count() > 0;
        },
        5s));

    etcd.kill(0);
    etcd.kill(1);
    // A broken stream ends the watch at once; a member that loses its leader
    // cancels the watches that asked for one (hasleader), a few election
    // timeouts later.
    REQUIRE(eventually([&] { return on_killed.ended.load(); }, 2s));
    CHECK(on_killed.failure_kind == Kind::unavailable);
    REQUIRE(eventually([&] { return on_survivor.ended.load(); }, 10s));
    CHECK(on_survivor.failure_kind == Kind::unavailable);
    auto started = Clock::now();
    auto error = error_of([&] { all.range(kPrefix + "k"); });
    CHECK(error.kind == Kind::unavailable);
    CHECK(Clock::now() - started < options.request_timeout + 1s);
    CHECK(error_of([&] { survivor.put(kPrefix + "k", "w"); }).kind == Kind::unavailable);
    auto local = all.range(kPrefix + "k", {}, 0, true);
    REQUIRE(local.kvs.size() == 1);
    CHECK(local.kvs[0].value == "v");

    // Once member 2 knows it has no leader, a watch is refused at once.
    REQUIRE(eventually([&] { return !etcd.has_leader(2); }, 10s));
    std::atomic<bool> stop{false};
    StopAfter bound(stop, 5s);  // not refused: the watch returns and error_of fails
    started = Clock::now();
    auto refused = error_of([&] {
      all.watch(
          kPrefix, prefix_end(kPrefix), 0, [](auto&, int64_t) {}, stop);
    });
    CHECK(refused.kind == Kind::unavailable);
    CHECK(Clock::now() - started < 2s);

    // A member back: quorum again, writes work.
    etcd.restart(0);
    CHECK(eventually(
        [&] {
          try {
            all.put(kPrefix + "k", "back");
            return true;
          } catch (const EtcdError&) {
            return false;
          }
        },
        15s));
  }

  TEST_CASE("cluster/etcd_client: a dead first endpoint fails over to the second") {
    EtcdCluster etcd;
    DeadPort dead;
    auto options = etcd.client_options();
    options.endpoints = {dead.url, etcd.endpoint(0)};
    EtcdClient client(options);
    client.put(kPrefix + "k", "v");
    CHECK(client.range(kPrefix + "k").kvs.at(0).value == "v");

    EtcdClient watching(options);  // a fresh client starts with the dead endpoint again
    Watcher watcher(watching, kPrefix, prefix_end(kPrefix), 0);
    REQUIRE(eventually(
        [&] {
          client.put(kPrefix + "k", "again");
          return watcher.count() > 0;
        },
        5s));
    watcher.stop_and_join();
    CHECK(watcher.failure.empty());

    options.endpoints = {dead.url};
    EtcdClient nowhere(options);
    CHECK(error_of([&] { nowhere.range(kPrefix); }).kind == Kind::unavailable);
  }

  TEST_CASE("cluster/etcd_client: TLS with client certificates") {
    EtcdCluster etcd({.tls = true});
    EtcdClient client(etcd.client_options());
    client.put(kPrefix + "k", "v");
    CHECK(client.range(kPrefix + "k").kvs.at(0).value == "v");

    auto no_certificate = etcd.client_options();
    no_certificate.tls.cert.clear();
    no_certificate.tls.key.clear();
    // Under TLS 1.3 the member refuses a missing certificate after the
    // handshake by resetting the connection: to the client that looks like a
    // member going away, so it is `unavailable`, not `auth`.
    CHECK(error_of([&] { EtcdClient(no_certificate).range(kPrefix); }).kind == Kind::unavailable);
    // Files that cannot be used are a configuration error.
    auto missing_ca = etcd.client_options();
    missing_ca.tls.ca = (etcd.directory() / "absent.pem").string();
    CHECK(error_of([&] { EtcdClient(missing_ca).range(kPrefix); }).kind == Kind::auth);
    auto missing_certificate = etcd.client_options();
    missing_certificate.tls.cert = (etcd.directory() / "absent.pem").string();
    CHECK(error_of([&] { EtcdClient(missing_certificate).range(kPrefix); }).kind == Kind::auth);
    auto untrusted = etcd.client_options();
    untrusted.tls.ca = untrusted.tls.cert;  // not the CA that signed the member's certificate
    CHECK(error_of([&] { EtcdClient(untrusted).range(kPrefix); }).kind == Kind::auth);
    auto system_cas = etcd.client_options();  // no TLS files: the system's CAs do not know the test CA
    system_cas.tls = {};
    CHECK(error_of([&] { EtcdClient(system_cas).range(kPrefix); }).kind == Kind::auth);
  }

  TEST_CASE("cluster/etcd_client: username and password authentication") {
    EtcdCluster etcd({.auth = true, .auth_token_ttl = 1s});
    EtcdClient client(etcd.client_options());
    client.put(kPrefix + "k", "v");
    CHECK(client.range(kPrefix + "k").kvs.at(0).value == "v");
    CHECK(error_of([&] { client.put("/outside", "v"); }).kind == Kind::auth);

    // The token expires after a second idle; the client authenticates again.
    std::this_thread::sleep_for(2500ms);
    CHECK(client.range(kPrefix + "k").kvs.size() == 1);
    std::this_thread::sleep_for(2500ms);
    Watcher watcher(client, kPrefix, prefix_end(kPrefix), 1);
    CHECK(eventually([&] { return watcher.count() > 0; }, 5s));
    watcher.stop_and_join();
    CHECK(watcher.failure.empty());

    auto wrong = etcd.client_options();
    wrong.password = "wrong";
    CHECK(error_of([&] { EtcdClient(wrong).range(kPrefix); }).kind == Kind::auth);
    auto anonymous = etcd.client_options();
    anonymous.username.clear();
    CHECK(error_of([&] { EtcdClient(anonymous).range(kPrefix); }).kind == Kind::auth);
  }
}

}  // namespace
}  // namespace rotor::cluster
