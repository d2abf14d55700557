#include "server/dns/edns.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace rotor::dns {

namespace {

size_t client_subnet_option_size(const ParsedQuery& query) noexcept {
  if (!query.has_client_subnet) return 0;
  return 4 + 4 + (size_t{query.client_subnet.source_prefix} + 7) / 8;
}

}  // namespace

size_t udp_reply_limit(const ParsedQuery& query, const EdnsSettings& settings) noexcept {
  if (!query.has_edns) return kMaxUdpNoEdns;
  return std::clamp<size_t>(query.edns_udp_size, kMaxUdpNoEdns,
                            std::max<size_t>(settings.udp_payload_size, kMaxUdpNoEdns));
}

bool answers_nsid(const ParsedQuery& query, const EdnsSettings& settings) noexcept {
  return query.wants_nsid && !settings.nsid.empty() && settings.nsid.size() <= kMaxNsidSize;
}

size_t opt_size(const ParsedQuery& query, const EdnsSettings& settings) noexcept {
  if (!query.has_edns) return 0;
  return 11 + (answers_nsid(query, settings) ? 4 + settings.nsid.size() : 0) +
         client_subnet_option_size(query);
}

size_t build_opt(uint8_t* opt, const ParsedQuery& query, const EdnsSettings& settings,
                 uint16_t rcode, uint8_t ecs_scope) noexcept {
  const bool nsid = answers_nsid(query, settings);
  const size_t ecs_size = client_subnet_option_size(query);
  const size_t rdlength = (nsid ? 4 + settings.nsid.size() : 0) + ecs_size;
  assert(11 + rdlength <= kMaxOptSize);
  opt[0] = 0;  // root owner
  write_u16(opt + 1, type::OPT);
  write_u16(opt + 3, settings.udp_payload_size);
  const uint32_t extended_rcode = static_cast<uint32_t>(rcode >> 4) << 24;
  // DO and CO (RFC 3225 3, RFC 9824 5.1) are echoed: we sign, and we answer compactly.
  write_u32(opt + 5, extended_rcode | (query.edns_do ? 0x8000u : 0u) | (query.edns_co ? 0x4000u : 0u));
  write_u16(opt + 9, static_cast<uint16_t>(rdlength));
  uint8_t* option = opt + 11;
  if (nsid) {
    write_u16(option, edns_option::NSID);
    write_u16(option + 2, static_cast<uint16_t>(settings.nsid.size()));
    std::memcpy(option + 4, settings.nsid.data(), settings.nsid.size());
    option += 4 + settings.nsid.size();
  }
  if (ecs_size > 0) {
    // RFC 7871 7.2.1: family, source prefix and address as asked, our scope.
    const ClientSubnet& subnet = query.client_subnet;
    write_u16(option, edns_option::CLIENT_SUBNET);
    write_u16(option + 2, static_cast<uint16_t>(ecs_size - 4));
    write_u16(option + 4, subnet.family);
    option[6] = subnet.source_prefix;
    option[7] = std::min(ecs_scope, subnet.family == 1 ? uint8_t{32} : uint8_t{128});
    std::memcpy(option + 8, subnet.address, ecs_size - 8);
  }
  return 11 + rdlength;
}

}  // namespace rotor::dns
