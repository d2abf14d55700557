// PlainHttpChecker, the plain-HTTP client of the checks, against scripted
// loopback servers that send raw bytes: chunked and split responses, interim
// 1xx, bodies that end with the connection, servers that stop or close
// halfway, malformed responses, the 64 KiB body limit, and which connections
// it keeps for reuse_connection. checker_test.cc and http_reuse_test.cc run
// the same client through HttpChecker.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "probes/plain_http_checker.h"
#include "tests/support/backends.h"
#include "tests/unit/support/allocation_counter.h"

TEST_SUITE_BEGIN("unit/probes/plain_http");

using namespace std::chrono_literals;
using rotor::probes::CheckKind;
using rotor::probes::CheckResult;
using rotor::probes::CheckTarget;
using rotor::probes::PlainHttpChecker;
namespace testing = rotor::probes::testing;

namespace {

CheckTarget plain_target(uint16_t port) { return testing::loopback_target(CheckKind::http, port); }

std::string sized_response(int status, const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " Whatever\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n" + extra_headers + "\r\n" + body;
}

// `text` cut into pieces of `size` bytes (the last may be shorter).
std::vector<std::string> cut(const std::string& text, size_t size) {
  std::vector<std::string> pieces;
  for (size_t at = 0; at < text.size(); at += size) pieces.push_back(text.substr(at, size));
  return pieces;
}

}  // namespace

TEST_CASE("the request names the client and asks to close unless reused") {
  testing::ScriptedBackend backend({sized_response(200, "ok")}, 0ms, true);
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(backend.port());
    target.path = "/healthz";
    CHECK(testing::run_check(loop.get(), checker, target).reason == "HTTP 200");
    const std::string port = std::to_string(backend.port());
    CHECK(backend.last_request_head() == "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + port +
                                             "\r\nUser-Agent: rotor-probe\r\nAccept: */*\r\nConnection: close");
    target.reuse_connection = true;
    CHECK(testing::run_check(loop.get(), checker, target).reason == "HTTP 200");
    CHECK(backend.last_request_head() ==
          "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nUser-Agent: rotor-probe\r\nAccept: */*");
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("chunked bodies are matched across chunk boundaries") {
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  testing::ScriptedBackend backend({chunked});
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(backend.port());
    target.expect_body = "lo wo";
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 200");
    CHECK(result.passed);
    target.expect_body = "5\r\nhello";  // the chunk framing is not body
    result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "body did not contain \"5\r\nhello\"");
    CHECK_FALSE(result.passed);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("a chunked body's trailer fields count as headers and a path's fragment is not sent") {
  testing::ScriptedBackend backend(
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nRotor-Weight: 40\r\n\r\n"});
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(backend.port());
    target.path = "/health?deep=1#section";
    target.read_backend_report = true;
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 200");
    REQUIRE(result.report);
    CHECK(result.report->weight_percent == std::optional<uint8_t>(40));
    CHECK(backend.last_request_head().starts_with("GET /health?deep=1 HTTP/1.1\r\n"));
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("a response split over many reads is parsed whole") {
  const std::string response =
      sized_response(200, "all is well", "Rotor-Weight: 25\r\nRotor-State: draining\r\n");
  for (size_t size : {1, 7, 40}) {
    CAPTURE(size);
    testing::ScriptedBackend backend(cut(response, size), size == 1 ? 1ms : 10ms);
    testing::TestLoop loop;
    {
      PlainHttpChecker checker(loop.get());
      CheckTarget target = plain_target(backend.port());
      target.expect_body = "is well";
      target.read_backend_report = true;
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == "HTTP 200");
      CHECK(result.passed);
      REQUIRE(result.report);
      CHECK(result.report->weight_percent == std::optional<uint8_t>(25));
      CHECK(result.report->draining == std::optional<bool>(true));
    }
    CHECK(loop.close_cleanly());
  }
}

TEST_CASE("the status range includes both ends") {
  testing::ScriptedBackend no_content({"HTTP/1.1 204 No Content\r\n\r\n"});
  testing::ScriptedBackend last_redirect({sized_response(399, "")});
  testing::ScriptedBackend not_found({sized_response(404, "nope")});
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    struct Row {
      uint16_t port, min, max;
      bool passed;
      const char* reason;
    };
    for (Row row : {Row{no_content.port(), 204, 204, true, "HTTP 204"}, Row{no_content.port(), 205, 299, false, "HTTP 204"},
                    Row{no_content.port(), 200, 203, false, "HTTP 204"}, Row{last_redirect.port(), 200, 399, true, "HTTP 399"},
                    Row{not_found.port(), 200, 399, false, "HTTP 404"}, Row{not_found.port(), 400, 499, true, "HTTP 404"}}) {
      CAPTURE(row.reason);
      CAPTURE(row.min);
      CheckTarget target = plain_target(row.port);
      target.expect_status_min = row.min;
      target.expect_status_max = row.max;
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == row.reason);
      CHECK(result.passed == row.passed);
    }
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("interim 1xx responses are skipped and only the final one reports") {
  testing::ScriptedBackend backend({"HTTP/1.1 100 Continue\r\nRotor-Weight: 5\r\n\r\n",
                                    sized_response(503, "busy", "Rotor-State: draining\r\n")},
                                   5ms);
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(backend.port());
    target.read_backend_report = true;
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 503");
    CHECK_FALSE(result.passed);
    REQUIRE(result.report);
    CHECK(result.report->weight_percent == std::optional<uint8_t>(100));  // the 100's header does not count
    CHECK(result.report->draining == std::optional<bool>(true));
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("a body without a length ends with the connection") {
  testing::ScriptedBackend backend({"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstill ", "ok"}, 20ms);
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(backend.port());
    target.expect_body = "still ok";
    target.reuse_connection = true;  // a response that ends with its connection leaves nothing to keep
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 200");
    CHECK(result.passed);
    CHECK(checker.kept_connections() == 0);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("a response that stops halfway times out") {
  testing::ScriptedBackend backend({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst part"}, 0ms, true);
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(backend.port());
    target.timeout = 300ms;
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "timeout after 300 ms");
    CHECK_FALSE(result.passed);
    CHECK(result.latency >= 299ms);  // libuv's clock has millisecond steps
    CHECK(result.latency < 1500ms);
    CHECK(checker.in_flight() == 0);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("a server that closes early fails with what happened") {
  struct Row {
    std::vector<std::string> pieces;
    const char* reason;
  };
  for (const Row& row : {Row{{}, "empty reply: connection closed without a response"},
                         Row{{"HTTP/1.1 200 OK\r\nContent-Le"}, "connection closed before the response ended"},
                         Row{{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
                             "connection closed before the response ended"},
                         Row{{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
                             "connection closed before the response ended"}}) {
    CAPTURE(row.reason);
    testing::ScriptedBackend backend(row.pieces);
    testing::TestLoop loop;
    {
      PlainHttpChecker checker(loop.get());
      CheckTarget target = plain_target(backend.port());
      target.read_backend_report = true;
      CheckResult result = testing::run_check(loop.get(), checker, target);
      CHECK(result.reason == row.reason);
      CHECK_FALSE(result.passed);
      CHECK_FALSE(result.report);  // no whole response, nothing reported
    }
    CHECK(loop.close_cleanly());
  }
}

TEST_CASE("malformed responses fail with the parser's reason") {
  for (const char* response : {"HTTP/1.1 abc OK\r\n\r\n", "hello there\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
                               "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    CAPTURE(response);
    testing::ScriptedBackend backend({response}, 0ms, true);
    testing::TestLoop loop;
    {
      PlainHttpChecker checker(loop.get());
      CheckResult result = testing::run_check(loop.get(), checker, plain_target(backend.port()));
      CAPTURE(result.reason);
      CHECK(result.reason.starts_with("malformed response: "));
      CHECK(result.reason.size() > std::string_view("malformed response: ").size());
      CHECK_FALSE(result.passed);
    }
    CHECK(loop.close_cleanly());
  }
}

TEST_CASE("only the first 64 KiB of a chunked body are read") {
  const std::string filler(PlainHttpChecker::kMaxBody - 2, 'x');
  auto chunk = [](const std::string& data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return size + data + "\r\n";
  };
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  // "ok" ends exactly at 64 KiB in one; begins one byte later in the other.
  testing::ScriptedBackend inside({head + chunk(filler) + chunk("ok") + chunk("more") + "0\r\n\r\n"}, 0ms, true);
  testing::ScriptedBackend beyond({head + chunk(filler + "-") + chunk("ok") + "0\r\n\r\n"}, 0ms, true);
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(inside.port());
    target.expect_body = "ok";
    target.reuse_connection = true;
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "HTTP 200");
    CHECK(result.passed);
    // The rest of the body was never read: the connection is not kept.
    CHECK(checker.kept_connections() == 0);
    CHECK(testing::run_check(loop.get(), checker, target).passed);
    CHECK(inside.connections() == 2);

    target.port = beyond.port();
    result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "body did not contain \"ok\"");
    CHECK_FALSE(result.passed);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("reuse keeps one connection per target") {
  testing::ScriptedBackend backend({sized_response(200, "ok")}, 0ms, true);
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget first = plain_target(backend.port());
    first.reuse_connection = true;
    CheckTarget second = first;
    second.path = "/other";
    for (int i = 0; i < 3; ++i) {
      CAPTURE(i);
      CHECK(testing::run_check(loop.get(), checker, first).reason == "HTTP 200");
      CHECK(testing::run_check(loop.get(), checker, second).reason == "HTTP 200");
    }
    CHECK(backend.requests() == 6);
    CHECK(backend.connections() == 2);
    CHECK(checker.kept_connections() == 2);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("a kept connection the server closes while idle is dropped") {
  testing::HttpBackend backend({{200, "ok"}});
  backend.set_closing(testing::HttpBackend::Closing::unannounced);
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(backend.port());
    target.reuse_connection = true;
    CHECK(testing::run_check(loop.get(), checker, target).passed);
    // Kept (the response did not say close), then noticed closed while idle.
    CHECK(testing::run_until(loop.get(), [&] { return checker.kept_connections() == 0; }, 5s));
    CHECK(testing::run_check(loop.get(), checker, target).passed);
    CHECK(backend.connections() == 2);
    CHECK(backend.requests() == 2);  // no request was lost on the closed connection
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("bytes after the response leave the connection unkept") {
  // Two responses to one request: the second is not an answer to anything.
  testing::ScriptedBackend backend({sized_response(200, "ok") + sized_response(200, "ok")}, 0ms, true);
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(backend.port());
    target.reuse_connection = true;
    CHECK(testing::run_check(loop.get(), checker, target).passed);
    CHECK(testing::run_check(loop.get(), checker, target).passed);
    CHECK(backend.connections() == 2);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("a retry after a dead kept connection stays within the check's timeout") {
  // The first connection is answered and kept; the next request on it closes
  // it unanswered, and the retry's new connection is never answered.
  testing::ScriptedBackend backend({sized_response(200, "ok")}, 0ms, true);
  backend.answer_only(1);
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(backend.port());
    target.reuse_connection = true;
    target.timeout = 400ms;
    CHECK(testing::run_check(loop.get(), checker, target).passed);
    CHECK(checker.kept_connections() == 1);
    CheckResult result = testing::run_check(loop.get(), checker, target);
    CHECK(result.reason == "timeout after 400 ms");
    CHECK_FALSE(result.passed);
    CHECK(result.latency >= 399ms);
    CHECK(result.latency < 1500ms);  // one timeout for both connections, not two
    CHECK(backend.connections() == 2);
    CHECK(backend.requests() == 3);
    CHECK(checker.in_flight() == 0);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("fresh checks after the first allocate nothing in the checker") {
  testing::ScriptedBackend backend({sized_response(200, "ok")});
  testing::TestLoop loop;
  {
    PlainHttpChecker checker(loop.get());
    const CheckTarget target = plain_target(backend.port());
    CHECK(testing::run_check(loop.get(), checker, target).reason == "HTTP 200");
    int passed = 0;
    size_t allocations = 0;
    {
      // This thread's: the backend's thread is not counted. The callback
      // holds two references, which std::function keeps without allocating.
      rotor::test::AllocationCounter counter;
      for (int i = 0; i < 5; ++i) {
        bool finished = false;
        checker.start(target, [&finished, &passed](CheckResult result) {
          finished = true;
          passed += result.passed ? 1 : 0;
        });
        // The check's timer bounds every turn; the turn that judges it also
        // closes its connection, which goes back to the checker's spares.
        while (!finished) uv_run(loop.get(), UV_RUN_ONCE);
      }
      allocations = counter.allocations();
    }
    CHECK(passed == 5);
    CHECK(allocations == 0);
    CHECK(backend.connections() == 6);
  }
  CHECK(loop.close_cleanly());
}

TEST_CASE("destroying the checker with kept connections releases every handle") {
  testing::ScriptedBackend backend({sized_response(200, "ok")}, 0ms, true);
  testing::TestLoop loop;
  int called = 0;
  {
    PlainHttpChecker checker(loop.get());
    CheckTarget target = plain_target(backend.port());
    target.reuse_connection = true;
    CHECK(testing::run_check(loop.get(), checker, target).passed);
    CHECK(checker.kept_connections() == 1);
    target.port = testing::closed_port();
    checker.start(target, [&](CheckResult) { ++called; });  // refused, not yet reported
    target.port = backend.port();
    checker.start(target, [&](CheckResult) { ++called; });  // on the kept connection
  }
  testing::run_until(loop.get(), [] { return false; }, 100ms);
  CHECK(called == 0);
  CHECK(loop.close_cleanly());
}

TEST_SUITE_END();
