#include "server/arrays/selector.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

#include "server/common/mix.h"

namespace rotor::arrays {

namespace {

// The order being built in the scratch space: candidate indices, first =
// lead. std::sort works in place, so nothing here touches the heap.
// Only the first `room` entries are ever built: the reply cannot carry more,
// and building the whole order of a large array for a reply of a few dozen
// records is what made one selection cost as much as thousands of answers.
struct Order {
  uint16_t* index;
  size_t room;
  size_t size = 0;

  bool full() const noexcept { return size >= room; }
  // Appends members[start], members[start + 1], ... wrapping around.
  void append_cyclic(const uint16_t* members, size_t count, size_t start) noexcept {
    const size_t take = std::min(count, room - size);
    for (size_t k = 0, at = start; k < take; ++k) {
      index[size++] = members[at];
      if (++at == count) at = 0;
    }
  }
  // Appends start, start + 1, ... n - 1, 0, ... start - 1.
  void append_rotation(size_t n, size_t start) noexcept {
    const size_t take = std::min(n, room - size);
    for (size_t k = 0, at = start; k < take; ++k) {
      index[size++] = static_cast<uint16_t>(at);
      if (++at == n) at = 0;
    }
  }
};

// Knuth's multiplicative constant: odd and prime, so over any `total`
// consecutive turns (turn * kSpread) % total visits every residue once.
constexpr uint64_t kSpread = 2654435761u;

void round_robin(const FamilyCandidates& family, uint32_t turn, Order& order) noexcept {
  const size_t n = family.instances.size();
  // A lead order longer than the candidates: some backend reports a lower
  // weight (array_state.cc builds it from the reported percents alone).
  if (family.weighted_leads.size() != n) {
    order.append_rotation(n, family.weighted_leads[turn % family.weighted_leads.size()]);
    return;
  }
  order.append_rotation(n, turn % n);
}

void weighted(const FamilyCandidates& family, uint32_t turn, Order& order) noexcept {
  order.append_rotation(family.instances.size(),
                        family.weighted_leads[turn % family.weighted_leads.size()]);
}

// Equally ranked regions (ties, or all unranked) form one tier with no
// precomputed lead order of its own: as the tier leads the answer, its lead
// is picked by weight with a spread-out turn; later tiers rotate.
void append_tied_regions(const FamilyCandidates& family, const uint16_t* groups, size_t group_count,
                         uint32_t turn, uint16_t* members, Order& order) noexcept {
  size_t count = 0;
  uint32_t tier_weight = 0;
  for (size_t g = 0; g < group_count; ++g) {
    const auto& group = family.regions[groups[g]];
    for (uint16_t p = group.begin; p < group.end; ++p) {
      members[count++] = family.by_region[p];
      tier_weight += family.instances[family.by_region[p]].weight;
    }
  }
  size_t start = turn % count;
  if (order.size == 0 && tier_weight > 0) {
    uint32_t target = static_cast<uint32_t>((uint64_t{turn} * kSpread) % tier_weight);
    for (start = 0; start < count; ++start) {
      const uint16_t weight = family.instances[members[start]].weight;
      if (target < weight) break;
      target -= weight;
    }
  }
  order.append_cyclic(members, count, start);
}

// Regions ordered by rank from the client's region; each run of equal rank is
// a tier. The first tier's lead follows the weights, the rest rotate.
void by_region(const FamilyCandidates& family, const geo::RegionTable& regions, uint16_t client,
               uint32_t turn, SelectionScratch& scratch, Order& order) noexcept {
  const size_t groups = family.regions.size();
  uint32_t* rank = scratch.rank;
  uint16_t* sorted = scratch.sorted;
  for (size_t g = 0; g < groups; ++g) {
    rank[g] = regions.rank(client, family.regions[g].region);
    sorted[g] = static_cast<uint16_t>(g);
  }
  std::sort(sorted, sorted + groups,
            [&](uint16_t a, uint16_t b) { return rank[a] != rank[b] ? rank[a] < rank[b] : a < b; });

  for (size_t first = 0; first < groups && !order.full();) {
    size_t last = first + 1;
    while (last < groups && rank[sorted[last]] == rank[sorted[first]]) ++last;
    if (last - first == 1) {
      // One region: its members are already contiguous, with a lead order.
      const auto& group = family.regions[sorted[first]];
      const size_t count = group.end - group.begin;
      const size_t start =
          order.size == 0 ? group.weighted_leads[turn % group.weighted_leads.size()] - group.begin
                          : turn % count;
      order.append_cyclic(&family.by_region[group.begin], count, start);
    } else {
      append_tied_regions(family, sorted + first, last - first, turn, scratch.members, order);
    }
    first = last;
  }
}

// Rendezvous hashing, weighted: each (client key, instance) pair draws
// u in (0,1) and scores weight / -ln(u); the highest score leads. A client's
// scores do not depend on the other instances, so removing one instance moves
// only the clients it led, and each moves to its own runner-up.
uint8_t sticky(const FamilyCandidates& family, const geo::ClientAddress& client,
               double* score, Order& order) noexcept {
  const uint8_t width = client.family == 4 ? 32 : 128;
  const uint8_t bits =
      std::min<uint8_t>(std::min(client.prefix, width), client.family == 4 ? 24 : 56);
  uint64_t key = 0xcbf29ce484222325ULL;  // FNV-1a over family, prefix and the masked address
  auto feed = [&](uint8_t byte) { key = (key ^ byte) * 0x100000001b3ULL; };
  feed(client.family);
  feed(bits);
  for (unsigned i = 0; i < width / 8u; ++i) {
    const unsigned kept = bits >= (i + 1) * 8 ? 8 : bits > i * 8 ? bits - i * 8 : 0;
    feed(kept == 0 ? 0 : static_cast<uint8_t>(client.bytes[i] & (0xFF00u >> kept)));
  }

  const size_t n = family.instances.size();
  const size_t room = std::min(n, order.room);
  auto better = [score](uint16_t a, uint16_t b) {
    return score[a] != score[b] ? score[a] > score[b] : a < b;
  };
  auto draw = [&](size_t i) {  // u in (0,1), fixed by the client key and the instance
    const uint64_t h = mix64(key ^ family.instances[i].sticky_seed);
    return (static_cast<double>(h >> 11) + 0.5) * 0x1p-53;
  };
  uint16_t* heap = order.index;
  if (room * 4 >= n) {  // most are kept anyway: score all, order the leaders
    for (size_t i = 0; i < n; ++i) {
      score[i] = family.instances[i].weight / -std::log(draw(i));
      heap[i] = static_cast<uint16_t>(i);
    }
    std::partial_sort(heap, heap + room, heap + n, better);
    order.size = room;
    return bits;
  }
  // Few are kept (a UDP reply of a large array): the leaders stay in a heap of
  // `room`, worst on top. A candidate that cannot beat the worst kept one is
  // skipped before its logarithm: -ln(u) > 1 - u, so weight / (1 - u) bounds
  // its score from above (widened by 1e-9 against rounding). Either way the
  // result is the full order's prefix.
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    const double u = draw(i);
    const double weight = family.instances[i].weight;
    if (kept == room && weight * (1.0 + 1e-9) < score[heap[0]] * (1.0 - u)) continue;
    score[i] = weight / -std::log(u);
    const auto candidate = static_cast<uint16_t>(i);
    if (kept < room) {
      heap[kept++] = candidate;
      std::push_heap(heap, heap + kept, better);
    } else if (better(candidate, heap[0])) {
      std::pop_heap(heap, heap + kept, better);
      heap[kept - 1] = candidate;
      std::push_heap(heap, heap + kept, better);
    }
  }
  std::sort_heap(heap, heap + kept, better);
  order.size = kept;
  return bits;
}

}  // namespace

Selection select_instances(const ArrayState& array, uint8_t family, const geo::GeoContext& geo,
                           const geo::ClientAddress& client, uint32_t& rotation,
                           SelectionScratch& scratch, size_t room) noexcept {
  Selection selection;
  if (family != 4 && family != 6) return selection;
  const FamilyCandidates& candidates = family == 4 ? array.v4 : array.v6;
  if (!candidates.exists) {
    selection.ttl = array.answer_ttl;
    return selection;
  }
  if (candidates.instances.empty()) {  // all down and when_all_down none
    selection.ttl = array.settings.degraded_ttl;
    return selection;
  }
  // The orders below are built in stack arrays of this size; the state
  // builder refuses larger arrays.
  assert(candidates.instances.size() <= kMaxInstancesPerArray);

  const uint32_t turn = rotation++;
  if (array.settings.max_answers != 0) room = std::min<size_t>(room, array.settings.max_answers);
  Order order{.index = scratch.order, .room = std::clamp<size_t>(room, 1, kMaxInstancesPerArray)};
  switch (array.settings.policy) {
    case Policy::round_robin:
      if (candidates.ramping) {  // slow start: equal weights, some still ramping
        weighted(candidates, turn, order);
      } else {
        round_robin(candidates, turn, order);
      }
      break;
    case Policy::weighted:
      weighted(candidates, turn, order);
      break;
    case Policy::geo: {
      const geo::ClientLocation location = geo.locate(client);
      selection.ecs_scope = location.scope;
      if (location.region == kNoRegion || geo.regions == nullptr) {
        weighted(candidates, turn, order);
      } else {
        by_region(candidates, *geo.regions, location.region, turn, scratch, order);
      }
      break;
    }
    case Policy::sticky:
      if (client.family == 4 || client.family == 6) {
        selection.ecs_scope = sticky(candidates, client, scratch.score, order);
      } else {
        weighted(candidates, turn, order);
      }
      break;
  }

  const size_t count = order.size;
  assert(count >= 1 && count <= order.room);
  for (size_t i = 0; i < count; ++i) scratch.chosen[i] = &candidates.instances[order.index[i]];
  selection.kind = Selection::Kind::answer;
  selection.ttl = array.answer_ttl;
  selection.count = static_cast<uint16_t>(count);
  return selection;
}

}  // namespace rotor::arrays
