#pragma once
// A zone declared in the config with only a name and its name servers, for
// operators who want rotor to serve the arrays' parent zone without writing a
// zone file. The zone holds an SOA, the NS records and the addresses of the
// name servers that lie inside it; the arrays are added by the answerer.

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "zones/zone.h"

namespace rotor::registry {

struct NameServerSpec {
  std::string name;                    // "ns1.lb.example.com."
  std::vector<std::string> addresses;  // glue; used only when the name is inside the zone
};

struct SyntheticZoneSpec {
  std::string name;                          // "lb.example.com."
  std::vector<NameServerSpec> name_servers;  // at least one; the first is the SOA MNAME
};

struct SyntheticZoneError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Builds the zone: SOA (MNAME the first name server, RNAME hostmaster.<zone>,
// `serial`, refresh 3600, retry 600, expire 604800, minimum 60; TTL 3600), NS
// and A/AAAA for in-zone name servers, all with TTL 3600. Throws
// SyntheticZoneError naming the zone for a bad name or address, no name
// servers, or an in-zone name server without an address.
std::shared_ptr<const zones::Zone> build_synthetic_zone(const SyntheticZoneSpec& spec,
                                                        uint32_t serial);

}  // namespace rotor::registry
