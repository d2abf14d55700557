#pragma once
// An optional MaxMind (GeoIP2/GeoLite2 City, or any .mmdb with
// location.latitude/longitude) database: client address -> coordinates. Opened
// once at config load; lookups are noexcept, lock-free and allocate nothing
// (the file is memory-mapped and the lookup walks it in place).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "server/geo/geo.h"

struct MMDB_s;

namespace rotor::geo {

struct Coordinates {
  double latitude = 0;
  double longitude = 0;
  // Prefix length of the database network that holds the address, in the
  // client's own family (an IPv4 address in an IPv6 database reports /0../32).
  uint8_t prefix = 0;
};

class GeoIpDatabase {
 public:
  // Opens and maps `path`. Throws std::runtime_error naming the file and
  // libmaxminddb's reason when it cannot be opened or is not a MaxMind DB.
  explicit GeoIpDatabase(const std::string& path);
  ~GeoIpDatabase();
  GeoIpDatabase(const GeoIpDatabase&) = delete;
  GeoIpDatabase& operator=(const GeoIpDatabase&) = delete;

  // The location of `client` (only its address; the ECS prefix is not used),
  // or nullopt when the address is not in the database, the record has no
  // coordinates, or the family is unknown.
  std::optional<Coordinates> lookup(const ClientAddress& client) const noexcept;

  const std::string& path() const noexcept { return path_; }

 private:
  struct Close {
    void operator()(MMDB_s* db) const noexcept;
  };
  std::unique_ptr<MMDB_s, Close> db_;
  std::string path_;
};

}  // namespace rotor::geo
