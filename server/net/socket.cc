#include "server/net/socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rotor::net {

namespace {
constexpr int kListenBacklog = 1024;

bool enable(int fd, int level, int option) noexcept {
  const int on = 1;
  return setsockopt(fd, level, option, &on, sizeof on) == 0;
}
}  // namespace

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

socklen_t address_length(const sockaddr_storage& address) noexcept {
  return address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

uint16_t address_port(const sockaddr_storage& address) noexcept {
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
}

void set_address_port(sockaddr_storage& address, uint16_t port) noexcept {
  if (address.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6&>(address).sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in&>(address).sin_port = htons(port);
  }
}

bool is_wildcard_address(const sockaddr_storage& address) noexcept {
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    return IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr);
  }
  return reinterpret_cast<const sockaddr_in&>(address).sin_addr.s_addr == htonl(INADDR_ANY);
}

std::string format_endpoint(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, text,
              sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(address_port(address));
  }
  inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, text, sizeof text);
  return std::string(text) + ":" + std::to_string(address_port(address));
}

UniqueFd open_listening_socket(const sockaddr_storage& address, int type, int& error) noexcept {
  UniqueFd fd(::socket(address.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const bool ok = fd && enable(fd.get(), SOL_SOCKET, SO_REUSEPORT) &&
                  (type != SOCK_STREAM || enable(fd.get(), SOL_SOCKET, SO_REUSEADDR)) &&
                  (address.ss_family != AF_INET6 || enable(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY)) &&
                  ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address),
                         address_length(address)) == 0 &&
                  (type != SOCK_STREAM || ::listen(fd.get(), kListenBacklog) == 0);
  if (ok) return fd;
  error = errno;
  return {};
}

bool address_is_free(const sockaddr_storage& address, int type, int& error) noexcept {
  UniqueFd probe(::socket(address.ss_family, type | SOCK_CLOEXEC, 0));
  const bool ok = probe && (type != SOCK_STREAM || enable(probe.get(), SOL_SOCKET, SO_REUSEADDR)) &&
                  (address.ss_family != AF_INET6 || enable(probe.get(), IPPROTO_IPV6, IPV6_V6ONLY)) &&
                  ::bind(probe.get(), reinterpret_cast<const sockaddr*>(&address),
                         address_length(address)) == 0;
  if (ok) return true;
  error = errno;
  return false;
}

}  // namespace rotor::net
