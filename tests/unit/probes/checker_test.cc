#include <doctest/doctest.h>

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "probes/check_spec.h"
#include "probes/http_checker.h"
#include "probes/tcp_checker.h"
#include "tests/support/backends.h"

TEST_SUITE_BEGIN("unit/probes/checker");

using namespace std::chrono_literals;
using rotor::probes::CheckKind;
using rotor::probes::CheckResult;
using rotor::probes::CheckTarget;
using rotor::probes::HttpChecker;
using rotor::probes::TcpChecker;
namespace testing = rotor::probes::testing;

TEST_CASE("reason texts") {
  struct Row {
    int error;
    const char* reason;
  };
  for (Row row : {Row{ECONNREFUSED, "connection refused"}, Row{EHOSTUNREACH, "no route to host"},
                  Row{ENETUNREACH, "network unreachable"}, Row{ECONNRESET, "connection reset"},
                  Row{EACCES, "connect failed: Permission denied"}}) {
    CAPTURE(row.error);
    CHECK(rotor::probes::connect_error_reason(row.error) == row.reason);
  }
  CHECK(rotor::probes::timeout_reason(2000ms) == "timeout after 2000 ms");
  CHECK(rotor::probes::to_string(CheckKind::https) == "https");
}

TEST_CASE("make_target copies the spec and applies the port default") {
  rotor::probes::CheckSpec spec;
  spec.type = rotor::probes::CheckSpec::Type::https;
  spec.path = "/healthz";
  spec.host = "api.example.test";
  spec.expect_status_min = 204;
  spec.expect_status_max = 204;
  spec.expect_body = "ok";
  spec.timeout = 1500ms;
  spec.tls_verify = true;
  auto address = *rotor::arrays::IpAddress::parse("2001:db8::7");
  CheckTarget target = rotor::probes::make_target(spec, address);
  CHECK(target.address == address);
  CHECK(target.port == spec.effective_port());
  CHECK(target.kind == CheckKind::https);
  CHECK(target.path == "/healthz");
  CHECK(target.host == "api.example.test");
  CHECK(target.expect_status_min == 204);
  CHECK(target.expect_status_max == 204);
  CHECK(target.expect_body == "ok");
  CHECK(target.timeout == 1500ms);
  CHECK(target.tls_verify);
}

TEST_CASE("HTTP verdicts against loopback backends") {
  testing::HttpBackend ok({{200, "all ok here"}});
  testing::HttpBackend broken({{500, "boom"}});
  testing::HttpBackend redirect({{301, "", "Location: http://127.0.0.1:1/\r\n"}});
  std::string big(200 * 1024, 'x');
  testing::HttpBackend big_ok_first({{200, "ok" + big}});
  testing::HttpBackend big_ok_last({{200, big + "ok"}});
  testing::HttpBackend silent(std::nullopt);
  uint16_t refused = testing::closed_port();

  struct Row {
    const char* name;
    uint16_t port;
    std::string expect_body;
    uint16_t status_min, status_max;
    std::chrono::milliseconds timeout;
    bool passed;
    std::string reason;
  };
  std::vector<Row> rows{
      {"200 passes", ok.port(), "", 200, 399, 2000ms, true, "HTTP 200"},
      {"500 fails", broken.port(), "", 200, 399, 2000ms, false, "HTTP 500"},
      {"500 passes when expected", broken.port(), "", 500, 500, 2000ms, true, "HTTP 500"},
      {"redirect is not followed", redirect.port(), "", 200, 399, 2000ms, true, "HTTP 301"},
      {"redirect outside range", redirect.port(), "", 200, 299, 2000ms, false, "HTTP 301"},
      {"body match", ok.port(), "ok", 200, 399, 2000ms, true, "HTTP 200"},
      {"body mismatch", ok.port(), "healthy", 200, 399, 2000ms, false, "body did not contain \"healthy\""},
      {"body match in first 64 KiB", big_ok_first.port(), "ok", 200, 399, 2000ms, true, "HTTP 200"},
      {"body match after 64 KiB is not seen", big_ok_last.port(), "ok", 200, 399, 2000ms, false,
       "body did not contain \"ok\""},
      {"status is checked before body", broken.port(), "boom", 200, 399, 2000ms, false, "HTTP 500"},
      {"no answer times out", silent.port(), "", 200, 399, 300ms, false, "timeout after 300 ms"},
      {"closed port is refused", refused, "", 200, 399, 2000ms, false, "connection refused"},
  };

  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    for (const Row& row : rows) {
      CAPTURE(row.name);
      CheckTarget target = testing::loopback_target(CheckKind::http, row.port);
      target.expect_body = row.expect_body;
      target.expect_status_min = row.status_min;
      target.expect_status_max = row.status_max;
      target.timeout = row.timeout;
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == row.reason);
      CHECK(result.passed == row.passed);
      CHECK(result.latency > 0us);
      if (row.reason.starts_with("timeout")) {
        CHECK(result.latency >= row.timeout - 1ms);  // curl's clock has millisecond steps
        CHECK(result.latency < row.timeout + 1500ms);
      }
    }
    CHECK(checker.in_flight() == 0);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("HTTP request carries path and Host and connects to the address") {
  testing::HttpBackend backend({{200, "ok"}});
  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    CheckTarget target = testing::loopback_target(CheckKind::http, backend.port());
    target.path = "/healthz?deep=1";
    target.host = "www.example.test";  // not resolvable: proves we connect to the address
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 200");
    CHECK(result.passed);
    std::string head = backend.last_request_head();
    CHECK(head.starts_with("GET /healthz?deep=1 HTTP/1.1\r\n"));
    CHECK(head.find("\r\nHost: www.example.test:" + std::to_string(backend.port())) != std::string::npos);

    target.host.clear();
    target.path = "status";  // a path without '/' gets one
    result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 200");
    head = backend.last_request_head();
    CHECK(head.starts_with("GET /status HTTP/1.1\r\n"));
    CHECK(head.find("\r\nHost: 127.0.0.1:" + std::to_string(backend.port())) != std::string::npos);
    CHECK(backend.requests() == 2);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("HTTP reads the backend's report only when asked - from any response") {
  testing::HttpBackend loaded({{200, "ok", "Rotor-Weight: 25\r\nRotor-State: up\r\n"}});
  testing::HttpBackend failing({{503, "busy", "Rotor-State: draining\r\n"}});
  testing::HttpBackend twice({{200, "ok", "Rotor-Weight: 25\r\nRotor-Weight: 30\r\n"}});
  testing::HttpBackend plain({{200, "ok"}});
  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    CheckTarget target = testing::loopback_target(CheckKind::http, loaded.port());
    CHECK_FALSE(testing::run_check(loop.get(), checker, target).report);  // not asked

    target.read_backend_report = true;
    CheckResult result = testing::run_check(loop.get(), checker, target);
    REQUIRE(result.report);
    CHECK(result.report->weight_percent == std::optional<uint8_t>(25));
    CHECK(result.report->draining == std::optional<bool>(false));

    target.port = failing.port();
    result = testing::run_check(loop.get(), checker, target);
    CHECK_FALSE(result.passed);
    REQUIRE(result.report);
    CHECK(result.report->draining == std::optional<bool>(true));

    target.port = twice.port();
    result = testing::run_check(loop.get(), checker, target);
    REQUIRE(result.report);
    CHECK_FALSE(result.report->weight_percent);
    CHECK(result.report->problem == "Rotor-Weight: sent 2 times");

    target.port = plain.port();
    result = testing::run_check(loop.get(), checker, target);
    REQUIRE(result.report);
    CHECK(result.report->weight_percent == std::optional<uint8_t>(100));
    CHECK(result.report->problem.empty());
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("HTTP over IPv6 loopback") {
  std::optional<testing::HttpBackend> backend;
  try {
    backend.emplace(testing::HttpBackend::Reply{200, "ok"}, "::1");
  } catch (const std::exception& error) {
    MESSAGE("skipped, no ::1 here: " << error.what());
    return;
  }
  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    CheckTarget target = testing::loopback_target(CheckKind::http, backend->port(), "::1");
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 200");
    target.host = "v6.example.test";
    result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 200");
    CHECK(backend->last_request_head().find("Host: v6.example.test:") != std::string::npos);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("HTTPS with a self-signed certificate") {
  testing::TlsBackend backend;
  REQUIRE_MESSAGE(backend.error().empty(), backend.error());
  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    CheckTarget target = testing::loopback_target(CheckKind::https, backend.port());
    target.host = "backend.test";

    SUBCASE("verification off passes") {
      target.expect_body = "s_server";
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == "HTTP 200");
      CHECK(result.passed);
    }
    SUBCASE("verification on fails with curl's TLS reason") {
      target.tls_verify = true;
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK_FALSE(result.passed);
      CAPTURE(result.reason);
      CHECK(result.reason.starts_with("TLS: SSL certificate problem: "));
      CHECK(result.reason.find("self") != std::string::npos);
    }
    SUBCASE("plain HTTP to a TLS port fails") {
      target.kind = CheckKind::http;
      target.timeout = 1000ms;
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK_FALSE(result.passed);
      CHECK_FALSE(result.reason.empty());
    }
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("TCP verdicts") {
  testing::TcpListener listener;
  uint16_t refused = testing::closed_port();
  testing::TestLoop loop;
  {
    TcpChecker checker(loop.get());
    CheckResult result = testing::run_check(loop.get(), checker, testing::loopback_target(CheckKind::tcp, listener.port()));
    CHECK(result.reason == "connected");
    CHECK(result.passed);

    result = testing::run_check(loop.get(), checker, testing::loopback_target(CheckKind::tcp, refused));
    CHECK(result.reason == "connection refused");
    CHECK_FALSE(result.passed);

    result = testing::run_check(loop.get(), checker, testing::loopback_target(CheckKind::tcp, listener.port(), "::1"));
    // ::1 may be absent; either way the reason is one an operator can read.
    CHECK_FALSE(result.reason.empty());
    CHECK(checker.in_flight() == 0);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("HTTP checks connect from the source address") {
  // The backend refuses 127.0.0.2 only, as a firewall would refuse one node.
  testing::HttpBackend backend({{200, "ok"}});
  backend.refuse_peer("127.0.0.2");
  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    CheckTarget target = testing::loopback_target(CheckKind::http, backend.port());
    target.source = *rotor::arrays::IpAddress::parse("127.0.0.1");
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 200");
    CHECK(result.passed);
    CHECK(backend.last_peer() == "127.0.0.1");

    target.source = *rotor::arrays::IpAddress::parse("127.0.0.2");
    result = testing::run_check(loop.get(), checker, target);
    CHECK_FALSE(result.passed);
    CHECK(backend.last_peer() == "127.0.0.2");

    // An address this host does not have: bind fails, nothing is sent.
    target.source = *rotor::arrays::IpAddress::parse("192.0.2.1");
    result = testing::run_check(loop.get(), checker, target);
    CHECK_FALSE(result.passed);
    CHECK(result.reason.starts_with("cannot bind source address 192.0.2.1: "));
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("TCP checks connect from the source address") {
  testing::HttpBackend backend({{200, "ok"}});
  testing::TestLoop loop;
  {
    TcpChecker checker(loop.get());
    CheckTarget target = testing::loopback_target(CheckKind::tcp, backend.port());
    target.source = *rotor::arrays::IpAddress::parse("127.0.0.3");
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "connected");
    // The backend thread records the peer once it accepts; give it a moment.
    for (int i = 0; i < 200 && backend.last_peer().empty(); ++i) std::this_thread::sleep_for(5ms);
    CHECK(backend.last_peer() == "127.0.0.3");

    target.source = *rotor::arrays::IpAddress::parse("192.0.2.1");
    result = testing::run_check(loop.get(), checker, target);
    CHECK_FALSE(result.passed);
    CHECK(result.reason == "cannot bind source address 192.0.2.1: Cannot assign requested address");
    CHECK(checker.in_flight() == 0);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("TCP timeout when the backlog is full") {
  // Backlog 0 holds one completed handshake; after that Linux drops SYNs, so
  // further connects hang until our timer fires.
  testing::TcpListener full(0);
  testing::TestLoop loop;
  {
    TcpChecker filler(loop.get());
    int filled = 0;
    for (int i = 0; i < 3; ++i) {
      CheckTarget target = testing::loopback_target(CheckKind::tcp, full.port());
      target.timeout = 200ms;
      if (testing::run_check(loop.get(), filler, target).passed) ++filled;
    }
    REQUIRE(filled >= 1);
    CheckTarget target = testing::loopback_target(CheckKind::tcp, full.port());
    target.timeout = 300ms;
    CheckResult result = testing::run_check(loop.get(), filler, target);
    CHECK(result.reason == "timeout after 300 ms");
    CHECK(result.latency >= 299ms);  // libuv's clock has millisecond steps
    CHECK(result.latency < 1500ms);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("100 concurrent HTTP checks all time out on time") {
  testing::HttpBackend silent(std::nullopt);
  testing::TestLoop loop;
  constexpr int kChecks = 100;
  constexpr auto kTimeout = 500ms;
  std::vector<CheckResult> results;
  {
    HttpChecker checker(loop.get());
    for (int i = 0; i < kChecks; ++i) {
      CheckTarget target = testing::loopback_target(CheckKind::http, silent.port());
      target.timeout = kTimeout;
      checker.start(target, [&](CheckResult result) { results.push_back(std::move(result)); });
    }
    CHECK(checker.in_flight() == kChecks);
    auto started = std::chrono::steady_clock::now();
    bool all = testing::run_until(loop.get(), [&] { return results.size() == kChecks; }, kTimeout + 5s);
    auto elapsed = std::chrono::steady_clock::now() - started;
    REQUIRE(all);
    CHECK(elapsed < kTimeout + 1500ms);
    for (const CheckResult& result : results) {
      CHECK_FALSE(result.passed);
      CHECK(result.reason == "timeout after 500 ms");
    }
    CHECK(checker.in_flight() == 0);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("destroying a checker cancels checks in flight") {
  testing::HttpBackend silent(std::nullopt);
  testing::TcpListener full(0);
  testing::TestLoop loop;
  int called = 0;
  {
    HttpChecker http(loop.get());
    TcpChecker tcp(loop.get());
    for (int i = 0; i < 5; ++i) {
      CheckTarget target = testing::loopback_target(CheckKind::http, silent.port());
      target.timeout = 10s;
      http.start(target, [&](CheckResult) { ++called; });
      target.kind = CheckKind::tcp;
      target.port = full.port();
      tcp.start(target, [&](CheckResult) { ++called; });
    }
    testing::run_until(loop.get(), [] { return false; }, 100ms);  // let connects get under way
  }
  testing::run_until(loop.get(), [] { return false; }, 100ms);
  CHECK(called <= 2);  // at most the first TCP connects into the one-slot backlog finished
  CHECK(loop.close_cleanly());
}

TEST_CASE("a done callback may start the next check and destroy the checker") {
  testing::HttpBackend backend({{200, "ok"}});
  testing::TestLoop loop;
  std::vector<std::string> reasons;
  auto checker = std::make_unique<HttpChecker>(loop.get());
  CheckTarget target = testing::loopback_target(CheckKind::http, backend.port());
  checker->start(target, [&](CheckResult first) {
    reasons.push_back(first.reason);
    checker->start(target, [&](CheckResult second) {
      reasons.push_back(second.reason);
      checker.reset();
    });
  });
  CHECK(testing::run_until(loop.get(), [&] { return checker == nullptr; }, 5s));
  CHECK(reasons == std::vector<std::string>{"HTTP 200", "HTTP 200"});
  CHECK(loop.close_cleanly());
}

TEST_SUITE_END();
