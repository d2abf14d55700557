#pragma once
// Whether zone data already answers for a name an array would take. An array
// answers A and AAAA at its name; other types there come from the zone. So a
// CNAME at the name (RFC 2181 10.1: nothing beside a CNAME), static A or AAAA
// (the array would hide them without a word) or a DNAME above it (the name is
// rewritten, never looked up), or, in a zone rotor signs, a wildcard's parent
// P whose NSEC covers "\000.P" (an array at or below "\000.P" would be denied
// by it, zones/dnssec.h) makes the pair contradictory, and the registry
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

// A zone signed by its zone file (pre-signed, no dnssec.keys) gives rotor no
// key for its arrays' answers, which validators would then find bogus: an
// array there is refused (a config error, an API 400 on the name, a zone
// reload that pre-signs a zone with arrays in it). Arrays in a zone rotor
// signs online are fine: their answers are signed (signed_arrays.h).
// "web.example.test. is in zone example.test., which is signed by its zone
// file ..." or nullopt.
std::optional<std::string> array_signing_error(const zones::Zone& zone,
                                               std::string_view lower_wire_name);

}  // namespace rotor::registry
