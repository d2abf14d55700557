#include "server/geo/geo.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <functional>
#include <numbers>
#include <set>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "server/geo/geoip.h"

namespace rotor::geo {

namespace {

// The rank matrix is regions² entries, built at config load and on every new
// label; 1024 regions keep it at 2 MiB and a rebuild well under a second.
constexpr size_t kMaxRegions = 1024;
constexpr uint16_t kUnranked = 0xFFFF;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

double radians(double degrees) { return degrees * (std::numbers::pi / 180.0); }

struct UnitVector {
  double x, y, z;
};

UnitVector unit_vector(double lat, double lon) noexcept {
  const double phi = radians(lat), lambda = radians(lon);
  return {std::cos(phi) * std::cos(lambda), std::cos(phi) * std::sin(lambda), std::sin(phi)};
}

// Great-circle distance in km on a spherical earth: plenty for ranking.
double haversine_km(double lat1, double lon1, double lat2, double lon2) noexcept {
  const double dlat = radians(lat2 - lat1);
  const double dlon = radians(lon2 - lon1);
  const double a =
      std::sin(dlat / 2) * std::sin(dlat / 2) +
      std::cos(radians(lat1)) * std::cos(radians(lat2)) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * 6371.0 * std::asin(std::sqrt(std::min(1.0, a)));
}

}  // namespace

struct RegionTable::Impl {
  std::vector<RegionSpec> regions;  // index = id; labels added later have no position
  std::unordered_map<std::string, uint16_t, StringHash, std::equal_to<>> ids;
  std::vector<uint16_t> ranks;  // ranks[from * size + to]
  // Positioned regions as points on the unit sphere: the nearest region is
  // the one with the largest dot product, which spares nearest() any trig
  // per region on the query path.
  std::vector<std::pair<UnitVector, uint16_t>> points;

  void add(std::string_view label) {
    if (ids.contains(label)) return;
    if (regions.size() >= kMaxRegions) {
      throw std::length_error("too many regions (at most " + std::to_string(kMaxRegions) + ")");
    }
    ids.emplace(std::string(label), static_cast<uint16_t>(regions.size()));
    regions.push_back(RegionSpec{std::string(label), std::nullopt, std::nullopt, {}});
  }

  bool positioned(size_t id) const { return regions[id].lat && regions[id].lon; }

  void build_ranks() {
    const size_t n = regions.size();
    points.clear();
    for (size_t id = 0; id < n; ++id) {
      if (positioned(id)) {
        points.emplace_back(unit_vector(*regions[id].lat, *regions[id].lon),
                            static_cast<uint16_t>(id));
      }
    }
    ranks.assign(n * n, kUnranked);
    std::vector<std::pair<double, uint16_t>> by_distance;
    for (size_t from = 0; from < n; ++from) {
      uint16_t* row = &ranks[from * n];
      row[from] = 0;
      uint16_t next = 1;
      for (const auto& label : regions[from].prefer) {
        const uint16_t to = ids.at(label);
        if (row[to] == kUnranked) row[to] = next++;
      }
      if (!positioned(from)) continue;
      by_distance.clear();
      for (size_t to = 0; to < n; ++to) {
        if (row[to] != kUnranked || !positioned(to)) continue;
        by_distance.emplace_back(haversine_km(*regions[from].lat, *regions[from].lon,
                                              *regions[to].lat, *regions[to].lon),
                                 static_cast<uint16_t>(to));
      }
      std::sort(by_distance.begin(), by_distance.end());
      // Regions at exactly the same distance share a rank, so they share load.
      for (size_t i = 0; i < by_distance.size(); ++i) {
        if (i > 0 && by_distance[i].first != by_distance[i - 1].first) ++next;
        row[by_distance[i].second] = next;
      }
    }
  }
};

std::shared_ptr<const RegionTable> RegionTable::build(const std::vector<RegionSpec>& specs) {
  auto impl = std::make_shared<Impl>();
  for (const auto& spec : specs) {
    if (spec.name.empty()) throw std::invalid_argument("empty region name");
    if (impl->ids.contains(spec.name)) {
      throw std::invalid_argument("duplicate region \"" + spec.name + "\"");
    }
    impl->add(spec.name);
    impl->regions.back() = spec;
  }
  // A preference may name a region that has no entry of its own: it gets an id.
  for (const auto& spec : specs) {
    for (const auto& label : spec.prefer) {
      if (label.empty()) throw std::invalid_argument("empty region name in prefer");
      impl->add(label);
    }
  }
  impl->build_ranks();
  auto table = std::make_shared<RegionTable>();
  table->impl_ = std::move(impl);
  return table;
}

std::shared_ptr<const RegionTable> RegionTable::with_label(std::string_view label) const {
  auto table = std::make_shared<RegionTable>(*this);
  if (impl_ != nullptr && impl_->ids.contains(label)) return table;
  auto impl = impl_ != nullptr ? std::make_shared<Impl>(*impl_) : std::make_shared<Impl>();
  impl->add(label);
  impl->build_ranks();
  table->impl_ = std::move(impl);
  return table;
}

uint16_t RegionTable::id(std::string_view label) const noexcept {
  if (impl_ == nullptr) return kNoRegion;
  const auto it = impl_->ids.find(label);
  return it == impl_->ids.end() ? kNoRegion : it->second;
}

const std::string& RegionTable::name(uint16_t id) const {
  if (impl_ == nullptr || id >= impl_->regions.size()) {
    throw std::out_of_range("no region with id " + std::to_string(id));
  }
  return impl_->regions[id].name;
}

size_t RegionTable::size() const noexcept { return impl_ == nullptr ? 0 : impl_->regions.size(); }

uint32_t RegionTable::rank(uint16_t from, uint16_t to) const noexcept {
  const size_t n = size();
  if (from >= n || to >= n) return kUnranked;
  return impl_->ranks[from * n + to];
}

uint16_t RegionTable::nearest(double lat, double lon) const noexcept {
  if (impl_ == nullptr) return kNoRegion;
  const UnitVector here = unit_vector(lat, lon);
  uint16_t best = kNoRegion;
  double best_dot = -2;
  for (const auto& [point, id] : impl_->points) {
    const double dot = here.x * point.x + here.y * point.y + here.z * point.z;
    if (dot > best_dot) {
      best = id;
      best_dot = dot;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------

namespace {

// An address as a 128-bit big-endian number; an IPv4 address fills the top 32
// bits, so masking to a prefix length works the same for both families.
struct Key {
  uint64_t hi = 0, lo = 0;
  auto operator<=>(const Key&) const = default;
};

uint64_t load_be64(const uint8_t* bytes) noexcept {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | bytes[i];
  return value;
}

Key key_of(const uint8_t bytes[16]) noexcept { return {load_be64(bytes), load_be64(bytes + 8)}; }

Key masked(Key key, unsigned length) noexcept {
  if (length == 0) return {};
  if (length < 64) return {key.hi & (~uint64_t{0} << (64 - length)), 0};
  if (length == 64) return {key.hi, 0};
  if (length < 128) return {key.hi, key.lo & (~uint64_t{0} << (128 - length))};
  return key;
}

bool is_v4_mapped(const uint8_t bytes[16]) noexcept {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes, kPrefix, sizeof kPrefix) == 0;
}

}  // namespace

struct NetworkTable::Impl {
  struct Entry {
    Key network;
    uint16_t region;
    bool operator<(const Entry& other) const { return network < other.network; }
  };
  struct Level {
    uint8_t length;
    std::vector<Entry> entries;  // sorted by network
  };
  // Per family, longest prefix first. IPv4 networks sit in the top 32 bits.
  std::vector<Level> v4, v6;

  // The scope (Match::prefix) says which addresses share the answer. With
  // every network no longer than the client's prefix, a match holds for its
  // network and a miss for every address sharing the longest length tried.
  // A network longer than the client's prefix (an ECS /16 when the table has
  // /24s) may lie inside that prefix, so then neither holds for more than the
  // client's own prefix: claiming /8 for a /16 source, or 0 ("everyone") for
  // a miss, would let a resolver give this answer to clients of that network.
  static Match find(const std::vector<Level>& levels, Key key, unsigned limit) noexcept {
    assert(std::is_sorted(levels.begin(), levels.end(),
                          [](const Level& a, const Level& b) { return a.length > b.length; }));
    Match miss;
    bool first = true;
    bool longer_skipped = false;
    for (const auto& level : levels) {
      if (level.length > limit) {
        longer_skipped = true;
        continue;
      }
      if (first) miss.prefix = level.length;
      first = false;
      const Entry probe{masked(key, level.length), 0};
      const auto it = std::lower_bound(level.entries.begin(), level.entries.end(), probe);
      if (it != level.entries.end() && it->network == probe.network) {
        return Match{it->region, longer_skipped ? static_cast<uint8_t>(limit) : level.length};
      }
    }
    if (longer_skipped) miss.prefix = static_cast<uint8_t>(limit);
    return miss;
  }
};

namespace {

[[noreturn]] void bad_cidr(const std::string& cidr, std::string_view why = {}) {
  std::string message = "bad CIDR \"" + cidr + "\"";
  if (!why.empty()) message.append(" (").append(why).append(")");
  throw std::invalid_argument(message);
}

}  // namespace

std::optional<std::string> canonical_cidr(std::string_view cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto address = IpAddress::parse(cidr.substr(0, slash));
  const std::string_view digits = cidr.substr(slash + 1);
  if (!address || digits.empty() || digits.size() > 3) return std::nullopt;
  unsigned length = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    length = length * 10 + static_cast<unsigned>(c - '0');
  }
  if (length > (address->family == 4 ? 32u : 128u)) return std::nullopt;
  return address->to_string() + "/" + std::to_string(length);
}

std::shared_ptr<const NetworkTable> NetworkTable::build(const std::vector<NetworkSpec>& specs,
                                                        const RegionTable& regions) {
  auto impl = std::make_shared<Impl>();
  std::set<std::tuple<uint8_t, unsigned, Key>> seen;
  for (const auto& spec : specs) {
    const auto slash = spec.cidr.find('/');
    if (slash == std::string::npos) bad_cidr(spec.cidr, "missing /length");
    const auto address = IpAddress::parse(std::string_view(spec.cidr).substr(0, slash));
    if (!address) bad_cidr(spec.cidr);
    const std::string_view digits = std::string_view(spec.cidr).substr(slash + 1);
    const unsigned width = address->family == 4 ? 32 : 128;
    unsigned length = 0;
    if (digits.empty() || digits.size() > 3) bad_cidr(spec.cidr);
    for (const char c : digits) {
      if (c < '0' || c > '9') bad_cidr(spec.cidr);
      length = length * 10 + static_cast<unsigned>(c - '0');
    }
    if (length > width) bad_cidr(spec.cidr, "prefix length too long");

    uint8_t bytes[16] = {};
    std::memcpy(bytes, address->bytes, address->family == 4 ? 4 : 16);
    const Key network = key_of(bytes);
    if (masked(network, length) != network)
      bad_cidr(spec.cidr, "address has bits set past the prefix");

    const uint16_t region = regions.id(spec.region);
    if (region == kNoRegion) {
      throw std::invalid_argument("unknown region \"" + spec.region + "\"");
    }

    if (!seen.emplace(address->family, length, network).second) {
      throw std::invalid_argument("duplicate network \"" + spec.cidr + "\"");
    }
    auto& levels = address->family == 4 ? impl->v4 : impl->v6;
    auto level = std::find_if(levels.begin(), levels.end(),
                              [&](const auto& l) { return l.length == length; });
    if (level == levels.end()) {
      levels.push_back(Impl::Level{static_cast<uint8_t>(length), {}});
      level = std::prev(levels.end());
    }
    level->entries.push_back(Impl::Entry{network, region});
  }
  for (auto* levels : {&impl->v4, &impl->v6}) {
    std::sort(levels->begin(), levels->end(),
              [](const auto& a, const auto& b) { return a.length > b.length; });
    for (auto& level : *levels) {
      std::sort(level.entries.begin(), level.entries.end());
    }
  }
  auto table = std::make_shared<NetworkTable>();
  table->impl_ = std::move(impl);
  return table;
}

NetworkTable::Match NetworkTable::lookup(const ClientAddress& client) const noexcept {
  if (impl_ == nullptr) return {};
  if (client.family == 4) {
    uint8_t bytes[16] = {};
    std::memcpy(bytes, client.bytes, 4);
    return Impl::find(impl_->v4, key_of(bytes), std::min<unsigned>(client.prefix, 32));
  }
  if (client.family == 6) {
    // An IPv4-mapped source (a dual-stack socket) is an IPv4 client.
    if (is_v4_mapped(client.bytes) && client.prefix >= 96) {
      uint8_t bytes[16] = {};
      std::memcpy(bytes, client.bytes + 12, 4);
      Match match =
          Impl::find(impl_->v4, key_of(bytes), std::min<unsigned>(client.prefix, 128) - 96);
      match.prefix = static_cast<uint8_t>(match.prefix + 96);
      return match;
    }
    return Impl::find(impl_->v6, key_of(client.bytes), std::min<unsigned>(client.prefix, 128));
  }
  return {};
}

// ---------------------------------------------------------------------------

ClientLocation GeoContext::locate(const ClientAddress& client) const noexcept {
  if (client.family != 4 && client.family != 6) return {};
  const uint8_t width = client.family == 4 ? 32 : 128;
  const uint8_t significant = std::min(client.prefix, width);

  NetworkTable::Match network;
  if (networks != nullptr) {
    network = networks->lookup(client);
    if (network.region != kNoRegion) return {network.region, network.prefix};
  }
  // Past here the answer is the one for "not in the networks table", which is
  // true for everything sharing network.prefix bits with the client.
  if (geoip != nullptr && regions != nullptr) {
    if (const auto position = geoip->lookup(client)) {
      const uint16_t region = regions->nearest(position->latitude, position->longitude);
      const uint8_t scope = std::min(std::max(position->prefix, network.prefix), significant);
      return {region, scope};
    }
    // Not in the database: neighbours might be, so the answer is for this client alone.
    return {kNoRegion, significant};
  }
  return {kNoRegion, network.prefix};
}

}  // namespace rotor::geo
