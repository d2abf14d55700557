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
  if (family == 4) {
    // By hand, as inet_ntop would write it: glibc's inet_ntop formats IPv4
    // with sprintf, some 1,900 instructions a call, and the prober writes an
    // address into every HTTP check's Host header.
    char text[16];
    char* out = text;
    for (int i = 0; i < 4; ++i) {
      unsigned value = bytes[i];
      if (i > 0) *out++ = '.';
      if (value >= 100) *out++ = static_cast<char>('0' + value / 100);
      if (value >= 10) *out++ = static_cast<char>('0' + value / 10 % 10);
      *out++ = static_cast<char>('0' + value % 10);
    }
    return std::string(text, out);
  }
  char buffer[INET6_ADDRSTRLEN];
  const int af = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
  if (af == AF_UNSPEC || inet_ntop(af, bytes, buffer, sizeof buffer) == nullptr) return {};
  return buffer;
}

IpAddress IpAddress::unmapped() const {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (family != 6 || std::memcmp(bytes, kMappedPrefix, sizeof kMappedPrefix) != 0) return *this;
  IpAddress v4;
  v4.family = 4;
  std::memcpy(v4.bytes, bytes + 12, 4);
  return v4;
}

// RFC 6890's special-purpose registries, reduced to the addresses no DNS
// answer should send a client to. Link-local addresses only mean something on
// one link (and IPv6 ones need an interface), so RFC 3927 2.1 keeps them out
// of DNS.
std::string_view IpAddress::not_a_server() const {
  if (family == 4) {
    if (bytes[0] == 0) return "unspecified (0.0.0.0/8 means this host, never a destination)";
    if (bytes[0] == 255 && bytes[1] == 255 && bytes[2] == 255 && bytes[3] == 255) {
      return "the broadcast address";
    }
    if ((bytes[0] & 0xF0) == 0xE0) return "multicast (224.0.0.0/4)";
    if (bytes[0] == 169 && bytes[1] == 254) return "link-local (169.254.0.0/16)";
    return {};
  }
  if (family == 6) {
    static constexpr uint8_t kUnspecified[16] = {};
    if (std::memcmp(bytes, kUnspecified, 16) == 0) return "unspecified (::)";
    if (bytes[0] == 0xFF) return "multicast (ff00::/8)";
    if (bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80) return "link-local (fe80::/10)";
    return {};
  }
  return "not an IPv4 or IPv6 address";
}

}  // namespace rotor
