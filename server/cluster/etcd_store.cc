// EtcdStore's writes and reads: transactions built from the mirror. The
// mirror and its threads are in etcd_store_sync.cc.
#include "server/cluster/etcd_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ranges>
#include <set>

#include "server/registry/audit.h"
#include "server/registry/instance_replacement.h"
#include "server/registry/registry.h"

namespace rotor::cluster {

using arrays::Instance;
using arrays::InstanceSpec;
using registry::ConflictError;
using registry::NotFoundError;

namespace {

std::string text(std::string_view view) { return std::string(view); }

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// The entries whose key starts with `prefix`, in key order.
std::ranges::subrange<MirrorMap::const_iterator> under(const MirrorMap& entries,
                                                       const std::string& prefix) {
  const auto first = entries.lower_bound(prefix);
  auto last = first;
  while (last != entries.end() && starts_with(last->first, prefix)) ++last;
  return {first, last};
}

// Instance and health writes per transaction: each is two operations (the
// key and its event) and a compare, next to the counter, zone and array keys.
constexpr size_t kWritesPerTransaction = 60;
constexpr size_t kCleanupPerTransaction = 100;

bool same_spec(const InstanceSpec& a, const InstanceSpec& b) {
  return codec::encode_instance(0, a) == codec::encode_instance(0, b);
}

}  // namespace

// Runs `work` inside the transaction being built, or builds one around it
// and commits it. Nested calls join the outer transaction.
template <typename Work>
auto EtcdStore::in_write(Work&& work) {
  if (write_) return work();
  write_.emplace();
  struct Reset {
    std::optional<Write>& write;
    ~Reset() { write.reset(); }
  } reset{write_};
  if constexpr (std::is_void_v<decltype(work())>) {
    work();
    const Write done = std::move(*write_);
    write_.reset();
    commit(done);
  } else {
    auto result = work();
    const Write done = std::move(*write_);
    write_.reset();
    commit(done);
    return result;
  }
}

void EtcdStore::atomically(const std::function<void()>& work) { in_write(work); }

void EtcdStore::commit(const Write& write) {
  if (write.puts.empty() && write.ranges.empty()) return;  // only reads: nothing to commit
  std::vector<Compare> compares;
  for (const auto& [key, revision] : write.compares) {
    compares.push_back({.key = options_.prefix + key, .number = revision});
  }
  std::vector<Operation> operations;
  size_t bytes = 0;
  for (const auto& [key, value] : write.puts) {
    if (value) {
      operations.push_back({.kind = Operation::Kind::put, .key = options_.prefix + key, .value = *value});
    } else {
      operations.push_back({.kind = Operation::Kind::delete_range, .key = options_.prefix + key});
    }
    bytes += 64 + (key.size() + options_.prefix.size() + (value ? value->size() : 0)) * 4 / 3;
  }
  for (const auto& [key, end] : write.ranges) {
    operations.push_back({.kind = Operation::Kind::delete_range,
                          .key = options_.prefix + key,
                          .range_end = options_.prefix + end});
  }
  bytes += compares.size() * 96;
  if (operations.size() > kMaxOperations || compares.size() > kMaxOperations ||
      bytes > kMaxRequestBytes) {
    throw registry::ValidationError(
        "too large for one etcd transaction: " + std::to_string(operations.size()) +
        " operations, " + std::to_string(compares.size()) + " compares, about " +
        std::to_string(bytes / 1024) + " KiB (etcd takes at most " +
        std::to_string(kMaxOperations) + " operations and 1.5 MiB): write fewer instances at once");
  }
  TxnResult result;
  try {
    result = client_->txn(compares, operations);
  } catch (const EtcdError& error) {
    if (error.kind == EtcdError::Kind::unavailable) {
      mark_unreachable(error.what());
      throw registry::StoreUnavailable(std::string("etcd: ") + error.what());
    }
    throw registry::StoreError(std::string("etcd: ") + error.what());
  }
  mark_reachable();
  if (!result.succeeded) {
    // Show the caller (and its retry) what won: wait until the mirror has it.
    wait_for_revision(result.revision, options_.catch_up_timeout);
    throw registry::ConcurrentChangeError(
        "changed concurrently through another node: nothing was written; retry");
  }
  apply_commit(write, result.revision);
  if (!write.cleanup.empty()) run_cleanup(write.cleanup);
}

// Keys the committed write made meaningless (health records of deleted
// instances): each part is valid alone, and a leftover is ignored by readers.
void EtcdStore::run_cleanup(const std::vector<std::string>& keys) {
  for (size_t first = 0; first < keys.size(); first += kCleanupPerTransaction) {
    Write cleanup;
    const size_t last = std::min(keys.size(), first + kCleanupPerTransaction);
    for (size_t i = first; i < last; ++i) cleanup.puts[keys[i]] = std::nullopt;
    try {
      commit(cleanup);
    } catch (const std::exception& error) {
      spdlog::warn("cluster: could not delete {} stale health records: {}", last - first,
                   error.what());
      return;
    }
  }
}

bool EtcdStore::deleted_by_range(const std::string& key) const {
  return std::any_of(write_->ranges.begin(), write_->ranges.end(),
                     [&](const auto& range) { return key >= range.first && key < range.second; });
}

std::optional<std::string> EtcdStore::read(const std::string& key) {
  if (const auto put = write_->puts.find(key); put != write_->puts.end()) return put->second;
  if (deleted_by_range(key)) return std::nullopt;
  auto mirror = mirror_.lock();
  const auto found = mirror->entries.find(key);
  write_->compares.emplace(key, found == mirror->entries.end() ? 0 : found->second.mod_revision);
  if (found == mirror->entries.end()) return std::nullopt;
  return found->second.value;
}

// Every key under `prefix` with its value, this transaction's writes
// included. Not compared key by key: every write to an array's instances
// also writes the array's key, whose compare covers them.
std::vector<std::pair<std::string, std::string>> EtcdStore::list(const std::string& prefix) {
  std::map<std::string, std::string> found;
  {
    auto mirror = mirror_.lock();
    for (const auto& [key, entry] : under(mirror->entries, prefix)) found.emplace(key, entry.value);
  }
  for (auto it = write_->puts.lower_bound(prefix);
       it != write_->puts.end() && starts_with(it->first, prefix); ++it) {
    if (it->second) {
      found[it->first] = *it->second;
    } else {
      found.erase(it->first);
    }
  }
  std::erase_if(found, [&](const auto& entry) {
    return !write_->puts.contains(entry.first) && deleted_by_range(entry.first);
  });
  return {found.begin(), found.end()};
}

void EtcdStore::put(const std::string& key, std::string value) { write_->puts[key] = std::move(value); }

void EtcdStore::remove(const std::string& key) { write_->puts[key] = std::nullopt; }

int64_t EtcdStore::allocate_id() {
  const std::string key(codec::kIdCounter);
  const auto stored = read(key);
  const int64_t id = stored ? std::max<int64_t>(1, codec::decode_counter(key, *stored)) : 1;
  put(key, codec::encode_counter(id + 1));
  return id;
}

void EtcdStore::append_event(registry::Event event) {
  event.node = options_.node;
  event.source = event_origin_.source;
  event.token = event_origin_.token;
  put(codec::event_key(event.time_ms, options_.node, ++event_sequence_), codec::encode_event(event));
  if (++events_since_prune_ < 1024) return;
  events_since_prune_ = 0;
  // The oldest events past the retention go in the same transaction, as one
  // range: keys sort by time, so both bounds cut the same prefix.
  auto mirror = mirror_.lock();
  const std::string prefix(codec::kEvents);
  const auto logged = under(mirror->entries, prefix);
  const auto count = static_cast<size_t>(std::ranges::distance(logged));
  std::string cutoff = prefix;
  if (count > options_.events.max_count) {
    auto past = logged.begin();
    std::advance(past, static_cast<std::ptrdiff_t>(count - options_.events.max_count));
    cutoff = past->first;
  }
  if (options_.events.max_age_ms > 0 && event.time_ms > options_.events.max_age_ms) {
    cutoff = std::max(cutoff, codec::event_key(event.time_ms - options_.events.max_age_ms, "", 0));
  }
  if (cutoff == prefix) return;
  const bool clear_of_new = std::none_of(write_->puts.begin(), write_->puts.end(), [&](const auto& p) {
    return starts_with(p.first, prefix) && p.first < cutoff;
  });
  if (clear_of_new) write_->ranges.emplace_back(prefix, cutoff);
}

codec::ArrayRecord EtcdStore::read_array(std::string_view name) {
  const std::string key = codec::array_key(name);
  const auto value = read(key);
  if (!value) throw NotFoundError("no array " + text(name));
  return codec::decode_array(key, *value);
}

void EtcdStore::touch_array(std::string_view name, int64_t now_ms) {
  codec::ArrayRecord record = read_array(name);
  record.updated_ms = now_ms;
  put(codec::array_key(name), codec::encode_array(record));
}

Instance EtcdStore::with_health(Instance instance) const {
  auto mirror = mirror_.lock();
  const std::string key = codec::health_key(instance.id);
  const auto found = mirror->entries.find(key);
  if (found == mirror->entries.end()) return instance;
  const codec::HealthRecord health = codec::decode_health(key, found->second.value);
  instance.health = health.health;
  instance.health_reason = health.reason;
  instance.health_changed_ms = health.time_ms;
  return instance;
}

int64_t EtcdStore::upsert_array(std::string_view name, const arrays::ArraySettings& settings,
                                int64_t now_ms) {
  return in_write([&] {
    const std::string key = codec::array_key(name);
    const auto value = read(key);
    codec::ArrayRecord record;
    std::optional<arrays::ArraySettings> old_settings;
    if (value) {
      record = codec::decode_array(key, *value);
      old_settings = record.settings;
    } else {
      record.id = allocate_id();
      record.created_ms = now_ms;
    }
    record.settings = settings;
    record.updated_ms = now_ms;
    put(key, codec::encode_array(record));
    if (auto event = registry::audit::array_written(name, old_settings, settings, now_ms)) {
      append_event(std::move(*event));
    }
    return record.id;
  });
}

void EtcdStore::delete_array(std::string_view name, int64_t now_ms) {
  in_write([&] {
    const codec::ArrayRecord record = read_array(name);
    const std::string prefix = codec::instances_prefix(name);
    const auto instances = list(prefix);
    for (const auto& [key, value] : instances) {
      const std::string health = codec::health_key(codec::instance_id_of_key(key));
      auto mirror = mirror_.lock();
      if (mirror->entries.contains(health)) write_->cleanup.push_back(health);
    }
    remove(codec::array_key(name));
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);  // '/' + 1: every key under the prefix
    write_->ranges.emplace_back(prefix, end);
    append_event(registry::audit::array_deleted(name, record.settings, instances.size(), now_ms));
  });
}

Instance EtcdStore::add_instance_in_write(std::string_view array, const InstanceSpec& spec,
                                          int64_t now_ms) {
  touch_array(array, now_ms);
  for (const auto& [key, value] : list(codec::instances_prefix(array))) {
    if (codec::decode_instance(key, value).spec.address == spec.address) {
      throw ConflictError(text(array) + " already has an instance with address " +
                          spec.address.to_string());
    }
  }
  Instance instance{.id = allocate_id(), .spec = spec};
  put(codec::instance_key(array, instance.id), codec::encode_instance(instance.id, spec));
  append_event(registry::audit::instance_added(array, instance, now_ms));
  return instance;
}

Instance EtcdStore::add_instance(std::string_view array, const InstanceSpec& spec, int64_t now_ms) {
  return in_write([&] { return add_instance_in_write(array, spec, now_ms); });
}

Instance EtcdStore::update_instance(std::string_view array, int64_t id, const InstanceSpec& spec,
                                    int64_t now_ms) {
  return in_write([&] {
    touch_array(array, now_ms);
    const std::string key = codec::instance_key(array, id);
    const auto value = read(key);
    if (!value) throw NotFoundError("no instance " + std::to_string(id) + " in " + text(array));
    Instance instance = with_health(codec::decode_instance(key, *value));
    const bool moved = !(instance.spec.address == spec.address);
    if (moved) {
      for (const auto& [other_key, other] : list(codec::instances_prefix(array))) {
        if (codec::decode_instance(other_key, other).spec.address == spec.address) {
          throw ConflictError(text(array) + " already has an instance with address " +
                              spec.address.to_string());
        }
      }
      // A new address is a new endpoint: what we knew about the old one does not carry over.
      const std::string health = codec::health_key(id);
      read(health);
      put(health, codec::encode_health({arrays::Health::unknown, "address changed", now_ms}));
      instance.health = arrays::Health::unknown;
      instance.health_changed_ms = now_ms;
      instance.health_reason = "address changed";
    }
    if (auto event = registry::audit::instance_changed(array, id, instance.spec, spec, now_ms)) {
      append_event(std::move(*event));
    }
    if (!same_spec(instance.spec, spec)) put(key, codec::encode_instance(id, spec));
    instance.spec = spec;
    return instance;
  });
}

bool EtcdStore::remove_instance_in_write(std::string_view array, int64_t id, int64_t now_ms,
                                         const RemovalDecision& decide) {
  read_array(array);  // NotFoundError for the array first
  const std::string key = codec::instance_key(array, id);
  const auto value = read(key);
  if (!value) throw NotFoundError("no instance " + std::to_string(id) + " in " + text(array));
  Instance instance = codec::decode_instance(key, *value);
  // The health record as this transaction reads it: a decision on it is
  // compared at commit (read() adds the compare), so a verdict recorded
  // meanwhile by another node fails the removal instead of being ignored.
  const std::string health = codec::health_key(id);
  const auto record = decide ? read(health) : std::nullopt;
  if (record) {
    const codec::HealthRecord recorded = codec::decode_health(health, *record);
    instance.health = recorded.health;
    instance.health_reason = recorded.reason;
    instance.health_changed_ms = recorded.time_ms;
  }
  const std::optional<std::string> why = decide ? decide(instance) : std::string();
  if (!why) return false;
  touch_array(array, now_ms);
  remove(key);
  {
    auto mirror = mirror_.lock();
    if (mirror->entries.contains(health)) write_->puts[health] = std::nullopt;
  }
  append_event(registry::audit::instance_removed(array, instance, now_ms, *why));
  return true;
}

void EtcdStore::remove_instance(std::string_view array, int64_t id, int64_t now_ms) {
  in_write([&] { remove_instance_in_write(array, id, now_ms); });
}

bool EtcdStore::remove_instance_if(std::string_view array, int64_t id, int64_t now_ms,
                                   const RemovalDecision& decide) {
  return in_write([&] { return remove_instance_in_write(array, id, now_ms, decide); });
}

std::vector<Instance> EtcdStore::replace_instances(std::string_view array,
                                                   const std::vector<InstanceSpec>& specs,
                                                   int64_t now_ms) {
  return in_write([&] {
    read_array(array);
    std::map<std::string, int64_t> existing;  // address -> id
    for (const auto& [key, value] : list(codec::instances_prefix(array))) {
      const Instance instance = codec::decode_instance(key, value);
      existing.emplace(instance.spec.address.to_string(), instance.id);
    }
    const registry::InstanceReplacement plan =
        registry::plan_instance_replacement(array, specs, existing);
    for (int64_t id : plan.removed) remove_instance_in_write(array, id, now_ms);
    for (const auto& [spec, id] : plan.written) {
      if (id) {
        update_instance(array, *id, *spec, now_ms);
      } else {
        add_instance_in_write(array, *spec, now_ms);
      }
    }
    std::vector<Instance> instances;
    for (const auto& [key, value] : list(codec::instances_prefix(array))) {
      Instance instance = with_health(codec::decode_instance(key, value));
      if (const auto health = write_->puts.find(codec::health_key(instance.id));
          health != write_->puts.end() && health->second) {
        const codec::HealthRecord record = codec::decode_health(health->first, *health->second);
        instance.health = record.health;
        instance.health_reason = record.reason;
        instance.health_changed_ms = record.time_ms;
      }
      instances.push_back(std::move(instance));
    }
    return instances;
  });
}

bool EtcdStore::set_health_in_write(const registry::HealthChange& change) {
  std::string instance_key;
  {
    auto mirror = mirror_.lock();
    const auto found = mirror->instance_keys.find(change.instance_id);
    if (found != mirror->instance_keys.end()) instance_key = found->second;
  }
  const auto instance_value = instance_key.empty() ? std::nullopt : read(instance_key);
  if (!instance_value) throw NotFoundError("no instance " + std::to_string(change.instance_id));
  const Instance instance = codec::decode_instance(instance_key, *instance_value);
  const std::string key = codec::health_key(change.instance_id);
  const auto old_value = read(key);
  const arrays::Health old_health =
      old_value ? codec::decode_health(key, *old_value).health : arrays::Health::unknown;
  if (old_health == change.health) return false;
  put(key, codec::encode_health({change.health, change.reason, change.time_ms}));
  append_event(registry::audit::health_changed(codec::array_of_key(instance_key).value_or(""),
                                              change.instance_id, instance.spec.address.to_string(),
                                              old_health, change.health, change.reason,
                                              change.time_ms));
  return true;
}

void EtcdStore::append_events(const std::vector<registry::Event>& events) {
  in_write([&] {
    for (const registry::Event& event : events) append_event(event);
  });
}

bool EtcdStore::set_health(const registry::HealthChange& change) {
  return in_write([&] { return set_health_in_write(change); });
}

// In parts of kWritesPerTransaction, each valid alone. A part another node
// changed meanwhile is read again and retried: its transitions may now be
// no-ops (the other node recorded the same verdict).
std::vector<registry::HealthChange> EtcdStore::set_health_many(
    const std::vector<registry::HealthChange>& changes) {
  std::vector<registry::HealthChange> applied;
  auto apply = [&](size_t first, size_t last) {
    std::vector<registry::HealthChange> part;
    for (size_t i = first; i < last; ++i) {
      try {
        if (set_health_in_write(changes[i])) part.push_back(changes[i]);
      } catch (const NotFoundError&) {
        // Removed while its probe ran: nothing to record.
      }
    }
    return part;
  };
  if (write_) return apply(0, changes.size());
  for (size_t first = 0; first < changes.size(); first += kWritesPerTransaction) {
    const size_t last = std::min(changes.size(), first + kWritesPerTransaction);
    for (int attempt = 1;; ++attempt) {
      try {
        const auto part = in_write([&] { return apply(first, last); });
        applied.insert(applied.end(), part.begin(), part.end());
        break;
      } catch (const registry::ConcurrentChangeError&) {
        if (attempt == 3) throw;
      }
    }
  }
  return applied;
}

size_t EtcdStore::max_writes_per_transaction() const { return kWritesPerTransaction; }

std::optional<registry::StoredArray> EtcdStore::load_locked(const Mirror& mirror,
                                                            std::string_view name) const {
  const std::string key = codec::array_key(name);
  const auto found = mirror.entries.find(key);
  if (found == mirror.entries.end()) return std::nullopt;
  const codec::ArrayRecord record = codec::decode_array(key, found->second.value);
  registry::StoredArray array{.id = record.id,
                              .name = text(name),
                              .settings = record.settings,
                              .created_ms = record.created_ms,
                              .updated_ms = record.updated_ms};
  const std::string prefix = codec::instances_prefix(name);
  for (const auto& [instance_key, entry] : under(mirror.entries, prefix)) {
    Instance instance = codec::decode_instance(instance_key, entry.value);
    const std::string health_key = codec::health_key(instance.id);
    if (const auto health = mirror.entries.find(health_key); health != mirror.entries.end()) {
      const codec::HealthRecord record = codec::decode_health(health_key, health->second.value);
      instance.health = record.health;
      instance.health_reason = record.reason;
      instance.health_changed_ms = record.time_ms;
    }
    array.instances.push_back(std::move(instance));
  }
  return array;
}

std::vector<registry::StoredArray> EtcdStore::load_all() const {
  auto mirror = mirror_.lock();
  std::vector<registry::StoredArray> arrays;
  const std::string prefix(codec::kArrays);
  for (const auto& [key, entry] : under(mirror->entries, prefix)) {
    if (auto array = load_locked(*mirror, key.substr(prefix.size()))) {
      arrays.push_back(std::move(*array));
    }
  }
  return arrays;
}

std::optional<registry::StoredArray> EtcdStore::load_array(std::string_view name) const {
  auto mirror = mirror_.lock();
  return load_locked(*mirror, name);
}

std::vector<registry::Event> EtcdStore::events(const registry::EventFilter& filter) const {
  std::vector<registry::Event> events;
  auto mirror = mirror_.lock();
  const std::string prefix(codec::kEvents);
  for (const auto& [key, entry] : under(mirror->entries, prefix)) {
    if (entry.create_revision <= filter.since_id) continue;
    registry::Event event = codec::decode_event(key, entry.value, entry.create_revision);
    if (filter.matches(event)) events.push_back(std::move(event));
  }
  std::sort(events.begin(), events.end(),
            [](const registry::Event& a, const registry::Event& b) { return a.id < b.id; });
  if (events.size() > filter.limit) events.resize(filter.limit);
  return events;
}

std::optional<uint32_t> EtcdStore::zone_serial(std::string_view zone) const {
  const std::string key = codec::zone_key(zone);
  if (write_) {
    if (const auto put = write_->puts.find(key); put != write_->puts.end() && put->second) {
      return codec::decode_serial(key, *put->second);
    }
  }
  auto mirror = mirror_.lock();
  const auto found = mirror->entries.find(key);
  if (found == mirror->entries.end()) return std::nullopt;
  return codec::decode_serial(key, found->second.value);
}

uint32_t EtcdStore::bump_zone_serial(std::string_view zone) {
  return in_write([&] {
    const std::string key = codec::zone_key(zone);
    const auto stored = read(key);
    const uint32_t old_serial = stored ? codec::decode_serial(key, *stored) : 0;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    uint32_t serial = std::max<uint32_t>(old_serial + 1, static_cast<uint32_t>(now));
    if (serial == 0) serial = 1;
    put(key, codec::encode_serial(serial));
    return serial;
  });
}

std::map<std::string, std::string> EtcdStore::values_under(const std::string& prefix) const {
  std::map<std::string, std::string> out;
  auto mirror = mirror_.lock();
  for (const auto& [key, entry] : under(mirror->entries, prefix)) {
    out.emplace(key.substr(prefix.size()), entry.value);
  }
  return out;
}

}  // namespace rotor::cluster
