// The API under hostile clients: bodies too deep, too large or not UTF-8,
// wrong content types, requests trickled a byte at a time, and one address
// opening many connections. Each gets a clean 4xx or is cut off, and other
// clients are served meanwhile.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/api/api_rig.h"
#include "tests/unit/api/raw_client.h"

namespace rotor::api {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::RawClient;
using test::Reply;
using test::Rig;
using test::send;

constexpr const char* kChunkedPut =
    "PUT /v1/arrays/web.lb.example.com HTTP/1.1\r\nHost: rotor\r\n"
    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

// One chunk of `size` spaces, framed.
std::string chunk_of(size_t size) {
  char length[16];
  std::snprintf(length, sizeof length, "%zx\r\n", size);
  return length + std::string(size, ' ') + "\r\n";
}

std::string status_line(const std::string& reply) { return reply.substr(0, reply.find("\r\n")); }

std::string json_part(const std::string& reply) {
  const auto start = reply.find("\r\n\r\n");
  return start == std::string::npos ? std::string() : reply.substr(start + 4);
}

TEST_SUITE("unit/api/api_hostile") {
  TEST_CASE("a body nested deeper than the limit is 400 naming the body") {
    Rig rig;
    const Reply deep = send(rig, "PUT", "/v1/arrays/web.lb.example.com", std::string(100000, '['));
    CHECK(deep.status == 400);
    CHECK(deep.body["error"]["field"] == "body");
    CHECK(deep.body["error"]["message"].get<std::string>().find("nested deeper than 32") !=
          std::string::npos);
    // At the limit the body parses; it is then refused for its shape, not its depth.
    std::string at_limit = R"({"ttl": )" + std::string(31, '[') + std::string(31, ']') + "}";
    const Reply shallow = send(rig, "PUT", "/v1/arrays/web.lb.example.com", at_limit);
    CHECK(shallow.status == 400);
    CHECK(shallow.body["error"]["message"].get<std::string>().find("nested") == std::string::npos);
  }

  TEST_CASE("invalid UTF-8 in a body is 400 naming the body") {
    Rig rig;
    const Reply reply =
        send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{\"ttl\": 60, \"policy\": \"\xff\xfe\"}");
    CHECK(reply.status == 400);
    CHECK(reply.body["error"]["field"] == "body");
  }

  TEST_CASE("bytes that are not UTF-8 in a path are 400 naming the path") {
    Rig rig;
    const Reply reply = send(rig, "GET", "/v1/arrays/%ff%fe.lb.example.com");
    CHECK(reply.status == 400);
    CHECK(reply.body["error"]["field"] == "path");
  }

  TEST_CASE("a raw NUL or control byte in the request line is 400 and no name is cut short") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}").status == 201);
    const std::string paths[] = {
        std::string("/v1/arrays/web.lb.example.com\0x", 31),
        std::string("/v1/arrays/web\0.lb.example.com", 31),
        "/v1/arrays/web\x01.lb.example.com",
        "/v1/arrays/web.lb.example.com%00",
    };
    for (const std::string& path : paths) {
      CAPTURE(path);
      for (const char* method : {"GET", "DELETE"}) {
        RawClient client(rig.port);
        REQUIRE(client.send(std::string(method) + " " + path +
                            " HTTP/1.1\r\nHost: rotor\r\nConnection: close\r\n\r\n"));
        bool closed = false;
        const std::string reply = client.read_until_close(5s, closed);
        CHECK(status_line(reply).find(" 400 ") != std::string::npos);
        // httplib may answer what follows the bad line too: read the first reply's body only.
        const std::string body = json_part(reply);
        const auto length = reply.find("Content-Length: ");
        REQUIRE(length != std::string::npos);
        const size_t size = std::stoul(reply.substr(length + 16));
        CHECK(nlohmann::json::parse(body.substr(0, size))["error"]["code"] == 400);
      }
    }
    CHECK(rig.registry->find(test::kWeb).has_value());
  }

  TEST_CASE("bodies in other media types are 415") {
    Rig rig;
    struct Case {
      const char* content_type;
      int status;
    };
    const Case cases[] = {
        {"text/plain", 415},
        {"application/x-www-form-urlencoded", 415},
        // httplib parses multipart itself and refuses this body before routing.
        {"multipart/form-data; boundary=x", 400},
        {"application/jsonp", 415},
        {"application/json; charset=utf-8", 201},
        {"Application/JSON", 200},
    };
    for (const Case& c : cases) {
      CAPTURE(std::string(c.content_type));
      const Reply reply = send(rig, "PUT", "/v1/arrays/web.lb.example.com", R"({"ttl": 60})",
                               c.content_type);
      CHECK(reply.status == c.status);
      if (c.status == 415) CHECK(reply.body["error"]["code"] == 415);
    }
  }

  TEST_CASE("a declared length over the limit is 413 without the body being sent") {
    // httplib drains the declared body until the client goes quiet, then answers.
    Rig rig("", ConnectionLimits{.io_timeout = 500ms});
    RawClient client(rig.port);
    REQUIRE(client.send("PUT /v1/arrays/web.lb.example.com HTTP/1.1\r\nHost: rotor\r\n"
                        "Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"));
    bool closed = false;
    const std::string reply = client.read_until_close(5s, closed);
    CHECK(status_line(reply).find(" 413 ") != std::string::npos);
    CHECK(nlohmann::json::parse(json_part(reply))["error"]["code"] == 413);
  }

  TEST_CASE("a chunked body over the limit is refused") {
    Rig rig("", ConnectionLimits{.io_timeout = 1000ms});
    RawClient client(rig.port);
    REQUIRE(client.send(kChunkedPut));
    const std::string chunk = chunk_of(0x10000);
    // 1 MiB and 1 KiB: over the body limit, within the request's byte budget.
    for (int i = 0; i < 16; ++i) REQUIRE(client.send(chunk));
    REQUIRE(client.send(chunk_of(0x400)));
    client.send("0\r\n\r\n");
    bool closed = false;
    const std::string reply = client.read_until_close(5s, closed);
    CHECK(status_line(reply).find(" 413 ") != std::string::npos);
  }

  TEST_CASE("a chunked body past the request's byte budget is cut off") {
    Rig rig("", ConnectionLimits{.io_timeout = 1000ms});
    RawClient client(rig.port);
    REQUIRE(client.send(kChunkedPut));
    const std::string chunk = chunk_of(0x10000);
    int sent = 0;
    for (; sent < 64; ++sent) {  // 4 MiB offered
      if (!client.send(chunk)) break;
    }
    bool closed = false;
    const std::string reply = client.read_until_close(5s, closed);
    CHECK(closed);
    const std::string line = status_line(reply);
    REQUIRE(line.size() > 12);
    CHECK(line[9] == '4');
  }

  TEST_CASE("a request line over 8 KiB is refused with a 4xx") {
    Rig rig;
    RawClient client(rig.port);
    REQUIRE(client.send("GET /v1/arrays/" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: rotor\r\n\r\n"));
    bool closed = false;
    const std::string reply = client.read_until_close(5s, closed);
    const std::string line = status_line(reply);
    REQUIRE(line.size() > 12);
    CHECK(line[9] == '4');
  }

  TEST_CASE("a request trickled a byte at a time is cut off at the request deadline") {
    Rig rig("", ConnectionLimits{.request_deadline = 1000ms, .io_timeout = 5000ms});
    RawClient client(rig.port);
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: rotor\r\nX-Slow: " + std::string(200, 'x');
    const auto start = Clock::now();
    bool closed = false;
    // Each byte arrives well within the io timeout, so only the deadline can end this.
    for (size_t i = 0; i < request.size() && !closed; ++i) {
      if (!client.send(request.substr(i, 1))) break;
      client.read_until_close(50ms, closed);
    }
    if (!closed) client.read_until_close(3s, closed);
    const auto took = Clock::now() - start;
    CHECK(closed);
    CHECK(took >= 900ms);
    CHECK(took < 4s);
  }

  TEST_CASE("slow clients from one address do not stall the API for others") {
    Rig rig("", ConnectionLimits{.request_deadline = 3000ms, .max_per_client = 4, .max_workers = 16});
    std::vector<std::unique_ptr<RawClient>> slow;
    int refused = 0;
    for (int i = 0; i < 12; ++i) {
      slow.push_back(std::make_unique<RawClient>(rig.port, "127.0.0.1"));
      REQUIRE(slow.back()->send("GET /healthz HTTP/1.1\r\nHost: rotor\r\n"));
    }
    // The connections over the per-address cap are answered 429 at once.
    for (auto& client : slow) {
      bool closed = false;
      const std::string reply = client->read_until_close(300ms, closed);
      if (status_line(reply).find(" 429 ") != std::string::npos) {
        ++refused;
        CHECK(nlohmann::json::parse(json_part(reply))["error"]["code"] == 429);
      }
    }
    CHECK(refused == 8);
    // Another address is served while the four held connections stay open.
    for (int round = 0; round < 5; ++round) {
      RawClient other(rig.port, "127.0.0.2");
      const auto start = Clock::now();
      REQUIRE(other.send("GET /healthz HTTP/1.1\r\nHost: rotor\r\nConnection: close\r\n\r\n"));
      bool closed = false;
      const std::string reply = other.read_until_close(2s, closed);
      CHECK(status_line(reply).find(" 200 ") != std::string::npos);
      CHECK(Clock::now() - start < 2s);
    }
    // The held ones are cut off at their deadline.
    const auto start = Clock::now();
    int cut = 0;
    for (auto& client : slow) {
      bool closed = false;
      client->read_until_close(6s, closed);
      if (closed) ++cut;
    }
    CHECK(cut == 12);
    CHECK(Clock::now() - start < 6s);
  }
}

}  // namespace
}  // namespace rotor::api
