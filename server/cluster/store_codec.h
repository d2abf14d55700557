#pragma once
// The keys and JSON values of the cluster's data in etcd (DESIGN.md, "Keys"),
// relative to the prefix: the one place that knows their shape. Encoding
// never fails; decoding throws registry::StoreError naming the key for a
// value this build cannot read. Pure functions, thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/arrays/array.h"
#include "server/registry/store.h"

namespace rotor::cluster::codec {

inline constexpr std::string_view kArrays = "arrays/";
inline constexpr std::string_view kInstances = "instances/";
inline constexpr std::string_view kZones = "zones/";
inline constexpr std::string_view kHealth = "health/";
inline constexpr std::string_view kEvents = "events/";
inline constexpr std::string_view kIdCounter = "counters/id";
inline constexpr std::string_view kObservations = "observations/";  // <id>/<node>: Membership
inline constexpr std::string_view kNodes = "nodes/";                // <node>: Membership
inline constexpr std::string_view kProgress = "progress/";          // <node>: Membership (no verdict reads it)
inline constexpr std::string_view kRegions = "regions/";    // <name>: a region made through the API
inline constexpr std::string_view kNetworks = "networks/";  // <canonical cidr>: a network, likewise

std::string array_key(std::string_view name);
std::string instances_prefix(std::string_view array);  // "instances/<array>/"
std::string instance_key(std::string_view array, int64_t id);
std::string health_key(int64_t id);
std::string zone_key(std::string_view origin);
std::string region_key(std::string_view name);
std::string network_key(std::string_view cidr);
std::string event_key(int64_t time_ms, std::string_view node, uint64_t sequence);

// What a key names: the array of an arrays/ or instances/ key, the origin
// of a zones/ key; nullopt for other keys.
std::optional<std::string> array_of_key(std::string_view key);
std::optional<std::string> zone_of_key(std::string_view key);
// The instance id of an instances/ key; 0 for other keys.
int64_t instance_id_of_key(std::string_view key);

struct ArrayRecord {
  int64_t id = 0;
  arrays::ArraySettings settings;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};
std::string encode_array(const ArrayRecord& record);
ArrayRecord decode_array(std::string_view key, std::string_view value);

std::string encode_instance(int64_t id, const arrays::InstanceSpec& spec);
arrays::Instance decode_instance(std::string_view key, std::string_view value);  // health unknown

struct HealthRecord {
  arrays::Health health = arrays::Health::unknown;
  std::string reason;
  int64_t time_ms = 0;
};
std::string encode_health(const HealthRecord& record);
HealthRecord decode_health(std::string_view key, std::string_view value);

std::string encode_serial(uint32_t serial);
uint32_t decode_serial(std::string_view key, std::string_view value);

std::string encode_counter(int64_t next);
int64_t decode_counter(std::string_view key, std::string_view value);

// The JSON forms of registry/geo_sources.h.
std::string encode_region(const geo::RegionSpec& region);
geo::RegionSpec decode_region(std::string_view key, std::string_view value);
std::string encode_network(const geo::NetworkSpec& network);
geo::NetworkSpec decode_network(std::string_view key, std::string_view value);

// `event.id` is not stored: it is the key's create_revision.
std::string encode_event(const registry::Event& event);
registry::Event decode_event(std::string_view key, std::string_view value, int64_t id);

}  // namespace rotor::cluster::codec
