#include "server/common/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace rotor {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton wants a C string; the longest textual address is INET6_ADDRSTRLEN - 1.
  char buffer[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';

  IpAddress address;
  // glibc's inet_pton accepts only the strict dotted quad for IPv4 (no octal,
  // no short forms), which is what we want from an operator.
  if (inet_pton(AF_INET, buffer, address.bytes) == 1) {
    address.family = 4;
    return address;
  }
  if (inet_pton(AF_INET6, buffer, address.bytes) == 1) {
    address.family = 6;
    return address;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN];
  const int af = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  if (af == AF_UNSPEC || inet_ntop(af, bytes, buffer, sizeof buffer) == nullptr) return {};
  return buffer;
}

}  // namespace rotor
