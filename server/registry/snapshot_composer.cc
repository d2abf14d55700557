#include "server/registry/snapshot_composer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "server/common/background_thread.h"
#include "server/registry/name_conflict.h"

namespace rotor::registry {

SnapshotComposer::SnapshotComposer(SnapshotPublisher& publisher, ComposerOptions options)
    : publisher_(publisher), options_(options) {
  {
    const auto current = publisher_.current();
    auto parts = parts_.lock();
    if (current != nullptr) {
      parts->base_zones = current->zones;
      parts->options = current->options;
      parts->arrays = current->arrays;
      parts->geo = current->geo;
      parts->generation = current->generation;
    }
    if (parts->arrays == nullptr) parts->arrays = std::make_shared<const arrays::ArrayTable>();
    parts->merged = merge(*parts);
  }
  if (options_.publish_interval.count() > 0) thread_ = std::thread([this] {
      lower_this_thread_priority();
      run();
    });
}

SnapshotComposer::~SnapshotComposer() {
  if (thread_.joinable()) {
    schedule_.lock()->stopping = true;
    wake_.notify_one();
    thread_.join();  // publishes what is pending before it returns
  }
}

std::shared_ptr<const zones::ZoneSet> SnapshotComposer::merge(const Parts& parts) {
  auto merged = std::make_shared<zones::ZoneSet>(parts.base_zones);
  for (const auto& [origin, zone] : parts.synthetic) {
    if (!merged->add(zone)) {
      spdlog::warn("synthetic zone {} is not served: a zone file serves it", zone->origin_text());
    }
  }
  return merged;
}

void SnapshotComposer::set_base(zones::ZoneSet zones, AnswerOptions options) {
  {
    auto parts = parts_.lock();
    parts->base_zones = std::move(zones);
    parts->options = std::move(options);
    parts->merged = merge(*parts);
    parts->arrays_replaced = true;
  }
  changed();
}

std::vector<std::string> SnapshotComposer::set_base_checked(zones::ZoneSet zones,
                                                           AnswerOptions options) {
  std::vector<std::string> conflicts;
  {
    auto parts = parts_.lock();
    Parts candidate;  // only what merge() reads
    candidate.base_zones = std::move(zones);
    candidate.synthetic = parts->synthetic;
    const auto merged = merge(candidate);
    for (const auto& array : parts->arrays->all()) {
      const zones::Zone* zone = merged->find_authoritative(array->name);
      if (zone == nullptr) continue;
      if (auto conflict = array_name_conflict(*zone, array->name)) {
        conflicts.push_back(*conflict + ", where an array answers");
      }
      if (auto error = registry::array_signing_error(*zone, array->name)) conflicts.push_back(*error);
    }
    if (!conflicts.empty()) return conflicts;
    parts->base_zones = std::move(candidate.base_zones);
    parts->options = std::move(options);
    parts->merged = merged;
    parts->arrays_replaced = true;
  }
  changed();
  return conflicts;
}

void SnapshotComposer::set_synthetic_zones(std::vector<std::shared_ptr<const zones::Zone>> zones) {
  {
    auto parts = parts_.lock();
    parts->synthetic.clear();
    for (auto& zone : zones) parts->synthetic[zone->origin()] = std::move(zone);
    parts->merged = merge(*parts);
    parts->arrays_replaced = true;
  }
  changed();
}

void SnapshotComposer::put_synthetic_zone(std::shared_ptr<const zones::Zone> zone) {
  {
    auto parts = parts_.lock();
    parts->synthetic[zone->origin()] = std::move(zone);
    parts->merged = merge(*parts);
    parts->arrays_replaced = true;
  }
  changed();
}

void SnapshotComposer::set_arrays(std::shared_ptr<const arrays::ArrayTable> arrays) {
  {
    auto parts = parts_.lock();
    parts->arrays = std::move(arrays);
    parts->arrays_replaced = true;
    parts->table_replaced = true;
  }
  changed();
}

void SnapshotComposer::put_array(std::shared_ptr<const arrays::ArrayState> array) {
  {
    auto parts = parts_.lock();
    parts->array_changes[array->name] = array;
    parts->arrays = parts->arrays->with(std::move(array));
  }
  changed();
}

void SnapshotComposer::remove_array(std::string_view lower_wire_name) {
  {
    auto parts = parts_.lock();
    parts->array_changes[std::string(lower_wire_name)] = nullptr;
    parts->arrays = parts->arrays->without(lower_wire_name);
  }
  changed();
}

void SnapshotComposer::set_geo(geo::GeoContext geo) {
  parts_.lock()->geo = std::move(geo);
  changed();
}

std::optional<SnapshotComposer::ServedZone> SnapshotComposer::served_zone(
    std::string_view lower_wire_name) {
  auto parts = parts_.lock();
  const zones::Zone* zone = parts->merged->find_authoritative(lower_wire_name);
  if (zone == nullptr) return std::nullopt;
  const auto synthetic = parts->synthetic.find(zone->origin());
  return ServedZone{zone->origin(),
                    synthetic != parts->synthetic.end() && synthetic->second.get() == zone};
}

std::optional<std::string> SnapshotComposer::array_conflict(std::string_view lower_wire_name) {
  auto parts = parts_.lock();
  const zones::Zone* zone = parts->merged->find_authoritative(lower_wire_name);
  if (zone == nullptr) return std::nullopt;
  return array_name_conflict(*zone, lower_wire_name);
}

std::optional<std::string> SnapshotComposer::array_signing_error(std::string_view lower_wire_name) {
  auto parts = parts_.lock();
  const zones::Zone* zone = parts->merged->find_authoritative(lower_wire_name);
  if (zone == nullptr) return std::nullopt;
  return registry::array_signing_error(*zone, lower_wire_name);
}

geo::GeoContext SnapshotComposer::geo() { return parts_.lock()->geo; }

std::shared_ptr<const arrays::ArrayTable> SnapshotComposer::arrays() {
  return parts_.lock()->arrays;
}

uint64_t SnapshotComposer::published_count() { return schedule_.lock()->published; }

SignedArrays::Stats SnapshotComposer::array_signing_stats() { return *signing_stats_.lock(); }

DurationHistogram SnapshotComposer::publish_latency() {
  return schedule_.lock()->publish_latency;
}

void SnapshotComposer::changed() {
  bool wake = false;
  {
    auto schedule = schedule_.lock();
    if (!schedule->pending) schedule->pending_since = std::chrono::steady_clock::now();
    schedule->pending = true;
    wake = schedule->idle && schedule->batches == 0;
  }
  if (!thread_.joinable()) {
    publish_pending();
  } else if (wake) {
    wake_.notify_one();
  }
}

void SnapshotComposer::flush() { publish_pending(); }

SnapshotComposer::Batch::Batch(SnapshotComposer& composer) : composer_(composer) {
  ++composer_.schedule_.lock()->batches;
}

SnapshotComposer::Batch::~Batch() {
  bool pending = false;
  {
    auto schedule = composer_.schedule_.lock();
    pending = --schedule->batches == 0 && schedule->pending;
  }
  if (!pending) return;
  try {
    composer_.changed();
  } catch (const std::exception& error) {
    // The change is kept: the next one publishes it.
    spdlog::error("publishing a snapshot failed: {}", error.what());
  }
}

void SnapshotComposer::publish_pending() {
  std::lock_guard publishing(publishing_);
  std::chrono::steady_clock::time_point pending_since;
  {
    auto schedule = schedule_.lock();
    if (!schedule->pending || schedule->batches > 0) return;
    // Cleared before the parts are read: a change made while we compose sets
    // it again and gets a snapshot of its own.
    schedule->pending = false;
    pending_since = schedule->pending_since;
  }
  // Someone else (a zone reload that predates the composer's wiring) may have
  // published meanwhile; generations must still only grow.
  const auto current = publisher_.current();
  auto snapshot = std::make_shared<Snapshot>();
  std::shared_ptr<const zones::ZoneSet> merged;
  std::shared_ptr<const arrays::ArrayTable> arrays;
  std::map<std::string, std::shared_ptr<const arrays::ArrayState>> array_changes;
  bool arrays_replaced = false;
  bool table_replaced = false;
  {
    auto parts = parts_.lock();
    parts->generation = std::max(parts->generation, current ? current->generation : 0) + 1;
    merged = parts->merged;
    arrays = parts->arrays;
    array_changes.swap(parts->array_changes);
    arrays_replaced = std::exchange(parts->arrays_replaced, false);
    table_replaced = std::exchange(parts->table_replaced, false);
    snapshot->geo = parts->geo;
    snapshot->options = parts->options;
    snapshot->generation = parts->generation;
  }
  // Signing takes time (a signature ~65 µs): outside the parts' lock, so the
  // registry's changes do not wait for it.
  snapshot->zones = *merged;
  snapshot->arrays_at_zone_cuts =
      arrays_at_cuts_.update(*merged, arrays, array_changes, table_replaced);
  snapshot->arrays = signed_arrays_.update(merged, arrays, array_changes, arrays_replaced);
  *signing_stats_.lock() = signed_arrays_.stats();
  publisher_.publish(std::move(snapshot));
  const auto now = std::chrono::steady_clock::now();
  auto schedule = schedule_.lock();
  schedule->last_publish = now;
  ++schedule->published;
  schedule->publish_latency.observe(now - pending_since);
}

void SnapshotComposer::run() {
  auto schedule = schedule_.lock();
  const auto due = [&] { return (schedule->pending && schedule->batches == 0) || schedule->stopping; };
  size_t retired = 0;  // snapshots the publisher still keeps for a worker
  for (;;) {
    if (!schedule->stopping) {
      // Rate limit: the interval since the last publish is waited out first,
      // not idle, so changes that arrive within it ride along without waking
      // this thread; under steady churn a publish then costs one wake-up (the
      // interval's end), not two (the change, then the interval's end).
      const auto due = schedule->last_publish + options_.publish_interval;
      wake_.wait_until(schedule.lock(), due, [&] { return schedule->stopping; });
    }
    schedule->idle = true;
    // Idle: the snapshots the workers have let go are freed here, on this
    // thread, not by the workers (publisher.h), at most kReleaseRetired after.
    while (retired > 0 && !wake_.wait_for(schedule.lock(), kReleaseRetired, due)) {
      schedule.lock().unlock();
      retired = publisher_.release_retired();
      schedule.lock().lock();
    }
    wake_.wait(schedule.lock(), due);
    schedule->idle = false;
    // Woken by stop alone: nothing left that may be published.
    if (!schedule->pending || schedule->batches > 0) return;
    schedule.lock().unlock();
    try {
      publish_pending();
    } catch (const std::exception& error) {
      spdlog::error("publishing a snapshot failed: {}", error.what());
    }
    retired = publisher_.release_retired();
    schedule.lock().lock();
  }
}

}  // namespace rotor::registry
