#pragma once
// Socket plumbing shared by the transports: an owning file descriptor, address
// helpers, and the SO_REUSEPORT listening sockets every worker opens for itself.

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <utility>

namespace rotor::net {

// Owns one file descriptor; closes it on destruction unless released.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// Size of the sockaddr inside `address` (by its family).
socklen_t address_length(const sockaddr_storage& address) noexcept;
uint16_t address_port(const sockaddr_storage& address) noexcept;
void set_address_port(sockaddr_storage& address, uint16_t port) noexcept;
bool is_wildcard_address(const sockaddr_storage& address) noexcept;

// "127.0.0.1:53" or "[::1]:53".
std::string format_endpoint(const sockaddr_storage& address);

// Opens a non-blocking SO_REUSEPORT socket of `type` (SOCK_DGRAM or
// SOCK_STREAM) bound to `address`; stream sockets are also put in listening
// state so that every bind/listen error surfaces here. v6 sockets are
// IPV6_V6ONLY. On failure returns an empty UniqueFd and sets `error` (errno).
UniqueFd open_listening_socket(const sockaddr_storage& address, int type, int& error) noexcept;

// True when nobody serves `address` (a fixed port) for `type`: a probe socket
// WITHOUT SO_REUSEPORT binds it and is closed again. A socket of another
// server (another rotor's SO_REUSEPORT group included) makes the bind fail
// with EADDRINUSE, which is returned in `error`, as is any other bind error.
// Stream probes set SO_REUSEADDR like the listeners do, so connections left
// in TIME_WAIT by a previous run never count as a server; a listening socket
// still does.
bool address_is_free(const sockaddr_storage& address, int type, int& error) noexcept;

}  // namespace rotor::net
