// check.reuse_connection in HttpChecker: kept connections are really reused
// (the backend counts the connections it accepted), a server that closes
// after each response (saying so or not) still passes every check, a kept
// connection that dies under a request is not a failure, and an instance
// that really went away fails.

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "probes/check_spec.h"
#include "probes/http_checker.h"
#include "tests/support/backends.h"

TEST_SUITE_BEGIN("unit/probes/http_reuse");

using namespace std::chrono_literals;
using rotor::probes::CheckKind;
using rotor::probes::CheckResult;
using rotor::probes::CheckTarget;
using rotor::probes::HttpChecker;
namespace testing = rotor::probes::testing;
using Closing = testing::HttpBackend::Closing;

namespace {

constexpr int kReusedChecks = 5;

CheckTarget kept_target(uint16_t port) {
  CheckTarget target = testing::loopback_target(CheckKind::http, port);
  target.reuse_connection = true;
  target.expect_body = "ok";
  return target;
}

}  // namespace

TEST_CASE("make_target carries reuse_connection") {
  rotor::probes::CheckSpec spec;
  CHECK_FALSE(rotor::probes::make_target(spec, *rotor::arrays::IpAddress::parse("10.0.0.1")).reuse_connection);
  spec.reuse_connection = true;
  CHECK(rotor::probes::make_target(spec, *rotor::arrays::IpAddress::parse("10.0.0.1")).reuse_connection);
}

TEST_CASE("reuse_connection sends every check over one kept connection") {
  testing::HttpBackend backend({{200, "ok"}});
  backend.set_closing(Closing::kept);
  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    CheckTarget target = kept_target(backend.port());
    for (int i = 0; i < kReusedChecks; ++i) {
      CAPTURE(i);
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == "HTTP 200");
      CHECK(result.passed);
    }
    CHECK(backend.requests() == kReusedChecks);
    CHECK(backend.connections() == 1);

    // Without it every check connects afresh, to the same kept-alive server.
    target.reuse_connection = false;
    for (int i = 0; i < kReusedChecks; ++i) CHECK(testing::run_check(loop.get(), checker, target).passed);
    CHECK(backend.requests() == 2 * kReusedChecks);
    CHECK(backend.connections() == 1 + kReusedChecks);
    CHECK(checker.in_flight() == 0);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("reuse_connection passes against servers that close after each response") {
  for (Closing closing : {Closing::announced, Closing::unannounced}) {
    CAPTURE(static_cast<int>(closing));
    testing::HttpBackend backend({{200, "ok"}});
    backend.set_closing(closing);
    testing::TestLoop loop;
    {
      HttpChecker checker(loop.get());
      const CheckTarget target = kept_target(backend.port());
      for (int i = 0; i < kReusedChecks; ++i) {
        CAPTURE(i);
        CheckResult result = testing::run_check(loop.get(), checker, target);
        CHECK(result.reason == "HTTP 200");
        CHECK(result.passed);
      }
      CHECK(backend.requests() == kReusedChecks);
      CHECK(backend.connections() == kReusedChecks);
    }
    CHECK(loop.close_cleanly());
  }
}

TEST_CASE("reuse_connection goes on afresh when the kept connection dies under the request") {
  // The server keeps each connection after its first reply and closes it,
  // unanswered, when the next request arrives: what a keep-alive timeout
  // crossing the request looks like. No check may fail for it.
  testing::HttpBackend backend({{200, "ok"}});
  backend.set_closing(Closing::first_only);
  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    const CheckTarget target = kept_target(backend.port());
    for (int i = 0; i < kReusedChecks; ++i) {
      CAPTURE(i);
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == "HTTP 200");
      CHECK(result.passed);
    }
    CHECK(backend.requests() == kReusedChecks);
    CHECK(backend.connections() == kReusedChecks);

    // When the fresh connection fails too, that failure is the verdict.
    backend.refuse_peer("127.0.0.1");
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK_FALSE(result.passed);
    // Closed at accept: an empty reply or a reset, depending on who is faster.
    CAPTURE(result.reason);
    CHECK_FALSE(result.reason.empty());
    CHECK_FALSE(result.reason.starts_with("HTTP"));
    CHECK(backend.requests() == kReusedChecks);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("reuse_connection fails only while the backend is really gone") {
  std::optional<testing::HttpBackend> backend;
  backend.emplace(testing::HttpBackend::Reply{200, "ok"});
  backend->set_closing(Closing::kept);
  const uint16_t port = backend->port();
  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    const CheckTarget target = kept_target(port);
    CHECK(testing::run_check(loop.get(), checker, target).passed);
    CHECK(testing::run_check(loop.get(), checker, target).passed);
    CHECK(backend->connections() == 1);

    backend.reset();  // its connections close with it
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK_FALSE(result.passed);
    CHECK(result.reason == "connection refused");

    backend.emplace(testing::HttpBackend::Reply{200, "ok"}, "127.0.0.1", port);  // restarted
    backend->set_closing(Closing::kept);
    for (int i = 0; i < kReusedChecks; ++i) {
      CAPTURE(i);
      result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == "HTTP 200");
      CHECK(result.passed);
    }
    CHECK(backend->connections() == 1);

    // Restarted between two checks: the kept connection is dead, the
    // instance is not; the check passes on a new connection.
    backend.reset();
    backend.emplace(testing::HttpBackend::Reply{200, "ok"}, "127.0.0.1", port);
    backend->set_closing(Closing::kept);
    result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 200");
    CHECK(result.passed);
    CHECK(backend->connections() == 1);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("fresh HTTPS checks of one origin resume its TLS session") {
  // s_server -www's page says "Reused, " for a resumed session and "New, "
  // for a full handshake; each check is a new connection (s_server closes).
  testing::TlsBackend backend;
  REQUIRE_MESSAGE(backend.error().empty(), backend.error());
  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    CheckTarget target = testing::loopback_target(CheckKind::https, backend.port());
    target.host = "backend.test";
    target.expect_body = "Reused, ";
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "body did not contain \"Reused, \"");  // the first: a full handshake
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == "HTTP 200");
      CHECK(result.passed);
    }
    // Another Host is another origin: its own full handshake first.
    target.host = "other.test";
    result = testing::run_check(loop.get(), checker, target);
    CHECK_FALSE(result.passed);
    result = testing::run_check(loop.get(), checker, target);
    CHECK(result.passed);
    CHECK(checker.tls_session_origins() == 2);
  }
  {
    // Sessions too old to resume: every check makes a full handshake.
    HttpChecker checker(loop.get(), std::chrono::seconds(0));
    CheckTarget target = testing::loopback_target(CheckKind::https, backend.port());
    target.host = "backend.test";
    target.expect_body = "New, ";
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == "HTTP 200");
    }
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("reuse_connection over HTTPS against a server that closes") {
  testing::TlsBackend backend;  // openssl s_server -www answers once per connection
  REQUIRE_MESSAGE(backend.error().empty(), backend.error());
  testing::TestLoop loop;
  {
    HttpChecker checker(loop.get());
    CheckTarget target = testing::loopback_target(CheckKind::https, backend.port());
    target.host = "backend.test";
    target.reuse_connection = true;
    target.expect_body = "s_server";
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == "HTTP 200");
      CHECK(result.passed);
    }
  }
  CHECK(loop.close_cleanly());
}
