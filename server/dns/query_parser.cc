#include "server/dns/query_parser.h"

namespace rotor::dns {

namespace {

// RFC 7871 6: FORMERR for a family we do not know, a prefix longer than the
// family allows, a non-zero scope in a query, an address longer than the
// prefix needs, or bits set beyond the prefix.
bool parse_client_subnet(const uint8_t* data, size_t size, ClientSubnet& out) noexcept {
  if (size < 4) return false;
  const uint16_t family = read_u16(data);
  const uint8_t source = data[2];
  const uint8_t scope = data[3];
  const size_t max_bits = family == 1 ? 32 : family == 2 ? 128 : 0;
  if (max_bits == 0 || source > max_bits || scope != 0) return false;
  const size_t address_size = size - 4;
  if (address_size != (size_t{source} + 7) / 8) return false;
  if (address_size > 0 && source % 8 != 0) {
    const uint8_t last = data[4 + address_size - 1];
    if (last & static_cast<uint8_t>(0xFF >> (source % 8))) return false;
  }
  out = {};
  out.family = family;
  out.source_prefix = source;
  std::memcpy(out.address, data + 4, address_size);
  return true;
}

bool parse_opt(const uint8_t* rdata, size_t rdlength, ParsedQuery& out) noexcept {
  size_t pos = 0;
  while (pos < rdlength) {
    if (rdlength - pos < 4) return false;
    const uint16_t code = read_u16(rdata + pos);
    const uint16_t length = read_u16(rdata + pos + 2);
    pos += 4;
    if (rdlength - pos < length) return false;
    if (code == edns_option::NSID) {
      out.wants_nsid = true;  // a query's NSID option is empty (RFC 5001 2.1); we do not insist
    } else if (code == edns_option::CLIENT_SUBNET) {
      if (out.has_client_subnet) return false;
      if (!parse_client_subnet(rdata + pos, length, out.client_subnet)) return false;
      out.has_client_subnet = true;
    }
    pos += length;
  }
  return true;
}

}  // namespace

ParseStatus parse_query(const uint8_t* message, size_t size, ParsedQuery& out,
                        bool& question_parsed) noexcept {
  question_parsed = false;
  if (size < kHeaderSize) return ParseStatus::drop;
  out.id = read_u16(message);
  out.flags = read_u16(message + 2);
  if (out.flags & flag::QR) return ParseStatus::drop;
  if (out.opcode() != opcode::QUERY) return ParseStatus::notimp;

  const uint16_t qdcount = read_u16(message + 4);
  const uint16_t ancount = read_u16(message + 6);
  const uint16_t nscount = read_u16(message + 8);
  const uint16_t arcount = read_u16(message + 10);
  if (qdcount != 1) return ParseStatus::formerr;

  size_t pos = kHeaderSize;
  if (!read_name(message, size, pos, out.qname, false)) return ParseStatus::formerr;
  if (size - pos < 4) return ParseStatus::formerr;
  out.qtype = read_u16(message + pos);
  out.qclass = read_u16(message + pos + 2);
  pos += 4;
  // Only the name's bytes: a copy of the whole WireName moved 257.
  out.qname_lower.size = out.qname.size;
  out.qname_lower.labels = out.qname.labels;
  copy_lowercase_name(out.qname.bytes, out.qname_lower.bytes, out.qname.size);
  question_parsed = true;
  if (out.qtype == type::OPT) return ParseStatus::formerr;

  const size_t records = size_t{ancount} + nscount + arcount;
  WireName scratch;
  for (size_t i = 0; i < records; ++i) {
    if (!read_name(message, size, pos, scratch, false)) return ParseStatus::formerr;
    if (size - pos < 10) return ParseStatus::formerr;
    const uint16_t rrtype = read_u16(message + pos);
    const uint16_t rrclass = read_u16(message + pos + 2);
    const uint32_t ttl = read_u32(message + pos + 4);
    const uint16_t rdlength = read_u16(message + pos + 8);
    pos += 10;
    if (size - pos < rdlength) return ParseStatus::formerr;
    if (rrtype == type::OPT) {
      // RFC 6891 6.1.1: one OPT, owned by the root, in the additional section.
      const bool in_additional = i >= size_t{ancount} + nscount;
      if (out.has_edns || !in_additional || scratch.size != 1) return ParseStatus::formerr;
      out.has_edns = true;
      out.edns_udp_size = rrclass < kMaxUdpNoEdns ? kMaxUdpNoEdns : rrclass;
      out.edns_version = static_cast<uint8_t>(ttl >> 16);
      out.edns_do = (ttl & 0x8000) != 0;
      out.edns_co = (ttl & 0x4000) != 0;
      if (!parse_opt(message + pos, rdlength, out)) return ParseStatus::formerr;
    }
    pos += rdlength;
  }
  return ParseStatus::ok;
}

}  // namespace rotor::dns
