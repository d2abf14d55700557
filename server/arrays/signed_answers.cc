#include "server/arrays/signed_answers.h"

#include <algorithm>
#include <numeric>

#include "server/common/mix.h"

namespace rotor::arrays {

namespace {

// A sum of well-mixed terms: commutative, so order does not matter, and two
// different sets of the same size collide with probability ~2^-64.
uint64_t index_term(uint16_t index) noexcept { return mix64(index + 0x9e3779b97f4a7c15ULL); }
uint64_t count_term(size_t count) noexcept { return mix64(count ^ 0x5bd1e9955bd1e995ULL); }

// C(n, k) when it is at most `limit`, else limit + 1.
size_t bounded_binomial(size_t n, size_t k, size_t limit) {
  k = std::min(k, n - k);
  unsigned __int128 value = 1;
  for (size_t i = 1; i <= k; ++i) {
    value = value * (n - k + i) / i;  // exact: C(n-k+i, i) at each step
    if (value > limit) return limit + 1;
  }
  return static_cast<size_t>(value);
}

// The windows of k over the ring 0..n-1, one per start.
void add_windows(size_t n, size_t k, AnswerSets& out) {
  for (size_t start = 0; start < n; ++start) {
    std::vector<uint16_t> set(k);
    for (size_t i = 0; i < k; ++i) set[i] = static_cast<uint16_t>((start + i) % n);
    std::sort(set.begin(), set.end());
    out.sets.push_back(std::move(set));
  }
}

// Every k-subset of 0..n-1, in lexicographic order.
void add_subsets(size_t n, size_t k, AnswerSets& out) {
  std::vector<uint16_t> set(k);
  std::iota(set.begin(), set.end(), uint16_t{0});
  for (;;) {
    out.sets.push_back(set);
    size_t i = k;
    while (i > 0 && set[i - 1] == n - k + i - 1) --i;
    if (i == 0) return;
    ++set[i - 1];
    for (size_t j = i; j < k; ++j) set[j] = static_cast<uint16_t>(set[j - 1] + 1);
  }
}

}  // namespace

AnswerSets answer_sets(const ArrayState& answering, uint8_t family, size_t budget) {
  AnswerSets out;
  const FamilyCandidates& candidates = answering.family(family);
  const size_t n = candidates.instances.size();
  if (n == 0) return out;
  const size_t cap = answering.settings.max_answers;
  const size_t k = cap == 0 ? n : std::min(cap, n);
  out.window = static_cast<uint16_t>(k);
  if (k == n) {
    out.sets.emplace_back(n);
    std::iota(out.sets.back().begin(), out.sets.back().end(), uint16_t{0});
    return out;
  }
  const Policy policy = answering.settings.policy;
  if (policy == Policy::round_robin || policy == Policy::weighted) {
    add_windows(n, k, out);
  } else if (bounded_binomial(n, k, budget) <= budget) {
    add_subsets(n, k, out);  // the windows (the weighted fallback order) are among them
  } else {
    out.ring = true;
    add_windows(n, k, out);
  }
  return out;
}

uint64_t answer_set_key(const uint16_t* indices, size_t count) noexcept {
  uint64_t key = count_term(count);
  for (size_t i = 0; i < count; ++i) key += index_term(indices[i]);
  return key;
}

uint64_t chosen_set_key(const FamilyCandidates& candidates, const SelectionScratch& scratch,
                        uint16_t count) noexcept {
  uint64_t key = count_term(count);
  const AnswerInstance* base = candidates.instances.data();
  for (uint16_t i = 0; i < count; ++i) {
    key += index_term(static_cast<uint16_t>(scratch.chosen[i] - base));
  }
  return key;
}

const std::string* FamilySignatures::find(uint64_t key) const noexcept {
  const auto at = std::lower_bound(keys.begin(), keys.end(), key);
  if (at == keys.end() || *at != key) return nullptr;
  return &rrsigs[static_cast<size_t>(at - keys.begin())];
}

const ArraySignatures::NsecSignature* ArraySignatures::nsec_signature(uint32_t ttl) const noexcept {
  for (const NsecSignature& signature : nsec_signatures) {
    if (signature.ttl == ttl) return &signature;
  }
  return nullptr;
}

void ring_window(const FamilyCandidates& candidates, uint16_t window, SelectionScratch& scratch,
                 Selection& selection) noexcept {
  const size_t n = candidates.instances.size();
  if (selection.count == 0 || n == 0) return;
  const AnswerInstance* base = candidates.instances.data();
  size_t at = static_cast<size_t>(scratch.chosen[0] - base);
  const size_t count = std::min<size_t>(window, n);
  for (size_t i = 0; i < count; ++i) {
    scratch.chosen[i] = base + at;
    if (++at == n) at = 0;
  }
  selection.count = static_cast<uint16_t>(count);
}

}  // namespace rotor::arrays
