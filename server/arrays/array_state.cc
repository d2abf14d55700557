#include "server/arrays/array_state.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "server/common/mix.h"
#include "server/geo/geo.h"
#include "zones/zone.h"

namespace rotor::arrays {

namespace {

// The lead order repeats after this many steps at most, or after one step per
// candidate when there are more (every candidate leads at least once): 2 KiB
// per family and per region group up to 1024 candidates, 2 bytes per
// candidate beyond.
constexpr uint32_t kMaxLeadPeriod = 1024;

// Depends on the address alone, so a client keeps its sticky instance across
// restarts, re-registrations and id changes.
uint64_t address_seed(const IpAddress& address) noexcept {
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a
  const size_t length = address.family == 4 ? 4 : 16;
  hash = (hash ^ address.family) * 0x100000001b3ULL;
  for (size_t i = 0; i < length; ++i) hash = (hash ^ address.bytes[i]) * 0x100000001b3ULL;
  return mix64(hash);
}

// Weights reduced to the shortest period that keeps their proportions, or,
// when that period is over kMaxLeadPeriod, scaled to fit. Scaling moves each
// weight by less than one step (floor, or up to the minimum of 1), so an
// instance's share of leads is off by under 1/S plus its share times n/S
// (S = the scaled sum, about 1024; n = candidates): about ±0.1% for a
// handful of candidates, and still every instance leads at least once.
std::vector<uint32_t> period_weights(const std::vector<uint16_t>& weights) {
  const uint64_t period = std::max<uint64_t>(kMaxLeadPeriod, weights.size());
  std::vector<uint32_t> scaled(weights.begin(), weights.end());
  for (auto& weight : scaled) weight = std::max<uint32_t>(weight, 1);
  auto reduce = [&] {
    uint32_t divisor = 0;
    for (const auto weight : scaled) divisor = std::gcd(divisor, weight);
    for (auto& weight : scaled) weight /= divisor;
    return std::accumulate(scaled.begin(), scaled.end(), uint64_t{0});
  };
  uint64_t sum = reduce();
  if (sum <= period) return scaled;

  const std::vector<uint32_t> exact = scaled;
  double factor = static_cast<double>(period) / static_cast<double>(sum);
  // Raising tiny weights to 1 can push the sum over; shrink until it fits
  // (it always does: n <= period).
  for (;;) {
    uint64_t total = 0;
    for (size_t i = 0; i < exact.size(); ++i) {
      scaled[i] = std::max<uint32_t>(1, static_cast<uint32_t>(std::floor(exact[i] * factor)));
      total += scaled[i];
    }
    if (total <= period) break;
    factor *= 0.995 * static_cast<double>(period) / static_cast<double>(total);
  }
  reduce();
  return scaled;
}

// nginx's smooth weighted round robin over one period: every step each
// candidate gains its weight, the richest leads and pays the total. Leads are
// spread out (weights 5,1,1 give a a b a c a a, not a a a a a b c).
std::vector<uint16_t> smooth_weighted_leads(const std::vector<uint16_t>& weights) {
  const std::vector<uint32_t> scaled = period_weights(weights);
  const int64_t total = std::accumulate(scaled.begin(), scaled.end(), int64_t{0});
  if (static_cast<size_t>(total) == scaled.size()) {
    // Equal weights: each candidate leads once, in order (what the loop
    // below computes, in O(n) rather than O(n^2) for large arrays).
    std::vector<uint16_t> leads(scaled.size());
    std::iota(leads.begin(), leads.end(), uint16_t{0});
    return leads;
  }
  std::vector<int64_t> current(scaled.size(), 0);
  std::vector<uint16_t> leads;
  leads.reserve(static_cast<size_t>(total));
  for (int64_t step = 0; step < total; ++step) {
    size_t best = 0;
    for (size_t i = 0; i < scaled.size(); ++i) {
      current[i] += scaled[i];
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    leads.push_back(static_cast<uint16_t>(best));
  }
  return leads;
}

// Enabled by the operator and not asking its clients to go (a drain or a
// weight of 0 reported by the backend itself).
bool answerable(const Instance& instance) {
  return instance.spec.state == AdminState::enabled && reported_effective_weight(instance) > 0;
}

// The weight before slow start: the configured weight scaled by what the
// backend reports. Round robin has no weights: slow start ramps each
// instance to an equal share and a backend's report lowers its share, as if
// every weight were 100. Equal weights reduce to one lead per candidate
// (plain rotation); unequal reports give a longer lead order, which round
// robin then follows (selector.cc).
uint16_t full_weight(const Instance& instance, const ArraySettings& settings) {
  if (settings.policy == Policy::round_robin) return std::max<uint16_t>(instance.reported_weight, 1);
  return std::max<uint16_t>(reported_effective_weight(instance), 1);
}

// Fewer than `min_healthy` of `enabled` are healthy. The small tolerance
// keeps a share like 0.3 of 10 from panicking at exactly 3 by rounding.
bool below_min_healthy(size_t healthy, size_t enabled, double min_healthy) {
  return static_cast<double>(healthy) < min_healthy * static_cast<double>(enabled) - 1e-9;
}

FamilyCandidates build_family(uint8_t family, const std::vector<Instance>& instances,
                              const ArraySettings& settings, const geo::RegionTable& regions,
                              int64_t now_ms) {
  FamilyCandidates out;
  // Every vector below is sized once: growing them one instance at a time
  // was most of the allocations of a registry write (tests/bench/README.md,
  // Registry writes).
  std::vector<const Instance*> enabled;
  enabled.reserve(instances.size());
  for (const auto& instance : instances) {
    if (instance.spec.address.family == family && answerable(instance))
      enabled.push_back(&instance);
  }
  out.exists = !enabled.empty();

  std::vector<const Instance*> chosen;
  chosen.reserve(enabled.size());
  for (const auto* instance : enabled) {
    if (instance->health != Health::down) chosen.push_back(instance);
  }
  out.enabled_count = static_cast<uint16_t>(enabled.size());
  out.healthy_count = static_cast<uint16_t>(chosen.size());
  if (chosen.empty() && !enabled.empty() && settings.when_all_down == WhenAllDown::all) {
    // Better a possibly-dead address than none: the probes may be what is broken.
    chosen = enabled;
    out.failed_open = true;
  } else if (!chosen.empty() && below_min_healthy(chosen.size(), enabled.size(), settings.min_healthy)) {
    // Too few left to carry the load (gdnsd's up_thresh, Envoy's panic
    // threshold): spreading it over every enabled instance, some of them
    // possibly fine but judged down, beats overloading the few.
    chosen = enabled;
    out.panic = true;
  }

  std::vector<uint16_t> weights;
  weights.reserve(chosen.size());
  out.instances.reserve(chosen.size());
  for (const auto* instance : chosen) {
    AnswerInstance answer{};
    std::memcpy(answer.rdata, instance->spec.address.bytes, family == 4 ? 4 : 16);
    // configured x reported% x the slow-start ramp.
    const uint16_t full = full_weight(*instance, settings);
    answer.weight = slow_start_weight(*instance, full, settings.slow_start_ms, now_ms);
    out.ramping = out.ramping || answer.weight < full;
    answer.region = instance->spec.region.empty() ? kNoRegion : regions.id(instance->spec.region);
    answer.sticky_seed = address_seed(instance->spec.address);
    out.instances.push_back(answer);
    weights.push_back(answer.weight);
  }
  if (out.instances.empty()) return out;
  out.weighted_leads = smooth_weighted_leads(weights);

  // Groups in region id order (instances without a region last); within a
  // group, registry order. A group's leads are positions in by_region.
  const size_t n = out.instances.size();
  out.by_region.resize(n);
  std::iota(out.by_region.begin(), out.by_region.end(), uint16_t{0});
  std::sort(out.by_region.begin(), out.by_region.end(), [&](uint16_t a, uint16_t b) {
    const uint16_t ra = out.instances[a].region, rb = out.instances[b].region;
    return ra != rb ? ra < rb : a < b;
  });
  for (size_t begin = 0; begin < n;) {
    const uint16_t region = out.instances[out.by_region[begin]].region;
    size_t end = begin;
    std::vector<uint16_t> group_weights;
    while (end < n && out.instances[out.by_region[end]].region == region) {
      group_weights.push_back(out.instances[out.by_region[end]].weight);
      ++end;
    }
    FamilyCandidates::RegionGroup group{
        region, static_cast<uint16_t>(begin), static_cast<uint16_t>(end), {}};
    group.weighted_leads = smooth_weighted_leads(group_weights);
    for (auto& lead : group.weighted_leads) lead = static_cast<uint16_t>(lead + begin);
    out.regions.push_back(std::move(group));
    begin = end;
  }
  return out;
}

}  // namespace

uint16_t slow_start_weight(const Instance& instance, uint16_t full, int64_t slow_start_ms,
                           int64_t now_ms) {
  if (slow_start_ms <= 0 || instance.slow_start_from_ms == 0 || instance.health != Health::up) {
    return full;
  }
  const int64_t elapsed = std::max<int64_t>(0, now_ms - instance.slow_start_from_ms);
  if (elapsed >= slow_start_ms) return full;
  return static_cast<uint16_t>(std::max<int64_t>(1, full * elapsed / slow_start_ms));
}

uint16_t reported_effective_weight(const Instance& instance) noexcept {
  if (instance.reported_draining || instance.reported_weight == 0) return 0;
  const uint32_t configured = std::max<uint16_t>(instance.spec.weight, 1);
  const uint32_t percent = std::min<uint32_t>(instance.reported_weight, 100);
  return static_cast<uint16_t>(std::max<uint32_t>(1, (configured * percent + 50) / 100));
}

std::shared_ptr<const ArrayState> ArrayState::build(std::string name_wire, uint32_t slot,
                                                    ArraySettings settings,
                                                    std::vector<Instance> instances,
                                                    const geo::RegionTable& regions,
                                                    int64_t now_ms) {
  // The selector's scratch space (SelectionScratch) holds this many.
  if (instances.size() > kMaxInstancesPerArray) {
    throw std::length_error("too many instances (at most " + std::to_string(kMaxInstancesPerArray) +
                            " per array)");
  }
  auto state = std::make_shared<ArrayState>();
  state->name_text = zones::name_to_text(name_wire);
  state->name = std::move(name_wire);
  state->slot = slot;
  state->settings = settings;
  state->v4 = build_family(4, instances, settings, regions, now_ms);
  state->v6 = build_family(6, instances, settings, regions, now_ms);
  state->panic = state->v4.panic || state->v6.panic;
  state->degraded = std::any_of(instances.begin(), instances.end(), [](const Instance& instance) {
    return answerable(instance) && instance.health == Health::down;
  });
  state->answer_ttl = state->degraded ? settings.degraded_ttl : settings.ttl;
  if (!settings.fallback.empty()) {
    // Validated where the setting was accepted; a bad one only means no fallback.
    state->fallback = zones::lower_name_from_text(settings.fallback).value_or("");
  }
  state->instances = std::move(instances);
  return state;
}

}  // namespace rotor::arrays
