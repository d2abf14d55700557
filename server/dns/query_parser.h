#pragma once
// Parses an incoming query: header, the one question, and the EDNS OPT record
// (RFC 6891) with the options rotor acts on (NSID, Client Subnet). Everything
// else in the message is walked only to check it is well-formed.

#include <cstddef>
#include <cstdint>

#include "server/dns/wire.h"

namespace rotor::dns {

struct ClientSubnet {
  uint16_t family = 0;          // 1 = IPv4, 2 = IPv6
  uint8_t source_prefix = 0;
  uint8_t address[16] = {};     // zero beyond the prefix
};

struct ParsedQuery {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  WireName qname;        // as the client sent it
  WireName qname_lower;  // for lookups

  bool has_edns = false;
  uint16_t edns_udp_size = 0;
  uint8_t edns_version = 0;
  bool edns_do = false;
  bool edns_co = false;  // Compact Answers OK (RFC 9824 5.1): NXDOMAIN for compact denial
  bool wants_nsid = false;
  bool has_client_subnet = false;
  ClientSubnet client_subnet;

  uint8_t opcode() const noexcept { return static_cast<uint8_t>((flags >> 11) & 0xF); }
};

enum class ParseStatus : uint8_t {
  ok,
  drop,     // no reply: header too short, or QR set (a response sent to us)
  formerr,  // reply FORMERR; `id` and `flags` are valid, the question maybe not
  notimp,   // opcode other than QUERY; `id` and `flags` are valid
};

// `question_parsed` tells, for formerr, whether the question may be echoed.
ParseStatus parse_query(const uint8_t* message, size_t size, ParsedQuery& out,
                        bool& question_parsed) noexcept;

}  // namespace rotor::dns
