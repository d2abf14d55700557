#pragma once
// Blocking loopback clients for the transport tests: hand-made queries, UDP
// exchanges and a TCP client whose every wait is bounded.

#include <algorithm>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/net/worker_pool.h"

namespace rotor::test {

// 12-byte header (RD set, one question) + "example.com." A IN.
inline std::vector<uint8_t> make_query(uint16_t id) {
  std::vector<uint8_t> q = {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0x01, 0x00,
                            0, 1, 0, 0, 0, 0, 0, 0};
  for (const char* label : {"example", "com"}) {
    q.push_back(static_cast<uint8_t>(std::string(label).size()));
    q.insert(q.end(), label, label + std::string(label).size());
  }
  q.insert(q.end(), {0, 0, 1, 0, 1});
  return q;
}

inline uint16_t reply_id(const std::vector<uint8_t>& reply) {
  return static_cast<uint16_t>((reply.at(0) << 8) | reply.at(1));
}
inline bool is_reply(const std::vector<uint8_t>& reply) {
  return reply.size() >= 12 && (reply[2] & 0x80) != 0;
}

inline std::vector<uint8_t> framed(const std::vector<uint8_t>& message) {
  // Sized up front: GCC 12 at -O3 misreads insert() after a 2-byte initializer
  // list as an out-of-bounds copy.
  std::vector<uint8_t> out(message.size() + 2);
  out[0] = static_cast<uint8_t>(message.size() >> 8);
  out[1] = static_cast<uint8_t>(message.size());
  std::copy(message.begin(), message.end(), out.begin() + 2);
  return out;
}

inline bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

class UdpClient {
 public:
  explicit UdpClient(const net::ListenEndpoint& server)
      : socket_(::socket(server.address.ss_family, SOCK_DGRAM, 0)), server_(server.address) {}

  void send(const std::vector<uint8_t>& message) {
    const socklen_t length =
        server_.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    ::sendto(socket_.fd(), message.data(), message.size(), 0,
             reinterpret_cast<const sockaddr*>(&server_), length);
  }

  std::optional<std::vector<uint8_t>> receive(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
    if (!wait_readable(socket_.fd(), timeout)) return std::nullopt;
    std::vector<uint8_t> reply(65535);
    const ssize_t n = ::recv(socket_.fd(), reply.data(), reply.size(), 0);
    if (n < 0) return std::nullopt;
    reply.resize(static_cast<size_t>(n));
    return reply;
  }

  std::optional<std::vector<uint8_t>> exchange(const std::vector<uint8_t>& query) {
    send(query);
    return receive();
  }

 private:
  Socket socket_;
  sockaddr_storage server_;
};

class TcpClient {
 public:
  explicit TcpClient(const net::ListenEndpoint& server)
      : socket_(::socket(server.address.ss_family, SOCK_STREAM, 0)) {
    const socklen_t length =
        server.address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    connected_ = ::connect(socket_.fd(), reinterpret_cast<const sockaddr*>(&server.address),
                           length) == 0;
    const int on = 1;
    ::setsockopt(socket_.fd(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  bool connected() const { return connected_; }

  bool send(const std::vector<uint8_t>& bytes) {
    return ::send(socket_.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  void shutdown_write() { ::shutdown(socket_.fd(), SHUT_WR); }

  // The next framed message, or nullopt on timeout or EOF.
  std::optional<std::vector<uint8_t>> read_message(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
    uint8_t prefix[2];
    if (!read_exact(prefix, 2, timeout)) return std::nullopt;
    std::vector<uint8_t> message(static_cast<size_t>((prefix[0] << 8) | prefix[1]));
    if (!read_exact(message.data(), message.size(), timeout)) return std::nullopt;
    return message;
  }

  // True when the server closes the connection within `timeout`.
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (!wait_readable(socket_.fd(), left)) return false;
      uint8_t byte;
      const ssize_t n = ::recv(socket_.fd(), &byte, 1, 0);
      if (n <= 0) return true;  // EOF or reset
    }
    return false;
  }

 private:
  bool read_exact(uint8_t* out, size_t size, std::chrono::milliseconds timeout) {
    size_t done = 0;
    while (done < size) {
      if (!wait_readable(socket_.fd(), timeout)) return false;
      const ssize_t n = ::recv(socket_.fd(), out + done, size - done, 0);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  Socket socket_;
  bool connected_ = false;
};

inline net::ListenEndpoint endpoint(const std::string& text) {
  net::ListenEndpoint parsed;
  std::string error;
  if (!net::parse_endpoint(text, parsed, error)) throw std::runtime_error(error);
  return parsed;
}

}  // namespace rotor::test
