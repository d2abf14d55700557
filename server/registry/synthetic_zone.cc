#include "server/registry/synthetic_zone.h"

#include <algorithm>
#include <cctype>

#include "server/arrays/array.h"
#include "server/dns/wire.h"

namespace rotor::registry {

namespace {

constexpr uint32_t kTtl = 3600;
constexpr uint32_t kRefresh = 3600, kRetry = 600, kExpire = 604800, kMinimum = 60;

std::string lower_wire(std::string_view text, const std::string& zone, const char* what) {
  auto wire = zones::lower_name_from_text(text);
  if (!wire)
    throw SyntheticZoneError("zone " + zone + ": " + what + " '" + std::string(text) +
                             "' is not a valid name");
  return *wire;
}

// True when `name` equals `origin` or lies below it, label by label.
bool at_or_below(std::string_view name, std::string_view origin) {
  while (name.size() > origin.size()) {
    name.remove_prefix(static_cast<uint8_t>(name[0]) + 1u);
  }
  return name == origin;
}

void append_u32(std::string& out, uint32_t value) {
  uint8_t bytes[4];
  dns::write_u32(bytes, value);
  out.append(reinterpret_cast<const char*>(bytes), 4);
}

void add(zones::ZoneBuilder& builder, const std::string& zone, std::string_view owner,
         uint16_t type, std::string_view rdata) {
  if (auto error = builder.add(owner, type, dns::rrclass::IN, kTtl, rdata)) {
    throw SyntheticZoneError("zone " + zone + ": " + *error);
  }
}

}  // namespace

std::shared_ptr<const zones::Zone> build_synthetic_zone(const SyntheticZoneSpec& spec,
                                                        uint32_t serial) {
  const std::string& zone = spec.name;
  const std::string origin = lower_wire(spec.name, zone, "name");
  if (spec.name_servers.empty()) throw SyntheticZoneError("zone " + zone + ": no name servers");

  zones::ZoneBuilder builder(origin);
  const std::string mname = lower_wire(spec.name_servers.front().name, zone, "name server");
  std::string soa = mname;
  soa += lower_wire("hostmaster", zone, "name");
  soa.pop_back();  // drop the root label: the zone's origin follows
  soa += origin;
  for (const uint32_t field : {serial, kRefresh, kRetry, kExpire, kMinimum}) {
    append_u32(soa, field);
  }
  add(builder, zone, origin, dns::type::SOA, soa);

  for (const NameServerSpec& server : spec.name_servers) {
    const std::string name = lower_wire(server.name, zone, "name server");
    add(builder, zone, origin, dns::type::NS, name);
    if (!at_or_below(name, origin)) continue;  // out of zone: no glue to serve
    if (server.addresses.empty()) {
      throw SyntheticZoneError("zone " + zone + ": name server " + server.name +
                               " is inside the zone and needs an address");
    }
    for (const std::string& text : server.addresses) {
      const auto address = arrays::IpAddress::parse(text);
      if (!address) {
        throw SyntheticZoneError("zone " + zone + ": name server " + server.name + " address '" +
                                 text + "' is not an IP address");
      }
      const size_t size = address->family == 4 ? 4 : 16;
      add(builder, zone, name, address->family == 4 ? dns::type::A : dns::type::AAAA,
          std::string_view(reinterpret_cast<const char*>(address->bytes), size));
    }
  }

  std::shared_ptr<const zones::Zone> built;
  if (auto error = builder.finish(built)) throw SyntheticZoneError("zone " + zone + ": " + *error);
  return built;
}

}  // namespace rotor::registry
