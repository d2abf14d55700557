#include "server/registry/registry.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <utility>

#include "probes/check_spec.h"
#include "server/arrays/array_state.h"
#include "server/arrays/fallback.h"
#include "server/common/background_thread.h"
#include "server/common/field_error.h"
#include "server/common/utc_time.h"
#include "server/dns/wire.h"
#include "server/registry/audit.h"
#include "server/registry/warnings.h"
#include "zones/zone.h"

namespace rotor::registry {

using arrays::Instance;
using arrays::InstanceSpec;

namespace {

constexpr uint32_t kMaxTtl = 0x7fffffff;  // RFC 2181 8
constexpr size_t kMaxRegionLength = 63;

bool same_settings(const arrays::ArraySettings& a, const arrays::ArraySettings& b) {
  return a.ttl == b.ttl && a.degraded_ttl == b.degraded_ttl && a.policy == b.policy &&
         a.max_answers == b.max_answers && a.when_all_down == b.when_all_down &&
         a.min_healthy == b.min_healthy && a.slow_start_ms == b.slow_start_ms && a.check == b.check &&
         a.fallback == b.fallback && a.remove_after == b.remove_after;
}

bool same_spec(const InstanceSpec& a, const InstanceSpec& b) {
  return a.address == b.address && a.weight == b.weight && a.region == b.region && a.lat == b.lat &&
         a.lon == b.lon && a.state == b.state && a.check == b.check;
}

// Whether an instance that was `before` and is now `after` may be probed
// differently (app/health_monitor.h probe_targets): probed or not (disabled),
// at another address, with another check. An instance with no check, its
// array's or its own, before and after is never probed. A flip between
// enabled and draining, a weight, a region are not: telling the change
// listener of them made it copy every array 20 times a second under churn.
bool may_change_probing(const std::string& array_check, const InstanceSpec& before,
                        const InstanceSpec& after) {
  if (array_check.empty() && before.check.empty() && after.check.empty()) return false;
  const bool probed_before = before.state != arrays::AdminState::disabled;
  const bool probed_after = after.state != arrays::AdminState::disabled;
  return probed_before != probed_after || before.address != after.address || before.check != after.check;
}

// When the slow-start ramp of an instance that was `before` and is now
// `health` (since `changed_ms`) starts; 0: none. Only a comeback ramps: down
// -> up, with the down seen while this process ran (`started_ms` on), so
// neither rotor's start (a stale "down" in the store found up) nor unknown ->
// up (a new instance, a first check) ramps; an instance staying up keeps its
// ramp.
int64_t ramp_start(const Instance& before, arrays::Health health, int64_t changed_ms,
                   int64_t started_ms) {
  if (health != arrays::Health::up) return 0;
  if (before.health == arrays::Health::up) return before.slow_start_from_ms;
  const bool down_while_running =
      before.health == arrays::Health::down && before.health_changed_ms >= started_ms;
  return down_while_running ? changed_ms : 0;
}

// Slow start across a model change (`after` read from the store, which
// keeps no ramps: a reload, another node's write seen by the etcd watch):
// each instance's ramp by ramp_start, from the health change the store holds.
// Both lists come by id from the stores (StoredArray::instances), so each
// instance's predecessor is found by binary search: an array of 8,192
// instances adopted from the etcd watch on every change of one of them must
// not cost 8,192^2 comparisons. A list out of order falls back to a scan.
void carry_ramps(const std::vector<Instance>& before, std::vector<Instance>& after,
                 int64_t started_ms) {
  const auto by_id = [](const Instance& a, const Instance& b) { return a.id < b.id; };
  const bool sorted = std::is_sorted(before.begin(), before.end(), by_id);
  for (Instance& instance : after) {
    auto old = before.end();
    if (sorted) {
      old = std::lower_bound(before.begin(), before.end(), instance, by_id);
      if (old != before.end() && old->id != instance.id) old = before.end();
    } else {
      old = std::find_if(before.begin(), before.end(),
                         [&](const Instance& i) { return i.id == instance.id; });
    }
    if (old == before.end()) continue;
    instance.slow_start_from_ms =
        ramp_start(*old, instance.health, instance.health_changed_ms, started_ms);
  }
}

bool same_instances(const std::vector<Instance>& a, const std::vector<Instance>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Instance& x, const Instance& y) {
    return x.id == y.id && same_spec(x.spec, y.spec) && x.health == y.health &&
           x.health_changed_ms == y.health_changed_ms && x.health_reason == y.health_reason;
  });
}

}  // namespace

Registry::Registry(std::unique_ptr<Store> store, SnapshotComposer& composer,
                   RegistryOptions options)
    : store_(std::move(store)),
      composer_(composer),
      state_(State{.store = *store_, .geo = composer.geo()}),
      options_(std::move(options)),
      started_ms_(options_.clock()) {
  auto state = state_.lock();
  if (state->geo.regions == nullptr) state->geo.regions = geo::RegionTable::build({});
  *declared_regions_.lock() = state->geo.regions;
}

Registry::~Registry() {
  // Before any member dies: no report of the store may reach a half-destroyed registry.
  store_->set_change_handler({});
  if (ramp_thread_.joinable()) {
    state_.lock()->stopping = true;
    ramp_wake_.notify_all();
    ramp_thread_.join();
  }
}

std::unique_ptr<Registry> Registry::open(std::unique_ptr<Store> store, SnapshotComposer& composer,
                                         RegistryOptions options) {
  std::unique_ptr<Registry> registry(new Registry(std::move(store), composer, std::move(options)));
  registry->ramp_thread_ = std::thread([raw = registry.get()] { raw->run_ramps(); });
  {
    auto state = registry->state_.lock();
    SnapshotComposer::Batch batch(composer);
    auto table = std::make_shared<const arrays::ArrayTable>();
    for (StoredArray& stored : state->store.load_all()) {
      ArrayModel array;
      array.id = stored.id;
      array.name = stored.name;
      const auto wire = zones::name_from_text(stored.name);
      if (!wire) throw StoreError("bad array name in the store: " + stored.name);
      array.wire_name = *wire;
      array.settings = stored.settings;
      array.instances = std::move(stored.instances);
      array.slot = registry->take_slot(*state);
      for (const Instance& instance : array.instances) state->owner_of[instance.id] = array.name;
      registry->learn_regions(*state, array.instances);
      auto built = registry->build_state(*state, array);
      array.panic = built->panic;  // a panic that outlived a restart started before it
      table = table->with(std::move(built));
      state->arrays.emplace(array.name, std::move(array));
    }
    state->stored_geo = state->store.load_geo();
    sort_geo(state->stored_geo);
    if (!state->stored_geo.regions.empty() || !state->stored_geo.networks.empty()) {
      // The API's regions and networks, served at once; set_geo adds the config's.
      try {
        state->geo = compose_geo(state->config_geo, state->stored_geo);
      } catch (const std::invalid_argument& error) {
        spdlog::error("registry: the stored regions and networks cannot be served: {}", error.what());
      }
      if (state->geo.regions == nullptr) state->geo.regions = geo::RegionTable::build({});
      *registry->declared_regions_.lock() = state->geo.regions;
      table = std::make_shared<const arrays::ArrayTable>();
      for (const auto& [name, array] : state->arrays) {
        registry->learn_regions(*state, array.instances);
        table = table->with(registry->build_state(*state, array));
      }
    }
    composer.set_geo(state->geo);
    composer.set_arrays(std::move(table));
    spdlog::info("registry: {} arrays", state->arrays.size());
  }
  registry->store_->set_change_handler(
      [raw = registry.get()](const StoreChanges& changes) { raw->reload_from_store(changes); });
  return registry;
}

StoreStatus Registry::store_status() const { return store_->status(); }

void Registry::adopt(State& state, StoredArray stored) {
  const auto wire = zones::name_from_text(stored.name);
  if (!wire) {
    spdlog::warn("registry: the store has an array with a bad name, ignored: {}", stored.name);
    return;
  }
  auto found = state.arrays.find(stored.name);
  if (found == state.arrays.end()) {
    ArrayModel created{.name = stored.name, .slot = take_slot(state)};
    found = state.arrays.emplace(stored.name, std::move(created)).first;
  }
  ArrayModel& array = found->second;
  for (const Instance& instance : array.instances) state.owner_of.erase(instance.id);
  array.id = stored.id;
  array.wire_name = *wire;
  array.settings = std::move(stored.settings);
  carry_ramps(array.instances, stored.instances, started_ms_);
  array.instances = std::move(stored.instances);
  for (const Instance& instance : array.instances) state.owner_of[instance.id] = array.name;
  publish(state, array, PanicNote::follow);
}

void Registry::forget(State& state, const std::string& name) {
  const auto found = state.arrays.find(name);
  if (found == state.arrays.end()) return;
  for (const Instance& instance : found->second.instances) state.owner_of.erase(instance.id);
  state.free_slots.push_back(found->second.slot);
  composer_.remove_array(found->second.wire_name);
  state.arrays.erase(found);
}

void Registry::reload_from_store(const StoreChanges& changes) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  bool any = false;
  for (const std::string& name : changes.arrays) {
    std::optional<StoredArray> stored = state->store.load_array(name);
    const auto model = state->arrays.find(name);
    if (!stored) {
      if (model == state->arrays.end()) continue;
      forget(*state, name);
      any = true;
      continue;
    }
    if (model != state->arrays.end() && model->second.id == stored->id &&
        same_settings(model->second.settings, stored->settings) &&
        same_instances(model->second.instances, stored->instances)) {
      continue;  // our own write coming back, or nothing that matters
    }
    adopt(*state, std::move(*stored));
    any = true;
  }
  for (const std::string& zone : changes.zones) {
    const auto serial = state->store.zone_serial(zone);
    if (serial) serve_synthetic_zone(*state, zone, *serial);
  }
  if (changes.geo) reload_geo(*state);
  if (any) changed(*state);
}


namespace {

// normalize() of a name whose labels are made of bytes name_to_text shows as
// themselves (0x21 to 0x7E but '.' and '\\'): the text is the name lowered
// with a final dot, the wire its labels. nullopt for anything else (an
// escape, an empty or long label, a long name, the root), which the slow
// path handles or refuses.
std::optional<Registry::Name> plain_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  // The wire form is one byte longer than the text with its final dot.
  if (name.empty() || name.size() + 2 > dns::kMaxNameLength) return std::nullopt;
  Registry::Name out;
  out.text.resize(name.size() + 1);
  out.wire.resize(name.size() + 2);
  char* const text = out.text.data();
  char* const wire = out.wire.data();
  // The name's byte i is the wire's byte i + 1; a label starting at byte s
  // has its length at the wire's byte s (where the dot before it was).
  size_t label_start = 0;
  const auto end_label = [&](size_t end) {
    const size_t length = end - label_start;
    if (length == 0 || length > dns::kMaxLabelLength) return false;
    wire[label_start] = static_cast<char>(length);
    label_start = end + 1;
    return true;
  };
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '.') {
      if (!end_label(i)) return std::nullopt;
      text[i] = '.';
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F || c == '\\') return std::nullopt;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
    text[i] = c;
    wire[i + 1] = c;
  }
  if (!end_label(name.size())) return std::nullopt;
  text[name.size()] = '.';
  wire[name.size() + 1] = '\0';  // the root label
  return out;
}

}  // namespace

Registry::Name Registry::normalize(std::string_view name) {
  if (auto plain = plain_name(name)) return std::move(*plain);
  auto wire = zones::lower_name_from_text(name);
  if (!wire || wire->size() <= 1) {
    throw ValidationError("name: '" + std::string(name) + "' is not a valid domain name");
  }
  return {zones::name_to_text(*wire), std::move(*wire)};
}

void Registry::validate(const arrays::ArraySettings& settings) {
  if (settings.ttl > kMaxTtl) throw ValidationError("ttl: must be at most 2147483647");
  if (settings.degraded_ttl > kMaxTtl) {
    throw ValidationError("degraded_ttl: must be at most 2147483647");
  }
  if (settings.max_answers > arrays::kMaxInstancesPerArray) {
    throw ValidationError("max_answers: must be at most " +
                          std::to_string(arrays::kMaxInstancesPerArray));
  }
  if (!(settings.min_healthy >= 0 && settings.min_healthy <= 1)) {
    throw ValidationError("min_healthy: must be a share from 0 to 1");
  }
  if (settings.slow_start_ms < 0) throw ValidationError("slow_start: must not be negative");
  validate_check(settings.check, "", "check");
}

void Registry::validate_check(const std::string& array_check, const std::string& instance_check,
                              const std::string& field) {
  try {
    probes::effective_check(array_check, instance_check, field);
  } catch (const FieldError& error) {
    throw ValidationError(error.what());
  }
}

void Registry::changed(const State& state) const {
  if (state.change_listener) state.change_listener();
}

void Registry::set_change_listener(std::function<void()> listener) {
  auto state = state_.lock();
  state->change_listener = std::move(listener);
}

void Registry::validate(const InstanceSpec& spec) {
  if (spec.address.family != 4 && spec.address.family != 6) {
    throw ValidationError("address: not an IPv4 or IPv6 address");
  }
  if (spec.address.unmapped() != spec.address) {
    throw ValidationError("address: " + spec.address.to_string() +
                          " is IPv4-mapped; give it as " + spec.address.unmapped().to_string());
  }
  if (const std::string_view why = spec.address.not_a_server(); !why.empty()) {
    throw ValidationError("address: " + spec.address.to_string() + " cannot be a server: " +
                          std::string(why));
  }
  if (spec.weight < 1 || spec.weight > 1000) {
    throw ValidationError("weight: must be between 1 and 1000, got " + std::to_string(spec.weight));
  }
  if (spec.region.size() > kMaxRegionLength) {
    throw ValidationError("region: longer than " + std::to_string(kMaxRegionLength) +
                          " characters");
  }
  if (spec.lat.has_value() != spec.lon.has_value()) {
    throw ValidationError("lat, lon: give both or neither");
  }
  if (spec.lat && !(std::isfinite(*spec.lat) && std::abs(*spec.lat) <= 90)) {
    throw ValidationError("lat: must be between -90 and 90");
  }
  if (spec.lon && !(std::isfinite(*spec.lon) && std::abs(*spec.lon) <= 180)) {
    throw ValidationError("lon: must be between -180 and 180");
  }
}

Registry::ArrayModel& Registry::model(State& state, std::string_view name) {
  const auto found = state.arrays.find(normalize(name).text);
  if (found == state.arrays.end()) throw NotFoundError("no array " + std::string(name));
  return found->second;
}

std::optional<std::string> Registry::synthetic_zone_of(std::string_view wire_name) {
  const auto zone = composer_.served_zone(wire_name);
  if (!zone || !zone->synthetic) return std::nullopt;
  return zones::name_to_text(zone->origin);
}

template <typename Write>
void Registry::write_in_zone(State& state, const std::optional<std::string>& zone, std::string_view token,
                             Write&& write) {
  const OriginScope origin(state.store, {.source = "api", .token = std::string(token)});
  if (!zone) {
    write();  // one store call: a transaction of its own, without a savepoint inside another
    return;
  }
  std::optional<uint32_t> serial;
  state.store.atomically([&] {
    write();
    if (zone) serial = state.store.bump_zone_serial(*zone);
  });
  if (serial) serve_synthetic_zone(state, *zone, *serial);
}

void Registry::serve_synthetic_zone(State& state, const std::string& origin, uint32_t serial) {
  const auto spec = state.synthetic.find(origin);
  if (spec == state.synthetic.end()) return;
  uint32_t& served = state.served_serial[origin];
  if (served == serial) return;
  served = serial;
  composer_.put_synthetic_zone(build_synthetic_zone(spec->second, serial));
}

uint32_t Registry::take_slot(State& state) {
  if (state.free_slots.empty()) return state.next_slot++;
  const uint32_t slot = state.free_slots.back();
  state.free_slots.pop_back();
  return slot;
}

// Region labels the config did not declare still get ids, so that instances
// in the same undeclared region group together for the geo policy.
void Registry::learn_regions(State& state, const std::vector<Instance>& instances) {
  auto regions = state.geo.regions;
  for (const Instance& instance : instances) {
    if (!instance.spec.region.empty() && regions->id(instance.spec.region) == arrays::kNoRegion) {
      regions = regions->with_label(instance.spec.region);
    }
  }
  if (regions == state.geo.regions) return;
  state.geo.regions = std::move(regions);
  composer_.set_geo(state.geo);
}

std::shared_ptr<const arrays::ArrayState> Registry::build_state(const State& state,
                                                                const ArrayModel& array) const {
  return arrays::ArrayState::build(array.wire_name, array.slot, array.settings,
                                   reported_instances(state, array), *state.geo.regions, now_ms());
}

void Registry::publish(State& state, ArrayModel& array, PanicNote note) {
  learn_regions(state, array.instances);
  auto built = build_state(state, array);
  note_panic(state, array, *built, note);
  watch_ramps(state, *built);
  composer_.put_array(std::move(built));
}

void Registry::watch_ramps(State& state, const arrays::ArrayState& built) {
  if (!built.v4.ramping && !built.v6.ramping) return;
  if (!state.ramps_running) {
    state.ramps_running = true;
    ramp_wake_.notify_all();
  }
}

namespace {

bool same_weights(const arrays::ArrayState& a, const arrays::ArrayState& b) {
  const auto same = [](const arrays::FamilyCandidates& x, const arrays::FamilyCandidates& y) {
    return std::equal(x.instances.begin(), x.instances.end(), y.instances.begin(), y.instances.end(),
                      [](const arrays::AnswerInstance& i, const arrays::AnswerInstance& j) {
                        return i.weight == j.weight;
                      });
  };
  return same(a.v4, b.v4) && same(a.v6, b.v6);
}

}  // namespace

size_t Registry::advance_ramps() {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  return advance_ramps(*state);
}

size_t Registry::advance_ramps(State& state) {
  auto table = composer_.arrays();
  size_t republished = 0;
  bool running = false;
  for (auto& [name, array] : state.arrays) {
    if (array.settings.slow_start_ms <= 0) continue;
    const arrays::ArrayState* served = table->find(array.wire_name);
    if (served == nullptr || (!served->v4.ramping && !served->v6.ramping)) continue;
    auto built = build_state(state, array);
    running = running || built->v4.ramping || built->v6.ramping;
    if (same_weights(*served, *built)) continue;
    table = table->with(std::move(built));
    ++republished;
  }
  if (republished > 0) composer_.set_arrays(std::move(table));
  state.ramps_running = running;
  return republished;
}

void Registry::run_ramps() {
  lower_this_thread_priority();
  auto state = state_.lock();
  while (!state->stopping) {
    if (!state->ramps_running) {
      ramp_wake_.wait(state.lock(), [&] { return state->stopping || state->ramps_running; });
      continue;
    }
    // A fixed pace whatever starts meanwhile: at most one republish of an
    // array per interval.
    ramp_wake_.wait_for(state.lock(), options_.ramp_interval, [&] { return state->stopping; });
    if (state->stopping) break;
    SnapshotComposer::Batch batch(composer_);
    advance_ramps(*state);
  }
}

namespace {

std::string share_text(double share) { return nlohmann::json(share).dump(); }

// "1 of 4 enabled IPv4 instances healthy" for each family the array has.
std::string health_counts(const arrays::ArrayState& built) {
  std::string text;
  for (const auto* family : {&built.v4, &built.v6}) {
    if (!family->exists) continue;
    if (!text.empty()) text += ", ";
    text += std::to_string(family->healthy_count) + " of " + std::to_string(family->enabled_count) +
            " enabled " + (family == &built.v4 ? "IPv4" : "IPv6") + " instances healthy";
  }
  return text.empty() ? "no enabled instance" : text;
}

}  // namespace

void Registry::note_panic(State& state, ArrayModel& array, const arrays::ArrayState& built,
                          PanicNote note) {
  if (note == PanicNote::ignore || built.panic == array.panic) return;
  array.panic = built.panic;
  if (note != PanicNote::record) return;
  const std::string threshold = "min_healthy " + share_text(array.settings.min_healthy);
  Event event{.time_ms = now_ms(),
              .array_name = array.name,
              .kind = "panic",
              .old_value = built.panic ? "off" : "on",
              .new_value = built.panic ? "on" : "off",
              .reason = health_counts(built) +
                        (built.panic ? ", below " + threshold + ": answering every enabled one"
                                     : ": panic mode over (" + threshold + ")")};
  try {
    state.store.append_events({std::move(event)});
  } catch (const StoreError& error) {
    // The change itself is committed and served; only its note is lost.
    spdlog::warn("registry: {}: panic mode {}, but its event was not written: {}", array.name,
                 built.panic ? "started" : "ended", error.what());
  }
}

void Registry::apply_reported(const State& state, Instance& instance) {
  const auto found = state.reported.find(instance.id);
  if (found == state.reported.end()) return;
  instance.reported_weight = found->second.weight;
  instance.reported_draining = found->second.draining;
}

std::vector<Instance> Registry::reported_instances(const State& state, const ArrayModel& array) {
  std::vector<Instance> instances = array.instances;
  if (state.reported.empty()) return instances;
  for (Instance& instance : instances) apply_reported(state, instance);
  return instances;
}

RegisteredArray Registry::view(const State& state, const ArrayModel& array) {
  const auto claim = state.claimed.find(array.name);
  return {array.id, array.name, array.settings, reported_instances(state, array), array.slot,
          claim == state.claimed.end() ? std::string() : claim->second.source};
}

std::vector<RegisteredArray> Registry::arrays() const {
  auto state = state_.lock();
  std::vector<RegisteredArray> out;
  out.reserve(state->arrays.size());
  for (const auto& [name, array] : state->arrays) out.push_back(view(*state, array));
  return out;
}

std::optional<RegisteredArray> Registry::find(std::string_view name) const {
  const std::string key = normalize(name).text;
  auto state = state_.lock();
  const auto found = state->arrays.find(key);
  if (found == state->arrays.end()) return std::nullopt;
  return view(*state, found->second);
}

std::optional<Registry::FoundInstance> Registry::find_instance_in(std::string_view name, int64_t id) const {
  const std::string key = normalize(name).text;
  auto state = state_.lock();
  const auto found = state->arrays.find(key);
  if (found == state->arrays.end()) return std::nullopt;
  const ArrayModel& array = found->second;
  FoundInstance out{.array = array.name, .settings = array.settings, .instance = std::nullopt};
  const auto instance = std::find_if(array.instances.begin(), array.instances.end(),
                                     [id](const Instance& i) { return i.id == id; });
  if (instance == array.instances.end()) return out;
  out.instance = *instance;
  apply_reported(*state, *out.instance);
  return out;
}

std::vector<LocatedInstance> Registry::find_instances(const arrays::IpAddress& address) const {
  auto state = state_.lock();
  std::vector<LocatedInstance> out;
  for (const auto& [name, array] : state->arrays) {
    for (const arrays::Instance& instance : array.instances) {
      if (instance.spec.address != address) continue;
      out.push_back({array.name, instance});
      apply_reported(*state, out.back().instance);
    }
  }
  return out;
}

std::vector<Event> Registry::events(const EventFilter& filter) const {
  auto state = state_.lock();
  return state->store.events(filter);
}

void Registry::validate_fallback(const State& state, const std::string& array,
                                 const arrays::ArraySettings& settings) const {
  if (settings.fallback.empty()) return;
  const Name fallback = normalize(settings.fallback);
  if (fallback.text == array) throw ValidationError("fallback: an array cannot be its own fallback");
  if (!composer_.served_zone(fallback.wire)) {
    throw ValidationError("fallback: " + fallback.text + " is not in a zone rotor serves");
  }
  std::string chain = array;
  std::string at = fallback.text;
  for (int hop = 1; !at.empty(); ++hop) {
    chain += " -> " + at;
    if (at == array) throw ValidationError("fallback: a cycle (" + chain + ")");
    if (hop > arrays::kMaxFallbackHops) {
      throw ValidationError("fallback: more than " + std::to_string(arrays::kMaxFallbackHops) +
                            " fallbacks in a chain (" + chain + ")");
    }
    const auto next = state.arrays.find(at);
    at = next == state.arrays.end() ? std::string() : next->second.settings.fallback;
  }
}

RegisteredArray Registry::upsert_array(std::string_view name, const arrays::ArraySettings& settings,
                                       std::string_view token) {
  const Name normalized = normalize(name);
  validate(settings);
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  const auto existing = state->arrays.find(normalized.text);
  if (existing == state->arrays.end() && !composer_.served_zone(normalized.wire)) {
    throw ValidationError("name: " + normalized.text + " is not in a zone rotor serves");
  }
  if (existing == state->arrays.end()) {
    if (auto error = composer_.array_signing_error(normalized.wire)) {
      throw ValidationError("name: " + *error);
    }
    if (auto conflict = composer_.array_conflict(normalized.wire)) {
      throw ConflictError("name: " + *conflict);
    }
  }
  validate_fallback(*state, normalized.text, settings);
  if (existing != state->arrays.end() && !same_settings(existing->second.settings, settings)) {
    refuse_if_claimed(*state, normalized.text, "settings");
  }
  if (existing != state->arrays.end()) {
    for (const Instance& instance : existing->second.instances) {
      if (instance.spec.check.empty()) continue;
      try {
        validate_check(settings.check, instance.spec.check, "check");
      } catch (const ValidationError& error) {
        throw ValidationError(std::string(error.what()) + " (with the check override of instance " +
                              std::to_string(instance.id) + ")");
      }
    }
  }
  int64_t id = 0;
  write_in_zone(*state, synthetic_zone_of(normalized.wire), token,
                [&] { id = state->store.upsert_array(normalized.text, settings, now_ms()); });
  if (existing == state->arrays.end()) {
    ArrayModel created{.id = id,
                       .name = normalized.text,
                       .wire_name = normalized.wire,
                       .settings = settings,
                       .slot = take_slot(*state)};
    const auto [inserted, _] = state->arrays.emplace(normalized.text, std::move(created));
    publish(*state, inserted->second);
    changed(*state);
    return view(*state, inserted->second);
  }
  existing->second.settings = settings;
  publish(*state, existing->second);
  changed(*state);
  return view(*state, existing->second);
}

void Registry::delete_array(std::string_view name, std::string_view token) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  ArrayModel& array = model(*state, name);
  refuse_if_claimed(*state, array.name, "existence");
  write_in_zone(*state, synthetic_zone_of(array.wire_name), token,
                [&] { state->store.delete_array(array.name, now_ms()); });
  for (const Instance& instance : array.instances) state->owner_of.erase(instance.id);
  state->free_slots.push_back(array.slot);
  composer_.remove_array(array.wire_name);
  const std::string erased = array.name;  // `array` dies with its map entry
  state->arrays.erase(erased);
  changed(*state);
}

Instance Registry::add_instance(std::string_view array_name, const InstanceSpec& spec,
                                std::string_view token) {
  validate(spec);
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  ArrayModel& array = model(*state, array_name);
  validate_check(array.settings.check, spec.check, "check");
  if (array.instances.size() >= arrays::kMaxInstancesPerArray) {
    throw ValidationError("instances: " + array.name + " already has the maximum of " +
                          std::to_string(arrays::kMaxInstancesPerArray));
  }
  Instance added;
  write_in_zone(*state, synthetic_zone_of(array.wire_name), token,
                [&] { added = state->store.add_instance(array.name, spec, now_ms()); });
  array.instances.push_back(added);  // ids only grow, so the order by id holds
  state->owner_of[added.id] = array.name;
  publish(*state, array);
  changed(*state);
  return added;
}

namespace {

// The instance `id` of `array`, or NotFoundError naming both.
template <typename Array>
auto find_instance(Array& array, int64_t id) {
  const auto found = std::find_if(array.instances.begin(), array.instances.end(),
                                  [id](const Instance& i) { return i.id == id; });
  if (found == array.instances.end()) {
    throw NotFoundError("no instance " + std::to_string(id) + " in " + array.name);
  }
  return found;
}

}  // namespace

Instance Registry::update_instance(std::string_view array_name, int64_t id, const InstanceSpec& spec,
                                   std::string_view token) {
  validate(spec);
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  ArrayModel& array = model(*state, array_name);
  const auto found = find_instance(array, id);
  if (!same_spec(found->spec, spec)) refuse_if_listed(*state, array.name, found->spec.address, "address");
  validate_check(array.settings.check, spec.check, "check");
  Instance updated;
  write_in_zone(*state, synthetic_zone_of(array.wire_name), token,
                [&] { updated = state->store.update_known_instance(array.name, *found, spec, now_ms()); });
  updated.slow_start_from_ms = ramp_start(*found, updated.health, updated.health_changed_ms, started_ms_);
  const bool probing = may_change_probing(array.settings.check, found->spec, updated.spec);
  *found = updated;
  publish(*state, array);
  if (probing) changed(*state);
  return updated;
}

void Registry::remove_instance(std::string_view array_name, int64_t id, std::string_view token) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  ArrayModel& array = model(*state, array_name);
  const auto found = find_instance(array, id);
  refuse_if_listed(*state, array.name, found->spec.address, "address");
  write_in_zone(*state, synthetic_zone_of(array.wire_name), token,
                [&] { state->store.remove_instance(array.name, id, now_ms()); });
  array.instances.erase(found);
  state->owner_of.erase(id);
  publish(*state, array);
  changed(*state);
}

std::vector<Instance> Registry::replace_instances(std::string_view array_name,
                                                  const std::vector<InstanceSpec>& specs,
                                                  std::string_view token) {
  if (specs.size() > arrays::kMaxInstancesPerArray) {
    throw ValidationError("instances: at most " + std::to_string(arrays::kMaxInstancesPerArray));
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    try {
      validate(specs[i]);
    } catch (const ValidationError& error) {
      throw ValidationError("instances[" + std::to_string(i) + "]." + error.what());
    }
  }
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  ArrayModel& array = model(*state, array_name);
  for (size_t i = 0; i < specs.size(); ++i) {
    validate_check(array.settings.check, specs[i].check,
                   "instances[" + std::to_string(i) + "].check");
  }
  // The instances the config lists stay as the config has them (a scan of
  // the specs per instance: only for an array the config claims).
  if (state->claimed.contains(array.name)) {
    for (const Instance& instance : array.instances) {
      const auto kept = std::find_if(specs.begin(), specs.end(), [&](const InstanceSpec& spec) {
        return same_spec(spec, instance.spec);
      });
      if (kept == specs.end()) refuse_if_listed(*state, array.name, instance.spec.address, "instances");
    }
  }
  std::vector<Instance> instances;
  write_in_zone(*state, synthetic_zone_of(array.wire_name), token,
                [&] { instances = state->store.replace_instances(array.name, specs, now_ms()); });
  for (const Instance& instance : array.instances) state->owner_of.erase(instance.id);
  for (const Instance& instance : instances) state->owner_of[instance.id] = array.name;
  carry_ramps(array.instances, instances, started_ms_);
  array.instances = instances;
  publish(*state, array);
  changed(*state);
  return instances;
}

bool Registry::set_health(int64_t instance_id, arrays::Health health, std::string reason) {
  return set_health_many({{instance_id, health, std::move(reason)}}) == 1;
}

std::vector<HealthChange> Registry::health_changes(const State& state,
                                                   const std::vector<HealthUpdate>& updates) const {
  const int64_t now = now_ms();
  std::vector<HealthChange> changes;
  for (const HealthUpdate& update : updates) {
    const auto owner = state.owner_of.find(update.instance_id);
    if (owner == state.owner_of.end()) continue;  // removed while its probe ran
    // Probes report every round; only a transition is worth a transaction.
    const auto& instances = state.arrays.at(owner->second).instances;
    const bool same = std::any_of(instances.begin(), instances.end(), [&](const Instance& i) {
      return i.id == update.instance_id && i.health == update.health;
    });
    if (same) continue;
    changes.push_back({update.instance_id, update.health, update.reason, now});
  }
  return changes;
}

size_t Registry::serve_health(State& state, const std::vector<HealthChange>& applied,
                              PanicNote note) {
  std::set<std::string> touched;
  for (const HealthChange& change : applied) {
    ArrayModel& array = state.arrays.at(state.owner_of.at(change.instance_id));
    for (Instance& instance : array.instances) {
      if (instance.id != change.instance_id) continue;
      instance.slow_start_from_ms = ramp_start(instance, change.health, change.time_ms, started_ms_);
      instance.health = change.health;
      instance.health_changed_ms = change.time_ms;
      instance.health_reason = change.reason;
    }
    touched.insert(array.name);
  }
  if (touched.empty()) return 0;
  // One table for the whole batch: one publish however many arrays flipped.
  auto table = composer_.arrays();
  for (const std::string& name : touched) {
    ArrayModel& array = state.arrays.at(name);
    auto built = build_state(state, array);
    note_panic(state, array, *built, note);
    watch_ramps(state, *built);
    table = table->with(std::move(built));
  }
  composer_.set_arrays(std::move(table));
  return applied.size();
}

void Registry::republish(State& state, const std::set<std::string>& names) {
  if (names.empty()) return;
  auto table = composer_.arrays();
  for (const std::string& name : names) {
    ArrayModel& array = state.arrays.at(name);
    auto built = build_state(state, array);
    // Every node of a cluster applies the same reports: none writes a panic
    // event for them (the mode itself is served and explained).
    note_panic(state, array, *built, PanicNote::follow);
    watch_ramps(state, *built);
    table = table->with(std::move(built));
  }
  composer_.set_arrays(std::move(table));
}

size_t Registry::set_reported_many(const std::vector<ReportedUpdate>& updates) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  std::set<std::string> touched;
  size_t changed = 0;
  for (const ReportedUpdate& update : updates) {
    const auto owner = state->owner_of.find(update.instance_id);
    if (owner == state->owner_of.end()) continue;  // removed while its probe ran
    const auto found = state->reported.find(update.instance_id);
    const bool full = update.weight == 100 && !update.draining;
    const bool same = found == state->reported.end()
                          ? full
                          : found->second.weight == update.weight && found->second.draining == update.draining;
    if (same) continue;
    if (full) {
      state->reported.erase(update.instance_id);
    } else {
      state->reported[update.instance_id] = update;
    }
    touched.insert(owner->second);
    ++changed;
  }
  republish(*state, touched);
  return changed;
}

void Registry::keep_reported_only(const std::set<int64_t>& instance_ids) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  std::set<std::string> touched;
  for (auto it = state->reported.begin(); it != state->reported.end();) {
    if (instance_ids.contains(it->first)) {
      ++it;
      continue;
    }
    const auto owner = state->owner_of.find(it->first);
    if (owner != state->owner_of.end()) touched.insert(owner->second);
    it = state->reported.erase(it);
  }
  republish(*state, touched);
}

size_t Registry::apply_health_locally(const std::vector<HealthUpdate>& updates) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  return serve_health(*state, health_changes(*state, updates), PanicNote::ignore);
}

size_t Registry::record_health(const std::vector<HealthUpdate>& updates) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  const int64_t now = now_ms();
  std::vector<HealthChange> changes;
  for (const HealthUpdate& update : updates) {
    if (state->owner_of.contains(update.instance_id)) {
      changes.push_back({update.instance_id, update.health, update.reason, now});
    }
  }
  if (changes.empty()) return 0;
  const size_t written = state->store.set_health_many(changes).size();
  // What this node did not serve yet; a panic change this node served
  // without the store (apply_health_locally) is noted as well.
  serve_health(*state, health_changes(*state, updates), PanicNote::record);
  for (const HealthUpdate& update : updates) {
    const auto owner = state->owner_of.find(update.instance_id);
    if (owner == state->owner_of.end()) continue;
    ArrayModel& array = state->arrays.at(owner->second);
    if (const arrays::ArrayState* served = composer_.arrays()->find(array.wire_name)) {
      note_panic(*state, array, *served, PanicNote::record);
    }
  }
  return written;
}

size_t Registry::record_damping(const std::vector<DampingUpdate>& updates) {
  auto state = state_.lock();
  const int64_t now = now_ms();
  std::vector<Event> events;
  for (const DampingUpdate& update : updates) {
    const auto owner = state->owner_of.find(update.instance_id);
    if (owner == state->owner_of.end()) continue;  // removed while its probe ran
    const ArrayModel& array = state->arrays.at(owner->second);
    const auto instance = std::find_if(array.instances.begin(), array.instances.end(),
                                       [&](const Instance& i) { return i.id == update.instance_id; });
    if (instance == array.instances.end()) continue;
    const std::string address = instance->spec.address.to_string();
    events.push_back(update.held ? audit::damping_started(array.name, update.instance_id, address,
                                                          update.until_ms, now)
                                 : audit::damping_ended(array.name, update.instance_id, address,
                                                        update.reason, now));
  }
  if (!events.empty()) state->store.append_events(events);
  return events.size();
}

void Registry::record_event(const Event& event, const EventOrigin& origin) {
  auto state = state_.lock();
  const OriginScope scope(state->store, origin);
  state->store.append_events({event});
}

size_t Registry::set_health_many(const std::vector<HealthUpdate>& updates) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  const std::vector<HealthChange> changes = health_changes(*state, updates);
  if (changes.empty()) return 0;
  return serve_health(*state, state->store.set_health_many(changes), PanicNote::record);
}

Registry::PlannedArray Registry::plan_config_array(const State& state,
                                                  const ConfigArray& config) const {
  PlannedArray planned{normalize(config.name), &config, false, {}};
  const std::string& name = planned.name.text;
  try {
    validate(config.settings);
    std::set<std::string> listed;
    for (const InstanceSpec& spec : config.instances) {
      validate(spec);
      validate_check(config.settings.check, spec.check,
                     "instance " + spec.address.to_string() + " check");
      if (!listed.insert(spec.address.to_string()).second) {
        throw ValidationError("address " + spec.address.to_string() + " is listed twice");
      }
    }
  } catch (const ValidationError& error) {
    throw ValidationError("array " + name + ": " + error.what());
  }
  if (!composer_.served_zone(planned.name.wire)) {
    throw ValidationError("array " + name + ": not in a zone rotor serves");
  }
  if (auto error = composer_.array_signing_error(planned.name.wire)) {
    throw ValidationError("array " + name + ": " + *error);
  }
  if (auto conflict = composer_.array_conflict(planned.name.wire)) {
    throw ConflictError("array " + name + ": " + *conflict);
  }
  const auto existing = state.arrays.find(name);
  planned.write_settings =
      existing == state.arrays.end() || !same_settings(existing->second.settings, config.settings);
  size_t added = 0;
  for (const InstanceSpec& spec : config.instances) {
    const Instance* known = nullptr;
    if (existing != state.arrays.end()) {
      for (const Instance& instance : existing->second.instances) {
        if (instance.spec.address == spec.address) known = &instance;
      }
    }
    if (known == nullptr) {
      planned.pending.push_back({&spec, 0});
      ++added;
    } else if (!same_spec(known->spec, spec)) {
      planned.pending.push_back({&spec, known->id});
    }
  }
  const size_t total = added +
                       (existing == state.arrays.end() ? 0 : existing->second.instances.size());
  if (total > arrays::kMaxInstancesPerArray) {
    throw ValidationError("array " + name + ": more than " +
                          std::to_string(arrays::kMaxInstancesPerArray) + " instances");
  }
  return planned;
}

void Registry::apply_config_arrays(const std::vector<ConfigArray>& config_arrays) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  std::vector<PlannedArray> plan;
  for (const ConfigArray& config : config_arrays) {
    PlannedArray planned = plan_config_array(*state, config);
    // What the store already has is not written again: every node of a
    // cluster applies the same config, and N restarts must not churn it.
    if (planned.write_settings || !planned.pending.empty()) plan.push_back(std::move(planned));
  }
  // As few transactions as the store allows, each valid on its own: an
  // array's settings come first, its instances may follow in later ones.
  const size_t limit = std::max<size_t>(1, state->store.max_writes_per_transaction());
  std::vector<std::vector<ConfigPiece>> transactions(1);
  size_t used = 0;
  for (const PlannedArray& planned : plan) {
    bool settings = planned.write_settings;
    size_t next = 0;
    while (settings || next < planned.pending.size()) {
      if (used == limit) {
        transactions.emplace_back();
        used = 0;
      }
      ConfigPiece piece{&planned, settings, next, next};
      used += settings ? 1 : 0;
      settings = false;
      piece.last = next + std::min(limit - used, planned.pending.size() - next);
      used += piece.last - next;
      next = piece.last;
      transactions.back().push_back(piece);
    }
  }
  for (const std::vector<ConfigPiece>& pieces : transactions) {
    if (!pieces.empty()) write_config_pieces(*state, pieces);
  }
  state->claimed.clear();
  for (const ConfigArray& config : config_arrays) {
    ConfigClaim& claim = state->claimed[normalize(config.name).text];
    claim.source = config.source.empty() ? "the config" : config.source;
    for (const InstanceSpec& spec : config.instances) claim.addresses.push_back(spec.address);
  }
  changed(*state);
}

std::optional<std::string> Registry::config_source(std::string_view name) const {
  const std::string normalized = normalize(name).text;
  auto state = state_.lock();
  const auto claim = state->claimed.find(normalized);
  if (claim == state->claimed.end()) return std::nullopt;
  return claim->second.source;
}

void Registry::refuse_if_claimed(const State& state, const std::string& array, const char* what) {
  const auto claim = state.claimed.find(array);
  if (claim == state.claimed.end()) return;
  throw OwnedByConfigError("name: array " + array + " is declared in the config (" +
                           claim->second.source + "), which owns its " + what +
                           ": change it there and reload (SIGHUP or POST /v1/reload)");
}

void Registry::refuse_if_listed(const State& state, const std::string& array,
                                const arrays::IpAddress& address, const std::string& field) {
  const auto claim = state.claimed.find(array);
  if (claim == state.claimed.end()) return;
  for (const arrays::IpAddress& listed : claim->second.addresses) {
    if (listed != address) continue;
    throw OwnedByConfigError(field + ": instance " + address.to_string() + " of " + array +
                             " is listed in the config (" + claim->second.source +
                             "): change it there and reload (SIGHUP or POST /v1/reload)");
  }
}

void Registry::write_config_pieces(State& state, const std::vector<ConfigPiece>& pieces) {
  struct Written {
    int64_t id = 0;
    std::vector<Instance> added;
    std::vector<Instance> updated;
  };
  std::vector<Written> written;
  std::map<std::string, uint32_t> serials;  // synthetic zone -> new serial
  const OriginScope origin(state.store, {.source = "config"});
  state.store.atomically([&] {
    written.clear();
    serials.clear();
    const int64_t now = now_ms();
    for (const ConfigPiece& piece : pieces) {
      const std::string& name = piece.array->name.text;
      Written& result = written.emplace_back();
      if (piece.settings) {
        result.id = state.store.upsert_array(name, piece.array->config->settings, now);
      }
      for (size_t i = piece.first; i < piece.last; ++i) {
        const PendingInstance& pending = piece.array->pending[i];
        if (pending.id == 0) {
          result.added.push_back(state.store.add_instance(name, *pending.spec, now));
        } else {
          result.updated.push_back(state.store.update_instance(name, pending.id, *pending.spec, now));
        }
      }
      if (const auto zone = synthetic_zone_of(piece.array->name.wire)) serials[*zone] = 0;
    }
    for (auto& [zone, serial] : serials) serial = state.store.bump_zone_serial(zone);
  });

  for (size_t i = 0; i < pieces.size(); ++i) {
    const PlannedArray& planned = *pieces[i].array;
    const std::string& name = planned.name.text;
    auto found = state.arrays.find(name);
    if (found == state.arrays.end()) {
      found = state.arrays
                  .emplace(name, ArrayModel{.id = written[i].id,
                                            .name = name,
                                            .wire_name = planned.name.wire,
                                            .slot = take_slot(state)})
                  .first;
    }
    ArrayModel& array = found->second;
    if (pieces[i].settings) {
      array.id = written[i].id;
      array.settings = planned.config->settings;
    }
    for (Instance& instance : written[i].added) {
      state.owner_of[instance.id] = name;
      array.instances.push_back(std::move(instance));
    }
    for (Instance& instance : written[i].updated) {
      for (Instance& known : array.instances) {
        if (known.id != instance.id) continue;
        instance.slow_start_from_ms =
            ramp_start(known, instance.health, instance.health_changed_ms, started_ms_);
        known = std::move(instance);
      }
    }
    publish(state, array);
  }
  for (const auto& [zone, serial] : serials) serve_synthetic_zone(state, zone, serial);
}

void Registry::set_synthetic_zones(const std::vector<SyntheticZoneSpec>& specs) {
  auto state = state_.lock();
  SnapshotComposer::Batch batch(composer_);
  std::map<std::string, SyntheticZoneSpec> by_origin;
  std::map<std::string, uint32_t> served;
  std::vector<std::shared_ptr<const zones::Zone>> built;
  for (const SyntheticZoneSpec& spec : specs) {
    const std::string origin = normalize(spec.name).text;
    if (!by_origin.emplace(origin, spec).second) {
      throw ValidationError("zone " + origin + " is declared twice");
    }
    const uint32_t stored = state->store.zone_serial(origin).value_or(0);
    const uint32_t serial = stored != 0 ? stored : first_serial(*state, origin);
    built.push_back(build_synthetic_zone(spec, serial));
    served[origin] = serial;
  }
  state->synthetic = std::move(by_origin);
  state->served_serial = std::move(served);
  composer_.set_synthetic_zones(std::move(built));
}

uint32_t Registry::first_serial(State& state, const std::string& origin) {
  try {
    return state.store.bump_zone_serial(origin);
  } catch (const ConcurrentChangeError&) {
    // Another node of the cluster made it first: take theirs.
    if (const auto serial = state.store.zone_serial(origin)) return *serial;
    throw;
  } catch (const StoreUnavailable& error) {
    // A cluster node starting while etcd is down: serve until the store reports the real one.
    spdlog::warn("zone {}: no serial yet and the store is unreachable; serving 1: {}", origin,
                 error.what());
    return 1;
  }
}

std::vector<std::string> Registry::warnings(const arrays::ArraySettings& settings,
                                           const std::string& path) const {
  return settings_warnings(settings, path);
}

std::vector<std::string> Registry::warnings(const InstanceSpec& spec,
                                           const std::string& path) const {
  const std::shared_ptr<const geo::RegionTable> declared = *declared_regions_.lock();
  return instance_warnings(spec, *declared, path);
}

}  // namespace rotor::registry
