#pragma once
// A raw TCP client on 127.0.0.1, for what httplib's client will not send
// (trickled requests, silence, plain HTTP to the TLS port), for the API's
// unit tests.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace rotor::api::test {

// A raw TCP client, for what httplib's client will not send.
class RawClient {
 public:
  RawClient(int port, const char* source = nullptr) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    if (source != nullptr) {
      sockaddr_in local{.sin_family = AF_INET};
      ::inet_pton(AF_INET, source, &local.sin_addr);
      REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0);
    }
    sockaddr_in server{.sin_family = AF_INET, .sin_port = htons(static_cast<uint16_t>(port))};
    ::inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&server), sizeof server) == 0);
    const int on = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  ~RawClient() { ::close(fd_); }

  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  // Everything the server sends until it closes, or until `timeout`; `closed`
  // tells which.
  std::string read_until_close(std::chrono::milliseconds timeout, bool& closed) {
    using Clock = std::chrono::steady_clock;
    std::string got;
    closed = false;
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd entry{fd_, POLLIN, 0};
      if (::poll(&entry, 1, static_cast<int>(left.count()) + 1) <= 0) break;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      got.append(buffer, static_cast<size_t>(n));
    }
    return got;
  }

  int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace rotor::api::test
