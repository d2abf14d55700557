// GuardedServer's own request reader and reply writer (api/request_head.h)
// against httplib's: a table of raw requests, each sent to a server that
// reads with its own reader and to one that leaves every request to
// httplib's process_request, must get the same reply bytes (the handler
// echoes the Request it was given: method, version, target, path, params,
// headers, body). Each row also says whether the own reader takes the request
// or why it leaves it to httplib.

#include <doctest/doctest.h>
#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "api/guarded_server.h"
#include "api/request_head.h"
#include "tests/unit/api/raw_client.h"

namespace rotor::api::guarded_test {
namespace {

using namespace std::chrono_literals;

constexpr size_t kBodyLimit = 20000;

// The headers httplib adds to a request it parses and the own reader leaves
// out, since no handler reads them (api/request_head.h).
bool added_by_httplib(const std::string& name) {
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT";
}

// Everything the handler was given, as text (the headers httplib adds left
// out, their ports change per connection anyway), and whether it had those.
std::string echo(const httplib::Request& request) {
  std::string out = request.method + "|" + request.version + "|" + request.target + "|" + request.path + "|";
  for (const auto& [name, value] : request.params) out += name + "=" + value + ";";
  out += "|";
  for (const auto& [name, value] : request.headers) {
    if (!added_by_httplib(name)) out += name + ": " + value + ";";
  }
  out += "|" + request.remote_addr + "|" + request.local_addr + "|" + std::to_string(request.body.size()) +
         "|" + request.body.substr(0, 100);
  return out;
}

// A GuardedServer on 127.0.0.1 port 0 whose handler echoes the request;
// "/status/NNN" answers NNN with no body (the error handler fills it),
// "/throw" throws (the exception handler answers).
struct EchoServer {
  explicit EchoServer(bool own_reader) : server(ConnectionLimits{.io_timeout = 1000ms, .keep_alive_idle = 1000ms}) {
    server.set_own_reader(own_reader);
    server.set_payload_max_length(kBodyLimit);
    server.serve_with(
        [](const httplib::Request& request, httplib::Response& response) {
          if (request.path == "/throw") throw std::runtime_error("thrown by the handler");
          if (request.path.starts_with("/status/")) {
            response.status = std::stoi(request.path.substr(8));
            return;
          }
          if (request.path == "/added-headers") {
            size_t added = 0;
            for (const auto& header : request.headers) added += added_by_httplib(header.first) ? 1 : 0;
            response.set_content(std::to_string(added), "text/plain");
            return;
          }
          response.set_header("X-Echo", "1");
          response.set_content(echo(request), "text/x-echo");
        },
        [](const httplib::Request&, httplib::Response& response) {
          if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          response.set_content("error " + std::to_string(response.status), "text/x-error");
          return httplib::Server::HandlerResponse::Handled;
        },
        [](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
          response.status = 500;
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            response.set_content(std::string("exception: ") + e.what(), "text/x-error");
          }
        });
    port = server.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~EchoServer() {
    server.stop();
    thread.join();
  }

  // The reply to `request` sent in one piece, the client's side then shut.
  std::string reply(const std::string& request) {
    test::RawClient client(port);
    REQUIRE(client.send(request));
    ::shutdown(client.fd(), SHUT_WR);
    bool closed = false;
    return client.read_until_close(5s, closed);
  }

  GuardedServer server;
  int port = 0;
  std::thread thread;
};

struct Case {
  const char* what;
  std::string request;
  const char* left_because;  // "" when the own reader takes it
};

const std::string kPatchBody = R"({"state": "draining"})";

const Case kCases[] = {
    {"a GET", "GET /v1/arrays HTTP/1.1\r\nHost: rotor\r\n\r\n", ""},
    {"a HEAD", "HEAD /v1/arrays HTTP/1.1\r\nHost: rotor\r\n\r\n", ""},
    {"a PATCH with a body",
     "PATCH /v1/arrays/web/instances/3 HTTP/1.1\r\nHost: rotor\r\nContent-Type: application/json\r\n"
     "Content-Length: 21\r\n\r\n" + kPatchBody, ""},
    {"a POST with an empty body", "POST /v1/reload HTTP/1.1\r\nContent-Length: 0\r\n\r\n", ""},
    {"a DELETE", "DELETE /v1/arrays/web HTTP/1.1\r\nContent-Length: 0\r\n\r\n", ""},
    {"an OPTIONS", "OPTIONS /v1/arrays HTTP/1.1\r\nHost: rotor\r\n\r\n", ""},
    {"a query", "GET /v1/events?since=5&kind=a%20b&flag&x=1+2 HTTP/1.1\r\n\r\n", ""},
    {"an empty query", "GET /v1/events? HTTP/1.1\r\n\r\n", ""},
    {"a percent-encoded path", "GET /v1/arrays/a%2Fb%0Ac%00 HTTP/1.1\r\n\r\n", ""},
    {"HTTP/1.0", "GET /healthz HTTP/1.0\r\n\r\n", ""},
    {"HTTP/1.0 keep-alive", "GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ""},
    {"Connection: close", "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", ""},
    {"Connection twice and the first counts",
     "GET /healthz HTTP/1.1\r\nconnection: keep-alive\r\nConnection: close\r\n\r\n", ""},
    {"HTTP/1.0 keep-alive in lower case", "GET /healthz HTTP/1.0\r\nCONNECTION: keep-alive\r\n\r\n", ""},
    {"names in any case, twice, values padded",
     "GET /healthz HTTP/1.1\r\nx-a: 1\r\nX-A:2\r\nHOST:  \t rotor \t \r\nAuthorization: Bearer abc\r\n\r\n", ""},
    {"an error status filled by the error handler", "GET /status/404 HTTP/1.1\r\n\r\n", ""},
    {"a status without a body", "GET /status/204 HTTP/1.1\r\n\r\n", ""},
    {"a HEAD of an error", "HEAD /status/403 HTTP/1.1\r\n\r\n", ""},
    {"a handler that throws", "PUT /throw HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", ""},
    {"two requests in one send",
     "GET /a HTTP/1.1\r\n\r\nPATCH /b HTTP/1.1\r\nContent-Length: 21\r\n\r\n" + kPatchBody, ""},
    {"a body larger than a read", "PUT /big HTTP/1.1\r\nContent-Length: 10000\r\n\r\n" + std::string(10000, 'b'), ""},
    {"a body shorter than declared", "PUT /short HTTP/1.1\r\nContent-Length: 50\r\n\r\nabc", ""},
    {"a chunked body",
     "PUT /v1/arrays/web HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     "Transfer-Encoding (httplib reads chunked bodies)"},
    {"Expect", "PUT /v1/arrays/web HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
     "Expect (httplib answers 100-continue)"},
    {"Accept-Encoding: identity", "GET /v1/arrays HTTP/1.1\r\nAccept-Encoding: identity\r\n\r\n", ""},
    {"Accept-Encoding: gzip", "GET /v1/arrays HTTP/1.1\r\nAccept-Encoding: deflate, gzip\r\n\r\n",
     "Accept-Encoding with gzip or br (httplib compresses replies)"},
    {"Content-Encoding", "PUT /v1/arrays/web HTTP/1.1\r\nContent-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}",
     "Content-Encoding (httplib decompresses bodies)"},
    {"Range", "GET /v1/arrays HTTP/1.1\r\nRange: bytes=0-3\r\n\r\n", "Range (httplib serves byte ranges)"},
    {"a form body",
     "POST /v1/reload HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=1",
     "a form body (httplib parses forms)"},
    {"a '%' in a header", "GET /healthz HTTP/1.1\r\nX-Note: 100%25\r\n\r\n",
     "a '%' in a header's value (httplib percent-decodes values)"},
    {"an empty header", "GET /healthz HTTP/1.1\r\nX-Empty:\r\n\r\n", "an empty header value (httplib drops the header)"},
    {"a line without a colon", "GET /healthz HTTP/1.1\r\nnonsense\r\n\r\n", "a header line without a name"},
    {"a space in a name", "GET /healthz HTTP/1.1\r\nX Y: 1\r\n\r\n", "a byte that is not a token's in a header's name"},
    {"a bare LF", "GET /healthz HTTP/1.1\r\nX-A: 1\nX-B: 2\r\n\r\n", "a control byte in a header's value"},
    {"a body on a GET", "GET /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
     "a body on a method that takes none (httplib leaves it unread)"},
    {"a PATCH without a length", "PATCH /v1/arrays/web HTTP/1.1\r\n\r\n{}", "a body without Content-Length"},
    {"a length twice", "PUT /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", "Content-Length twice"},
    {"a length that is not a number", "PUT /x HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}",
     "a Content-Length that is not a number"},
    {"a body over the limit", "PUT /x HTTP/1.1\r\nContent-Length: 20001\r\n\r\n{}",
     "a body over the limit (httplib answers 413)"},
    {"a request line without a version", "GET /healthz\r\n\r\n", "the request line has one space"},
    {"an unknown method", "BREW /pot HTTP/1.1\r\n\r\n", "a method the API does not route"},
    {"HTTP/2.0", "GET /healthz HTTP/2.0\r\n\r\n", "not HTTP/1.0 or HTTP/1.1"},
    {"an absolute target", "GET http://rotor/healthz HTTP/1.1\r\n\r\n", "the target is not a path"},
    {"two spaces", "GET  /healthz HTTP/1.1\r\n\r\n", "not HTTP/1.0 or HTTP/1.1"},
    {"a fragment", "GET /healthz#top HTTP/1.1\r\n\r\n", "a control, space, '#' or non-ASCII byte in the target"},
    {"a control byte in the target", "GET /a\x01z HTTP/1.1\r\n\r\n",
     "a control, space, '#' or non-ASCII byte in the target"},
    {"two '?'", "GET /a?b=1?c HTTP/1.1\r\n\r\n", "more than one '?' in the target"},
    {"a head cut short", "GET /healthz HTTP/1.1\r\nHost: rotor\r\n", "the head is not all in what was read"},
};

TEST_SUITE("unit/api/guarded_server") {
  TEST_CASE("the own reader takes the common requests and names why it leaves the others to httplib") {
    for (const Case& c : kCases) {
      CAPTURE(std::string(c.what));
      httplib::Request request;
      RequestHead head;
      const char* why = read_request_head(c.request, kBodyLimit, request, head);
      CHECK(std::string(why == nullptr ? "" : why) == c.left_because);
    }
  }

  TEST_CASE("the own reader replies byte for byte as httplib does") {
    EchoServer own(true);
    EchoServer httplib_only(false);
    size_t taken = 0;
    for (const Case& c : kCases) {
      CAPTURE(std::string(c.what));
      const size_t before = own.server.own_reader_requests();
      const std::string reply = own.reply(c.request);
      CHECK(reply == httplib_only.reply(c.request));
      CHECK(reply.starts_with("HTTP/1.1 "));
      const size_t served = own.server.own_reader_requests() - before;
      CHECK((served > 0) == (std::string(c.left_because).empty()));
      taken += served;
    }
    CHECK(httplib_only.server.own_reader_requests() == 0);
    CHECK(taken == 24);  // "two requests in one send" counts twice
  }

  TEST_CASE("the own reader leaves out the address headers httplib adds and keeps the address fields") {
    EchoServer own(true);
    EchoServer httplib_only(false);
    const std::string request = "GET /added-headers HTTP/1.1\r\nConnection: close\r\n\r\n";
    const std::string own_reply = own.reply(request);
    CHECK(own.server.own_reader_requests() == 1);
    CHECK(own_reply.ends_with("\r\n\r\n0"));
    CHECK(httplib_only.reply(request).ends_with("\r\n\r\n4"));
    // The addresses themselves are still there, in the fields (echoed).
    const std::string echoed = own.reply("GET /a HTTP/1.1\r\n\r\n");
    CHECK(echoed.find("|127.0.0.1|127.0.0.1|") != std::string::npos);
  }

  TEST_CASE("keep-alive requests on one connection are each read by the own reader") {
    EchoServer own(true);
    test::RawClient client(own.port);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(client.send("PATCH /v1/arrays/web/instances/1 HTTP/1.1\r\nContent-Length: 21\r\n\r\n" + kPatchBody));
      bool closed = false;
      std::string reply;
      // One reply at a time: the connection stays open until the client is done.
      for (int tries = 0; tries < 50 && reply.find(kPatchBody) == std::string::npos; ++tries) {
        reply += client.read_until_close(100ms, closed);
      }
      CHECK(reply.starts_with("HTTP/1.1 200 OK\r\n"));
      CHECK(reply.find("Keep-Alive: timeout=5, max=100\r\n") != std::string::npos);
      CHECK(!closed);
    }
    CHECK(own.server.own_reader_requests() == 3);
  }
}

}  // namespace
}  // namespace rotor::api::guarded_test
