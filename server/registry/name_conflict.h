#pragma once
// Whether zone data already answers for a name an array would take. An array
// answers A and AAAA at its name; other types there come from the zone. So a
// CNAME at the name (RFC 2181 10.1: nothing beside a CNAME), static A or AAAA
// (the array would hide them without a word) or a DNAME above it (the name is
// rewritten, never looked up) makes the pair contradictory, and the registry
// refuses the array (ConflictError, HTTP 409); a zone reload that would create
// such a pair is refused and the old zones stay. At the apex, SOA, NS and the
// rest stay the zone's: an apex array is allowed. Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>

#include "zones/zone.h"

namespace rotor::registry {

// "web.lb.example.test. has a CNAME in zone lb.example.test." or nullopt when
// an array may live at `lower_wire_name` (which must be at or below `zone`'s
// origin).
std::optional<std::string> array_name_conflict(const zones::Zone& zone,
                                               std::string_view lower_wire_name);

// Arrays are answered unsigned, so in a signed (pre-signed) zone their
// answers would be bogus to validating resolvers: until rotor signs online,
// an array there is refused (a config error, an API 400 on the name, a zone
// reload that signs a zone with arrays in it). "web.example.test. is in zone
// example.test., which is signed: ..." or nullopt.
std::optional<std::string> array_signing_error(const zones::Zone& zone,
                                               std::string_view lower_wire_name);

}  // namespace rotor::registry
