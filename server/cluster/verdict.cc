#include "server/cluster/verdict.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace rotor::cluster {
namespace {

using arrays::Health;
using probes::Quorum;

bool votes(const Observation& observation) { return observation.health != Health::unknown; }

std::string rule_text(const Quorum& quorum) {
  return quorum.rule == Quorum::Rule::count ? "quorum " + probes::to_string(quorum)
                                            : probes::to_string(quorum);
}

Health decide(const Quorum& quorum, size_t ups, size_t count) {
  const size_t downs = count - ups;
  switch (quorum.rule) {
    case Quorum::Rule::majority: return downs * 2 > count ? Health::down : Health::up;
    case Quorum::Rule::any: return ups > 0 ? Health::up : Health::down;
    case Quorum::Rule::all: return downs == 0 ? Health::up : Health::down;
    case Quorum::Rule::count: return ups >= std::min<size_t>(quorum.count, count) ? Health::up : Health::down;
  }
  return Health::up;
}

}  // namespace

Verdict verdict(std::vector<Observation> observations, const Quorum& quorum, Health previous,
                bool steady_vote_pending) {
  std::sort(observations.begin(), observations.end(),
            [](const Observation& a, const Observation& b) { return a.node < b.node; });
  const bool any_steady_vote = std::any_of(observations.begin(), observations.end(), [](const Observation& o) {
    return votes(o) && !o.abstaining;
  });
  Verdict out;
  out.quorum = quorum;
  size_t ups = 0;
  size_t counted = 0;
  size_t abstaining_left_out = 0;
  std::optional<size_t> first_down;  // index into out.observers
  for (Observation& observation : observations) {
    const bool abstainers_count = !any_steady_vote && !steady_vote_pending;
    const bool count = votes(observation) && (observation.abstaining ? abstainers_count : any_steady_vote);
    if (votes(observation) && observation.abstaining && !abstainers_count) ++abstaining_left_out;
    if (count) {
      ++counted;
      if (observation.health == Health::up) ++ups;
      if (observation.health == Health::down && !first_down) first_down = out.observers.size();
    }
    out.observers.push_back({std::move(observation), count});
  }
  if (counted == 0) {
    out.health = previous;
    out.kept_previous = true;
    out.reason = previous == Health::unknown
                     ? "no observer has checked it yet"
                     : "no observer has a vote: stays " + std::string(arrays::to_string(previous));
    if (abstaining_left_out > 0) {
      out.reason += " (" + std::to_string(abstaining_left_out) + " abstaining not counted while others have not checked)";
    }
    return out;
  }
  out.health = decide(quorum, ups, counted);
  for (const ObserverView& view : out.observers) {
    if (!view.counted || view.observation.health != Health::up) continue;
    out.reported_weight = std::min(out.reported_weight, view.observation.reported_weight);
    out.reported_draining = out.reported_draining || view.observation.reported_draining;
  }
  out.reason = std::to_string(ups) + " of " + std::to_string(counted) + " observers up (" + rule_text(quorum);
  if (abstaining_left_out > 0) out.reason += "; " + std::to_string(abstaining_left_out) + " abstaining not counted";
  if (!any_steady_vote) out.reason += "; every observer abstaining";
  out.reason += ")";
  if (out.health == Health::down && first_down) {
    const Observation& down = out.observers[*first_down].observation;
    out.reason += "; " + down.node + ": " + down.reason;
  }
  return out;
}

}  // namespace rotor::cluster
