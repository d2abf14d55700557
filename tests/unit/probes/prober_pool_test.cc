#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "probes/prober_pool.h"
#include "tests/support/backends.h"

using namespace std::chrono_literals;
using rotor::arrays::Health;
using rotor::arrays::IpAddress;
using rotor::probes::CheckSpec;
using rotor::probes::ProberOptions;
using rotor::probes::ProberPool;
using rotor::probes::ProbeReport;
using rotor::probes::ProbeTarget;
namespace testing = rotor::probes::testing;

namespace {

// Collects on_transitions batches and lets the test wait for a condition.
struct Reports {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::vector<ProbeReport>> batches;
  std::map<int64_t, ProbeReport> latest;

  ProberPool::OnTransitions sink() {
    return [this](std::vector<ProbeReport> batch) {
      std::lock_guard lock(mutex);
      for (const ProbeReport& report : batch) latest[report.instance_id] = report;
      batches.push_back(std::move(batch));
      changed.notify_all();
    };
  }

  // Waits until `instance` is reported with `health`; returns its last report.
  std::optional<ProbeReport> wait_for(int64_t instance, Health health, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex);
    bool ok = changed.wait_for(lock, limit, [&] {
      auto it = latest.find(instance);
      return it != latest.end() && it->second.health == health;
    });
    if (!ok) return std::nullopt;
    return latest[instance];
  }
};

CheckSpec http_check(uint16_t port, std::chrono::milliseconds interval, std::string path = "/") {
  CheckSpec check;
  check.type = CheckSpec::Type::http;
  check.port = port;
  check.path = std::move(path);
  check.interval = interval;
  check.timeout = interval / 2;
  check.rise = 2;
  check.fall = 2;
  return check;
}

ProbeTarget target(int64_t instance, CheckSpec check, Health health = Health::unknown) {
  return {instance, *IpAddress::parse("127.0.0.1"), std::move(check), health};
}

// An HTTP backend on a fixed loopback port that can be taken down (listener
// closed: connections refused) and brought back on the same port.
class SwitchableBackend {
 public:
  SwitchableBackend() {
    listener_ = open_listener(0);
    thread_ = std::thread([this] { serve(); });
  }
  ~SwitchableBackend() {
    quit_ = true;
    thread_.join();
    if (listener_ >= 0) close(listener_);
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }
  void set_up(bool up) { want_up_ = up; }

 private:
  int open_listener(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(fd, 64) != 0) {
      close(fd);
      return -1;
    }
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    return fd;
  }

  void serve() {
    while (!quit_) {
      if (!want_up_ && listener_ >= 0) {
        close(listener_);
        listener_ = -1;
      } else if (want_up_ && listener_ < 0) {
        listener_ = open_listener(port_);
      }
      if (listener_ < 0) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      pollfd wait{listener_, POLLIN, 0};
      if (poll(&wait, 1, 10) <= 0) continue;
      int client = accept(listener_, nullptr, nullptr);
      if (client < 0) continue;
      std::string head;
      char buffer[2048];
      while (head.find("\r\n\r\n") == std::string::npos) {
        pollfd readable{client, POLLIN, 0};
        if (poll(&readable, 1, 500) <= 0) break;
        ssize_t n = recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        head.append(buffer, static_cast<size_t>(n));
      }
      ++requests_;
      std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
      close(client);
    }
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> want_up_{true};
  std::atomic<bool> quit_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace

TEST_SUITE("unit/probes/prober_pool") {
  TEST_CASE("verdicts become health: 200 up - 500 down - refused down") {
    testing::HttpBackend ok({{200, "ok", ""}});
    testing::HttpBackend broken({{500, "boom", ""}});
    uint16_t refused = testing::closed_port();
    CheckSpec tcp_refused;
    tcp_refused.type = CheckSpec::Type::tcp;
    tcp_refused.port = refused;
    tcp_refused.interval = 100ms;
    tcp_refused.timeout = 50ms;

    Reports reports;
    ProberPool pool({}, reports.sink());
    pool.set_targets({target(1, http_check(ok.port(), 100ms)), target(2, http_check(broken.port(), 100ms)),
                      target(3, http_check(refused, 100ms)), target(4, tcp_refused),
                      target(5, http_check(ok.port(), 100ms), Health::down)});
    pool.start();

    auto up = reports.wait_for(1, Health::up, 1500ms);
    REQUIRE(up);
    CHECK(!up->reason.empty());  // the state machine words passes ("first check passed")
    auto down = reports.wait_for(2, Health::down, 1500ms);
    REQUIRE(down);
    CHECK(down->reason == "HTTP 500");
    for (int64_t instance : {3, 4}) {
      CAPTURE(instance);
      auto refused_report = reports.wait_for(instance, Health::down, 1500ms);
      REQUIRE(refused_report);
      CHECK(refused_report->reason == "connection refused");
    }
    // Seeded down: needs `rise` passes (2 × 100 ms) to come up.
    CHECK(reports.wait_for(5, Health::up, 100ms * 2 + 1000ms));

    // The newest result of each instance, for the API; nothing for strangers.
    const auto passed = pool.last_check(1);
    REQUIRE(passed);
    CHECK(passed->passed);
    CHECK(passed->reason == "HTTP 200");
    CHECK(passed->time_ms > 0);
    const auto failed = pool.last_check(2);
    REQUIRE(failed);
    CHECK_FALSE(failed->passed);
    CHECK(failed->reason == "HTTP 500");
    CHECK_FALSE(pool.last_check(99));
    const auto stats = pool.stats();
    CHECK(stats.transitions >= 5);
    uint64_t timed = 0;
    for (uint64_t count : stats.latency_histogram) timed += count;
    CHECK(timed > 0);
    CHECK(timed <= stats.checks_finished);
    pool.stop();
  }

  TEST_CASE("a backend repeating its Rotor-Weight is reported once - with every check in the history") {
    testing::HttpBackend loaded({{200, "ok", "Rotor-Weight: 25\r\n"}});
    CheckSpec check = http_check(loaded.port(), 100ms);
    check.weight_from_response = true;
    Reports reports;
    ProberPool pool({}, reports.sink());
    pool.set_targets({target(1, check)});
    pool.start();
    REQUIRE(reports.wait_for(1, Health::up, 1500ms));
    // Several more checks of the same report.
    const auto start = std::chrono::steady_clock::now();
    while (pool.check_history(1).checks.size() < 5 && std::chrono::steady_clock::now() - start < 3s) {
      std::this_thread::sleep_for(20ms);
    }
    pool.stop();
    const auto history = pool.check_history(1);
    REQUIRE(history.checks.size() >= 5);
    for (const auto& entry : history.checks) {
      CHECK(entry.reported_weight == std::optional<uint8_t>(25));
      CHECK(entry.reported_draining == std::optional<bool>(false));
      CHECK(entry.report_problem.empty());
    }
    std::lock_guard lock(reports.mutex);
    size_t report_changes = 0;
    for (const auto& batch : reports.batches) {
      for (const ProbeReport& report : batch) {
        if (!report.report_changed) continue;
        ++report_changes;
        CHECK(report.reported_weight == 25);
        CHECK_FALSE(report.reported_draining);
      }
    }
    CHECK(report_changes == 1);
  }

  TEST_CASE("a stopped backend goes down within fall and comes back within rise") {
    SwitchableBackend backend;
    Reports reports;
    ProberPool pool({}, reports.sink());
    pool.set_targets({target(7, http_check(backend.port(), 100ms))});
    pool.start();
    REQUIRE(reports.wait_for(7, Health::up, 1000ms));

    backend.set_up(false);
    auto down = reports.wait_for(7, Health::down, 100ms * 2 + 1000ms);
    REQUIRE(down);
    CHECK(down->reason == "connection refused");

    backend.set_up(true);
    CHECK(reports.wait_for(7, Health::up, 100ms * 2 + 1000ms));

    // The history: newest first, with the refusals in it, and the three
    // published changes (unknown -> up -> down -> up) counted.
    const auto history = pool.check_history(7);
    REQUIRE(history.checks.size() >= 4);
    CHECK(history.checks.size() <= rotor::probes::CheckHistory::kKept);
    CHECK(history.checks.front().time_ms == pool.last_check(7)->time_ms);
    for (size_t i = 1; i < history.checks.size(); ++i) {
      CHECK(history.checks[i - 1].time_ms >= history.checks[i].time_ms);
    }
    CHECK(std::any_of(history.checks.begin(), history.checks.end(),
                      [](const rotor::probes::LastCheck& check) { return check.reason == "connection refused"; }));
    CHECK(history.transitions == 3);
    CHECK(history.damping_starts == 0);
    const auto counts = pool.check_counts();
    REQUIRE(counts.size() == 1);
    CHECK(counts[0].first == 7);
    CHECK(counts[0].second.transitions == 3);
    CHECK(pool.check_history(99).checks.empty());
  }

  TEST_CASE("instances sharing a check are probed once and all get the transition") {
    SwitchableBackend backend;
    Reports reports;
    ProberPool pool({}, reports.sink());
    CheckSpec check = http_check(backend.port(), 100ms);
    pool.set_targets({target(1, check), target(2, check), target(3, check)});
    pool.start();
    REQUIRE(reports.wait_for(3, Health::up, 1000ms));
    {
      std::lock_guard lock(reports.mutex);
      REQUIRE(reports.batches.size() == 1);  // one batch for the one result
      CHECK(reports.batches[0].size() == 3);
    }
    int before = backend.requests();
    std::this_thread::sleep_for(1000ms);
    int during = backend.requests() - before;
    CHECK(during >= 3);  // about 10 with a 100 ms interval (fewer on a loaded machine), not 30
    CHECK(during <= 13);
    CHECK(pool.stats().probes == 1);
  }

  TEST_CASE("source_address applies to targets of its family") {
    testing::HttpBackend backend({{200, "ok", ""}});
    backend.refuse_peer("127.0.0.2");
    Reports reports;
    ProberOptions options;
    options.source_address = *IpAddress::parse("127.0.0.2");
    ProberPool pool(options, reports.sink());
    pool.set_targets({target(1, http_check(backend.port(), 100ms))});
    pool.start();
    REQUIRE(reports.wait_for(1, Health::down, 1500ms));
    CHECK(backend.last_peer() == "127.0.0.2");
    pool.stop();

    // The same check from the default source passes.
    Reports others;
    ProberPool unbound({}, others.sink());
    unbound.set_targets({target(1, http_check(backend.port(), 100ms))});
    unbound.start();
    CHECK(others.wait_for(1, Health::up, 1500ms));
    unbound.stop();
  }

  TEST_CASE("cluster keys do not split a shared probe") {
    SwitchableBackend backend;
    Reports reports;
    ProberPool pool({}, reports.sink());
    CheckSpec check = http_check(backend.port(), 100ms);
    CheckSpec all = check;
    all.quorum.rule = rotor::probes::Quorum::Rule::all;
    all.observers = 2;
    pool.set_targets({target(1, check), target(2, all)});
    pool.start();
    REQUIRE(reports.wait_for(2, Health::up, 1000ms));
    CHECK(pool.stats().probes == 1);
    pool.stop();
  }

  TEST_CASE("a removed check stops being probed") {
    SwitchableBackend backend;
    Reports reports;
    ProberPool pool({}, reports.sink());
    pool.set_targets({target(1, http_check(backend.port(), 100ms))});
    pool.start();
    REQUIRE(reports.wait_for(1, Health::up, 1000ms));
    pool.set_targets({});
    std::this_thread::sleep_for(100ms);  // lets a check already in flight land
    int after_removal = backend.requests();
    std::this_thread::sleep_for(500ms);
    CHECK(backend.requests() == after_removal);
    CHECK(pool.stats().probes == 0);
    CHECK_FALSE(pool.last_check(1));  // no stale result for an instance no longer probed
  }

  TEST_CASE("max_in_flight caps concurrent checks and the rest wait their turn") {
    testing::HttpBackend hanging(std::nullopt);
    Reports reports;
    ProberOptions options;
    options.max_in_flight = 10;
    ProberPool pool(options, reports.sink());
    std::vector<ProbeTarget> targets;
    for (int i = 0; i < 50; ++i) {
      CheckSpec check = http_check(hanging.port(), 1000ms, "/" + std::to_string(i));
      check.timeout = 150ms;
      targets.push_back(target(i, check));
    }
    pool.set_targets(targets);
    pool.start();
    // 50 checks of 150 ms, 10 at a time: all started after ~600 ms.
    for (int i = 0; i < 150 && pool.stats().checks_started < 50; ++i) std::this_thread::sleep_for(20ms);
    auto stats = pool.stats();
    CHECK(stats.checks_started >= 50);
    CHECK(stats.max_in_flight_seen == 10);
    CHECK(reports.wait_for(49, Health::down, 1000ms));
    CHECK(stats.lateness_p99_ms() != 0);  // the queued ones started late
  }

  TEST_CASE("several threads share the targets and still probe an identical check once") {
    testing::HttpBackend ok({{200, "ok", ""}});
    Reports reports;
    ProberOptions options;
    options.threads = 3;
    ProberPool pool(options, reports.sink());
    std::vector<ProbeTarget> targets;
    for (int i = 0; i < 12; ++i) {
      targets.push_back(target(i, http_check(ok.port(), 200ms, "/" + std::to_string(i % 6))));
    }
    pool.set_targets(targets);
    pool.start();
    for (int i = 0; i < 12; ++i) {
      CAPTURE(i);
      CHECK(reports.wait_for(i, Health::up, 1500ms));
    }
    CHECK(pool.stats().probes == 6);  // two instances per path, one probe each
    CHECK(pool.last_check(11));
    pool.set_targets({});
    for (int i = 0; i < 50 && pool.stats().probes != 0; ++i) std::this_thread::sleep_for(10ms);
    CHECK(pool.stats().probes == 0);
    pool.stop();
  }

  TEST_CASE("stop() returns promptly with checks in flight") {
    testing::HttpBackend hanging(std::nullopt);
    Reports reports;
    ProberPool pool({}, reports.sink());
    std::vector<ProbeTarget> targets;
    for (int i = 0; i < 5; ++i) {
      CheckSpec check = http_check(hanging.port(), 5000ms, "/" + std::to_string(i));
      check.timeout = 2000ms;
      targets.push_back(target(i, check));
    }
    pool.set_targets(targets);
    pool.start();
    for (int i = 0; i < 100 && pool.stats().in_flight < 5; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(pool.stats().in_flight == 5);
    auto begin = std::chrono::steady_clock::now();
    pool.stop();
    CHECK(std::chrono::steady_clock::now() - begin < 300ms);
    std::lock_guard lock(reports.mutex);
    CHECK(reports.batches.empty());
  }

  TEST_CASE("lateness quantiles from the histogram") {
    rotor::probes::ProberStats stats;
    CHECK(stats.lateness_p50_ms() == 0);
    stats.lateness_histogram[0] = 98;
    stats.lateness_histogram[3] = 2;
    CHECK(stats.lateness_p50_ms() == 1);
    CHECK(stats.lateness_p99_ms() == 10);
    stats.lateness_histogram.back() = 1000;
    CHECK(stats.lateness_p99_ms() == -1);
  }
}  // TEST_SUITE
