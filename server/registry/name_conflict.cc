#include "server/registry/name_conflict.h"

#include "server/dns/wire.h"
#include "zones/dnssec.h"

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
  // In a zone rotor signs, the NSEC of a wildcard's parent P covers
  // "\000.P" when the zone has nothing there (zones/dnssec.h,
  // zero_child_covered); it is made with the zone and would deny an array at
  // or below "\000.P" (or the empty non-terminal it makes there) to validators.
  if (zone.denial() == zones::Zone::Denial::compact) {
    for (std::string_view at = lower_wire_name; at.size() > zone.origin().size();
         at.remove_prefix(dns::parent_offset(at))) {
      if (at.size() < 3 || at[0] != 1 || at[1] != 0) continue;
      const std::string_view parent = at.substr(2);
      if (zones::zero_child_covered(zone, parent)) {
        return name + " is at or below " + zones::name_to_text(at) + ", which the NSEC of " +
               zones::name_to_text(parent) + " (a wildcard's parent) denies" + in_zone;
      }
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
