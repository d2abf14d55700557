#pragma once
// DNS wire-format primitives (RFC 1035 section 4): header fields, names, and
// the constants the rest of rotor speaks. Nothing here allocates or throws,
// so the query path can use all of it.

#include <cassert>
#include <cstddef>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace rotor::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameLength = 255;   // RFC 1035 2.3.4, wire form
inline constexpr size_t kMaxLabelLength = 63;
inline constexpr size_t kMaxUdpNoEdns = 512;
inline constexpr size_t kMaxMessage = 65535;

namespace type {
inline constexpr uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, HINFO = 13, MX = 15,
                          TXT = 16, AAAA = 28, SRV = 33, DNAME = 39, OPT = 41, DS = 43,
                          RRSIG = 46, NSEC = 47, DNSKEY = 48, NSEC3 = 50, NSEC3PARAM = 51, IXFR = 251, AXFR = 252,
                          MAILB = 253, MAILA = 254, ANY = 255;
}
namespace rrclass {
inline constexpr uint16_t IN = 1, CH = 3, NONE = 254, ANY = 255;
}
namespace rcode {
inline constexpr uint16_t NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4,
                          REFUSED = 5, YXDOMAIN = 6, BADVERS = 16;
}
// The reply codes rotor names, in one table for every place that shows one
// (the explain API's "rcode", the rcode label of rotor_dns_responses_total);
// any other code is shown by its number (explain) or as "other" (metrics).
struct RcodeName {
  uint16_t rcode;
  std::string_view name;
};
inline constexpr std::array<RcodeName, 8> kRcodeNames{{{rcode::NOERROR, "NOERROR"},
                                                       {rcode::FORMERR, "FORMERR"},
                                                       {rcode::SERVFAIL, "SERVFAIL"},
                                                       {rcode::NXDOMAIN, "NXDOMAIN"},
                                                       {rcode::NOTIMP, "NOTIMP"},
                                                       {rcode::REFUSED, "REFUSED"},
                                                       {rcode::YXDOMAIN, "YXDOMAIN"},
                                                       {rcode::BADVERS, "BADVERS"}}};
// The position of `code` in kRcodeNames, or kRcodeNames.size() when unnamed.
constexpr size_t rcode_position(uint16_t code) noexcept {
  size_t position = 0;
  while (position < kRcodeNames.size() && kRcodeNames[position].rcode != code) ++position;
  return position;
}
// The name of `code`, or its number as text.
std::string rcode_name(uint16_t code);

namespace opcode {
inline constexpr uint8_t QUERY = 0;
}
namespace edns_option {
inline constexpr uint16_t NSID = 3, CLIENT_SUBNET = 8, COOKIE = 10;
}

// Header flag bits in the 16-bit flags word (RFC 1035 4.1.1).
namespace flag {
inline constexpr uint16_t QR = 0x8000, AA = 0x0400, TC = 0x0200, RD = 0x0100, RA = 0x0080,
                          AD = 0x0020, CD = 0x0010;
}

inline uint16_t read_u16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t read_u32(const uint8_t* p) noexcept {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline void write_u16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void write_u32(uint8_t* p, uint32_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Appending to a growing buffer (off the query path: signing, canonical forms).
inline void append_u16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}
inline void append_u32(std::string& out, uint32_t v) {
  append_u16(out, static_cast<uint16_t>(v >> 16));
  append_u16(out, static_cast<uint16_t>(v & 0xffff));
}

inline uint8_t ascii_lower(uint8_t c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + 32) : c;
}

// An uncompressed wire-format name on the stack: length-prefixed labels
// ending with the root label. `size` counts every byte including the root.
struct WireName {
  uint8_t size = 0;
  uint8_t labels = 0;  // not counting the root
  uint8_t bytes[kMaxNameLength];

  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(bytes), size};
  }
};

// Reads a possibly compressed name at `offset` in `packet`. On success stores
// it (lower-cased when `lowercase`), advances `offset` past the name as it
// stands in the packet, and returns true. Rejects pointer loops, forward or
// self pointers, labels over 63 bytes, names over 255 bytes, and reserved
// label types.
bool read_name(const uint8_t* packet, size_t packet_size, size_t& offset, WireName& out,
               bool lowercase) noexcept;

// The lowering of wire names (RFC 4343: ASCII letters only) that the
// two below share: `size` bytes at `from` into `to` (`from` itself, in
// place, is fine), every byte 'A'..'Z' becoming 'a'..'z', eight at a time.
// In a wire name only the labels' letters change, as no length byte (< 64)
// is a letter.
void copy_lowercase_name(const uint8_t* from, uint8_t* to, size_t size) noexcept;
// Lower-cases the wire name of `size` bytes at `name` in place.
void lowercase_name(uint8_t* name, size_t size) noexcept;
// A lower-cased copy of a wire name: for names kept as strings.
std::string lowercase_name(std::string_view name);

// Length of the uncompressed wire name at the start of `name`, or 0 if it is
// not a well-formed name within `limit` bytes.
size_t name_length(const uint8_t* name, size_t limit) noexcept;

// Offset of the parent of the wire name `name` (skips the first label).
// The root name has no parent: callers check for size 1 first.
inline size_t parent_offset(std::string_view name) noexcept {
  assert(name.size() > 1 && static_cast<uint8_t>(name[0]) + 1u < name.size());
  return static_cast<size_t>(static_cast<uint8_t>(name[0])) + 1;
}

// True when `name` equals `ancestor` or lies below it; both lower-case wire.
bool is_subdomain(std::string_view name, std::string_view ancestor) noexcept;

// Number of labels of a wire name, not counting the root.
unsigned label_count(std::string_view name) noexcept;

// DNAME substitution (RFC 6672 2.2): `name` with its suffix `owner` replaced by
// `target`, all wire names, `name` at or below `owner` in the same case. Stores
// the result in `out` and returns true; returns false, `out` untouched, when
// the result would pass 255 octets (the answer is then YXDOMAIN).
bool substitute_dname(std::string_view name, std::string_view owner, std::string_view target,
                      WireName& out) noexcept;

}  // namespace rotor::dns
