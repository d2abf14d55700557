#include "server/registry/signed_arrays.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "server/arrays/fallback.h"
#include "server/arrays/signed_answers.h"
#include "server/dnssec/array_signer.h"

namespace rotor::registry {

namespace {

// The zone that signs `name` online, or null.
const zones::Zone* signing_zone(const zones::ZoneSet& zones, std::string_view name) {
  const zones::Zone* zone = zones.find_authoritative(name);
  return zone != nullptr && zone->online_signer() != nullptr ? zone : nullptr;
}

}  // namespace

std::shared_ptr<const arrays::ArrayTable> SignedArrays::update(
    const std::shared_ptr<const zones::ZoneSet>& zones,
    const std::shared_ptr<const arrays::ArrayTable>& source,
    const std::map<std::string, std::shared_ptr<const arrays::ArrayState>>& changes,
    bool replaced) {
  const bool any_signed =
      std::any_of(zones->zones().begin(), zones->zones().end(),
                  [](const auto& zone) { return zone->online_signer() != nullptr; });
  if (!any_signed) {  // the common case costs nothing
    entries_.clear();
    published_ = source;
  } else if (replaced || published_ == nullptr) {
    published_ = source;
    std::unordered_map<std::string, Entry> previous = std::move(entries_);
    entries_.clear();
    for (const auto& state : source->all()) {
      const zones::Zone* zone = signing_zone(*zones, state->name);
      if (zone == nullptr) continue;
      const Inputs inputs = inputs_of(state, *zone, *source);
      const auto old = previous.find(state->name);
      if (old != previous.end() && old->second.inputs == inputs) {
        entries_.emplace(state->name, old->second);
        published_ = published_->with(old->second.published);
      } else {
        sign(inputs, *source);
      }
    }
  } else {
    for (const auto& [name, state] : changes) {
      if (state == nullptr) {
        entries_.erase(name);
        published_ = published_->without(name);
      } else {
        consider(state, *zones, *source);
      }
    }
    follow_fallbacks(*source);
  }
  source_ = source;
  zones_ = zones;
  return published_;
}

void SignedArrays::consider(const std::shared_ptr<const arrays::ArrayState>& state,
                            const zones::ZoneSet& zones, const arrays::ArrayTable& source) {
  const zones::Zone* zone = signing_zone(zones, state->name);
  if (zone == nullptr) {
    entries_.erase(state->name);
    published_ = published_->with(state);
    return;
  }
  const Inputs inputs = inputs_of(state, *zone, source);
  const auto entry = entries_.find(state->name);
  if (entry == entries_.end() || !(entry->second.inputs == inputs)) sign(inputs, source);
}

void SignedArrays::follow_fallbacks(const arrays::ArrayTable& source) {
  std::vector<Inputs> stale;
  for (const auto& [name, entry] : entries_) {
    if (entry.inputs.state->fallback.empty()) continue;
    const Inputs now = inputs_of(entry.inputs.state, *entry.inputs.zone, source);
    if (!(now == entry.inputs)) stale.push_back(now);
  }
  for (const Inputs& inputs : stale) sign(inputs, source);
}

SignedArrays::Inputs SignedArrays::inputs_of(const std::shared_ptr<const arrays::ArrayState>& state,
                                             const zones::Zone& zone,
                                             const arrays::ArrayTable& source) const {
  return Inputs{.state = state,
                .answering4 = arrays::resolve_fallback(source, *state, 4).array,
                .answering6 = arrays::resolve_fallback(source, *state, 6).array,
                .zone = &zone};
}

void SignedArrays::sign(const Inputs& inputs, const arrays::ArrayTable& source) {
  const zones::OnlineSigner& signer = *inputs.zone->online_signer();
  dnssec::ArraySigningStats stats;
  auto copy = std::make_shared<arrays::ArrayState>(*inputs.state);
  copy->signatures = dnssec::sign_array(
      *inputs.state, source, *inputs.zone,
      [&](std::string_view owner, const zones::RRset& rrset) { return signer.sign(owner, rrset); },
      stats);
  ++stats_.arrays_signed;
  stats_.rrsets += stats.rrsets;
  stats_.failures += stats.failures;
  if (stats.failures > 0) {
    spdlog::error("array {}: {} of {} answer signatures failed; DO answers with them are unsigned",
                  inputs.state->name_text, stats.failures, stats.rrsets);
  }
  std::shared_ptr<const arrays::ArrayState> published = std::move(copy);
  entries_[inputs.state->name] = Entry{inputs, published};
  published_ = published_->with(std::move(published));
}

}  // namespace rotor::registry
