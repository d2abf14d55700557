#include "server/registry/name_conflict.h"

#include "server/dns/wire.h"

namespace rotor::registry {

std::optional<std::string> array_name_conflict(const zones::Zone& zone,
                                               std::string_view lower_wire_name) {
  const std::string name = zones::name_to_text(lower_wire_name);
  const std::string in_zone = " in zone " + zone.origin_text();
  if (const zones::Node* node = zone.find(lower_wire_name)) {
    if (node->find(dns::type::CNAME)) return name + " has a CNAME" + in_zone;
    if (node->find(dns::type::A)) return name + " has static A records" + in_zone;
    if (node->find(dns::type::AAAA)) return name + " has static AAAA records" + in_zone;
  }
  // Names below a DNAME are rewritten before any lookup (RFC 6672 2.3).
  std::string_view above = lower_wire_name;
  while (above.size() > zone.origin().size()) {
    above.remove_prefix(dns::parent_offset(above));
    const zones::Node* node = zone.find(above);
    if (node != nullptr && node->find(dns::type::DNAME)) {
      return name + " is below the DNAME at " + zones::name_to_text(above) + in_zone;
    }
  }
  return std::nullopt;
}

std::optional<std::string> array_signing_error(const zones::Zone& zone,
                                               std::string_view lower_wire_name) {
  // A zone rotor signs online signs its arrays' answers too (signed_arrays.h).
  if (!zone.is_signed() || zone.online_signer() != nullptr) return std::nullopt;
  return zones::name_to_text(lower_wire_name) + " is in zone " + zone.origin_text() +
         ", which is signed by its zone file (DNSSEC signatures, no dnssec.keys): rotor signs "
         "array answers only in zones it signs itself, so arrays cannot be in a pre-signed zone";
}

}  // namespace rotor::registry
