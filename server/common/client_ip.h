#pragma once
// The IP address of a DNS client's socket address, as every per-client policy
// looks at it (geo, sticky and rate limiting): IPv4, and IPv4-mapped IPv6
// (::ffff:a.b.c.d, what a dual-stack socket reports for an IPv4 peer), as
// family 4 with the address in bytes[0..3]; other IPv6 as family 6. One
// helper so that the responder and the rate limiter cannot disagree on who a
// client is. Pure, noexcept, allocation-free: the query path calls it.

#include <cstdint>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

namespace rotor {

struct ClientIp {
  uint8_t family = 0;  // 4 or 6; 0: no address (null, or another family)
  uint8_t bytes[16] = {};
};

inline ClientIp client_ip(const sockaddr* address) noexcept {
  ClientIp out;
  if (address == nullptr) return out;
  if (address->sa_family == AF_INET) {
    out.family = 4;
    std::memcpy(out.bytes, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, 4);
  } else if (address->sa_family == AF_INET6) {
    const uint8_t* bytes = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr.s6_addr;
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(bytes, kMappedPrefix, sizeof kMappedPrefix) == 0) {
      out.family = 4;
      std::memcpy(out.bytes, bytes + 12, 4);
    } else {
      out.family = 6;
      std::memcpy(out.bytes, bytes, 16);
    }
  }
  return out;
}

}  // namespace rotor
