#pragma once
// The audit log's vocabulary: the Event records that changes to arrays and
// instances, the API's regions and networks, health and damping
// transitions and reloads write, composed in
// this one place so that both stores (SqliteStore, cluster::EtcdStore) and
// the Registry write the same events. The stores call it where they know
// the old and the new value (inside their transaction); they add the origin
// (Event::source, Event::token) and the node. api/README.md lists the events.
//
// old/new of an admin event is a JSON object text with the API's field names
// and types: every field of what was created, added, deleted or removed, and
// only the fields that differ for an update (a field that became unset is
// null there). One event per write: an etcd transaction holds one operation
// per event, and a bulk write is sized by writes (Store::max_writes_per_transaction).
//
// Pure functions: thread-safe, no I/O; nothing throws but std::bad_alloc.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/arrays/array.h"
#include "server/registry/store.h"

namespace rotor::registry::audit {

// The names of the fields that differ, in the API's order.
std::vector<std::string> changed_fields(const arrays::ArraySettings& old_settings,
                                        const arrays::ArraySettings& new_settings);
std::vector<std::string> changed_fields(const arrays::InstanceSpec& old_spec,
                                        const arrays::InstanceSpec& new_spec);

// "array created" (no old settings: new = every field) or "array updated:
// ttl, policy" (old/new = the fields that differ); nullopt when nothing differs.
std::optional<Event> array_written(std::string_view array,
                                   const std::optional<arrays::ArraySettings>& old_settings,
                                   const arrays::ArraySettings& new_settings, int64_t time_ms);
// "array deleted", old = every field of its settings and its "instances" count.
Event array_deleted(std::string_view array, const arrays::ArraySettings& settings,
                    size_t instances, int64_t time_ms);

// "instance added", new = every field of its spec.
Event instance_added(std::string_view array, const arrays::Instance& instance, int64_t time_ms);
// "instance changed: weight, state", old/new = the fields that differ;
// nullopt when nothing differs. `address` is the new one.
std::optional<Event> instance_changed(std::string_view array, int64_t id,
                                      const arrays::InstanceSpec& old_spec,
                                      const arrays::InstanceSpec& new_spec, int64_t time_ms);
// "instance removed", old = every field of its spec. An automatic removal
// gives `why`: the reason is "instance removed: WHY" and old is the
// instance's last record, its spec plus "health", and "health_reason" and
// "health_changed" (RFC 3339) when known.
Event instance_removed(std::string_view array, const arrays::Instance& instance, int64_t time_ms,
                       std::string_view why = {});

// "region eu created" / "changed" / "deleted" (no old: created; no new:
// deleted), array empty, old/new the region's JSON (geo_sources.h) or "".
Event region_written(const std::optional<geo::RegionSpec>& old_region,
                     const std::optional<geo::RegionSpec>& new_region, int64_t time_ms);
// Likewise "network 10.0.0.0/8 created" / "changed" / "deleted".
Event network_written(const std::optional<geo::NetworkSpec>& old_network,
                      const std::optional<geo::NetworkSpec>& new_network, int64_t time_ms);

// kind "health": old/new the health, reason the check's.
Event health_changed(std::string_view array, int64_t instance_id, std::string_view address,
                     arrays::Health old_health, arrays::Health new_health, std::string reason,
                     int64_t time_ms);
// kind "damping": "off" -> "held" until `until_ms`, or "held" -> "off" for `reason`.
Event damping_started(std::string_view array, int64_t instance_id, std::string_view address,
                      int64_t until_ms, int64_t time_ms);
Event damping_ended(std::string_view array, int64_t instance_id, std::string_view address,
                    std::string reason, int64_t time_ms);

// kind "reload": new "ok" with `summary` as the reason, or "failed" with
// every error (joined by "; ", at most kMaxReasonLength characters).
inline constexpr size_t kMaxReasonLength = 4000;
Event reloaded(std::string summary, int64_t time_ms);
Event reload_failed(const std::vector<std::string>& errors, int64_t time_ms);

}  // namespace rotor::registry::audit
