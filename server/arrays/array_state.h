#pragma once
// The answer-side form of one array: immutable, built by the registry whenever
// the array or one of its instances changes, and read by every worker. All the
// work that does not depend on the client (health filtering, fail-open and
// panic mode (min_healthy), the
// smooth weighted round-robin lead order, grouping by region, the TTL) is done
// here once, so that selection per query is index arithmetic.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/arrays/array.h"

namespace rotor::geo {
class RegionTable;
}

namespace rotor::arrays {

struct ArraySignatures;  // signed_answers.h

// One instance as the query path sees it.
struct AnswerInstance {
  uint8_t rdata[16];    // 4 bytes for IPv4, 16 for IPv6: the A/AAAA RDATA
  uint16_t weight;
  uint16_t region;      // geo::RegionTable id, or kNoRegion
  uint64_t sticky_seed; // hash of the instance's address: rendezvous hashing input
};

// The instances of one address family that may be answered right now.
struct FamilyCandidates {
  std::vector<AnswerInstance> instances;  // the candidates, in registry order
  // Smooth weighted round robin (nginx's algorithm) run over the candidates'
  // weights for one full period (scaled down to at most 1024 steps): entry k
  // is the index of the candidate that leads at step k.
  std::vector<uint16_t> weighted_leads;
  // Candidates grouped by region for the geo policy: `by_region` lists
  // candidate indices region by region; each group has its own lead order.
  struct RegionGroup {
    uint16_t region;
    uint16_t begin, end;                 // range in by_region
    std::vector<uint16_t> weighted_leads;  // indices into by_region[begin, end)
  };
  std::vector<uint16_t> by_region;
  std::vector<RegionGroup> regions;
  bool exists = false;       // the array has an enabled instance of this family
  bool failed_open = false;  // nothing healthy: candidates are every enabled instance
  // Some but fewer than min_healthy of the enabled instances are healthy:
  // candidates are every enabled instance (panic mode).
  bool panic = false;
  uint16_t enabled_count = 0;  // enabled instances of this family
  uint16_t healthy_count = 0;  // of them, not down (up or unknown)
  // Some candidate's weight is below its full weight (slow start): round
  // robin then follows weighted_leads too.
  bool ramping = false;
};

// The weight an instance answers with at `now_ms`: `full` (its weight; 100
// for every instance under round robin), or, while its slow-start ramp runs,
// full x elapsed / slow_start, at least 1.
uint16_t slow_start_weight(const Instance& instance, uint16_t full, int64_t slow_start_ms,
                           int64_t now_ms);
// The weight an instance is answered with, by what its backend reports
// (Instance::reported_weight, reported_draining): its configured weight
// times the reported percent, rounded, at least 1; 0 when the backend asks
// for no new clients (weight 0 or draining), which leaves it out of the
// answers like a drained instance.
uint16_t reported_effective_weight(const Instance& instance) noexcept;

struct ArrayState {
  std::string name;       // lower-case wire format
  std::string name_text;  // "web.lb.example.com."
  uint32_t slot = 0;      // per-worker rotation counter index, stable for the array's life
  ArraySettings settings;
  std::vector<Instance> instances;  // the registry's view, for the API and explain
  FamilyCandidates v4;
  FamilyCandidates v6;
  bool degraded = false;     // some enabled instance is down
  bool panic = false;        // v4 or v6 is in panic mode
  uint32_t answer_ttl = 0;   // settings.ttl, or degraded_ttl while degraded
  std::string fallback;      // settings.fallback in lower-case wire format; empty: none
  // In a zone signed online: the RRSIGs of every answer a DO query can get
  // (signed_answers.h), set by the snapshot composer on a copy of the state
  // the registry built; null when the zone is not signed online.
  std::shared_ptr<const ArraySignatures> signatures;

  const FamilyCandidates& family(uint8_t family) const noexcept { return family == 4 ? v4 : v6; }
  // The array has instances of `family` and none of them is healthy: it
  // answers by when_all_down, or from its fallback (fallback.h).
  bool none_healthy(uint8_t family) const noexcept {
    const FamilyCandidates& candidates = this->family(family);
    return candidates.exists && (candidates.failed_open || candidates.instances.empty());
  }

  // Builds the answer-side form. `regions` maps region labels to ids;
  // `now_ms` (unix ms) places slow-start ramps (slow_start_weight).
  static std::shared_ptr<const ArrayState> build(std::string name_wire, uint32_t slot,
                                                 ArraySettings settings,
                                                 std::vector<Instance> instances,
                                                 const geo::RegionTable& regions,
                                                 int64_t now_ms = 0);
};

}  // namespace rotor::arrays
