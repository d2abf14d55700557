#pragma once
// EDNS in replies (RFC 6891): the payload size a UDP reply may use and the OPT
// record that ends the reply, with NSID (RFC 5001) when the client asked and
// the server has one, and Client Subnet (RFC 7871) echoed with the answer's
// scope. Pure functions over the parsed query: no allocation, no exceptions,
// safe from any thread.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/dns/query_parser.h"

namespace rotor::dns {

// An NSID longer than this is not answered (it would not fit kMaxOptSize).
inline constexpr size_t kMaxNsidSize = 255;
// The largest OPT record build_opt writes: fixed part, NSID, Client Subnet.
inline constexpr size_t kMaxOptSize = 11 + 4 + kMaxNsidSize + 4 + 4 + 16;

// What the server says in its OPT records.
struct EdnsSettings {
  std::string_view nsid;      // RFC 5001 payload; empty: NSID is not answered
  uint16_t udp_payload_size;  // advertised, and the most a UDP reply may use
};

// The most a UDP reply to `query` may hold: 512 without EDNS (RFC 1035 4.2.1),
// else the client's payload size within [512, max(ours, 512)].
size_t udp_reply_limit(const ParsedQuery& query, const EdnsSettings& settings) noexcept;

// Whether the reply carries our NSID: the client asked and we have one that fits.
bool answers_nsid(const ParsedQuery& query, const EdnsSettings& settings) noexcept;

// Size of the OPT record build_opt will write for `query`; 0 without EDNS.
// The answerer reserves it before writing records.
size_t opt_size(const ParsedQuery& query, const EdnsSettings& settings) noexcept;

// Writes the OPT record (RFC 6891 6.1.2) for a reply with `rcode` (its upper
// bits go in the extended rcode) into `opt`, which holds kMaxOptSize bytes,
// and returns its size, opt_size(query, settings). `ecs_scope` is the RFC 7871
// scope prefix of the answer, capped to the family's address length.
size_t build_opt(uint8_t* opt, const ParsedQuery& query, const EdnsSettings& settings,
                 uint16_t rcode, uint8_t ecs_scope) noexcept;

}  // namespace rotor::dns
