#include "server/geo/geoip.h"

#include <maxminddb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <stdexcept>

namespace rotor::geo {

void GeoIpDatabase::Close::operator()(MMDB_s* db) const noexcept {
  MMDB_close(db);
  delete db;
}

GeoIpDatabase::GeoIpDatabase(const std::string& path) : path_(path) {
  auto db = std::make_unique<MMDB_s>();
  const int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, db.get());
  if (status != MMDB_SUCCESS) {
    // MMDB_open cleans up after itself on failure, so the handle is just freed.
    throw std::runtime_error("cannot open GeoIP database \"" + path +
                             "\": " + MMDB_strerror(status));
  }
  db_.reset(db.release());
}

GeoIpDatabase::~GeoIpDatabase() = default;

namespace {

// MMDB_get_value takes a varargs path and callocs an array for it; the array
// form reads a path we own, so a lookup never touches the heap.
constexpr const char* kLatitudePath[] = {"location", "latitude", nullptr};
constexpr const char* kLongitudePath[] = {"location", "longitude", nullptr};

bool read_double(MMDB_entry_s& entry, const char* const* path, double& value) noexcept {
  MMDB_entry_data_s data;
  if (MMDB_aget_value(&entry, &data, path) != MMDB_SUCCESS) return false;
  if (!data.has_data || data.type != MMDB_DATA_TYPE_DOUBLE) return false;
  value = data.double_value;
  return true;
}

}  // namespace

std::optional<Coordinates> GeoIpDatabase::lookup(const ClientAddress& client) const noexcept {
  sockaddr_storage storage{};
  if (client.family == 4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, client.bytes, 4);
  } else if (client.family == 6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
    sin6->sin6_family = AF_INET6;
    std::memcpy(&sin6->sin6_addr, client.bytes, 16);
  } else {
    return std::nullopt;
  }

  int error = MMDB_SUCCESS;
  MMDB_lookup_result_s result =
      MMDB_lookup_sockaddr(db_.get(), reinterpret_cast<const sockaddr*>(&storage), &error);
  if (error != MMDB_SUCCESS || !result.found_entry) return std::nullopt;

  Coordinates coordinates;
  if (!read_double(result.entry, kLatitudePath, coordinates.latitude) ||
      !read_double(result.entry, kLongitudePath, coordinates.longitude)) {
    return std::nullopt;
  }
  // In an IPv6 database IPv4 lives under ::/96, and the netmask counts those bits.
  unsigned netmask = result.netmask;
  if (client.family == 4 && db_->metadata.ip_version == 6)
    netmask = netmask >= 96 ? netmask - 96 : 0;
  const unsigned width = client.family == 4 ? 32 : 128;
  coordinates.prefix = static_cast<uint8_t>(netmask > width ? width : netmask);
  return coordinates;
}

}  // namespace rotor::geo
