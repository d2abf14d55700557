#pragma once
// Reads RFC 1035 master files with ldns into a Zone. Handles $ORIGIN, $TTL,
// $INCLUDE, relative names, "@", and every record type ldns knows (unknown
// types in RFC 3597 \# form too).

#include <memory>
#include <stdexcept>
#include <string>

#include "zones/zone.h"

namespace rotor::zones {

struct ZoneFileError : std::runtime_error {
  // what() reads "FILE:LINE: reason" (or "FILE: reason" when no line applies).
  ZoneFileError(const std::string& file, int line, const std::string& reason);
  std::string file;
  int line;
  std::string reason;
};

// Loads the zone in `path`. `origin` is the zone name in presentation form; when
// empty, the origin is the owner of the file's SOA record (which must then be
// the first record). Throws ZoneFileError.
std::shared_ptr<const Zone> load_zone_file(const std::string& path, const std::string& origin);

}  // namespace rotor::zones
