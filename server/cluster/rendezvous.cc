#include "server/cluster/rendezvous.h"

#include <algorithm>
#include <utility>

#include "server/common/mix.h"

namespace rotor::cluster {
namespace {

uint64_t fnv1a(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// Higher score first; equal scores by name.
bool ranks_before(const std::pair<uint64_t, std::string_view>& a,
                  const std::pair<uint64_t, std::string_view>& b) {
  return a.first != b.first ? a.first > b.first : a.second < b.second;
}

}  // namespace

uint64_t rendezvous_score(std::string_view node, int64_t instance_id) {
  return mix64(mix64(fnv1a(node)) ^ mix64(static_cast<uint64_t>(instance_id)));
}

std::vector<std::string> choose_observers(int64_t instance_id, const std::vector<std::string>& nodes,
                                          uint32_t count) {
  std::vector<std::pair<uint64_t, std::string_view>> ranked;
  ranked.reserve(nodes.size());
  for (const std::string& node : nodes) ranked.emplace_back(rendezvous_score(node, instance_id), node);
  const size_t chosen = count == 0 ? ranked.size() : std::min<size_t>(count, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(chosen), ranked.end(),
                    ranks_before);
  std::vector<std::string> out;
  out.reserve(chosen);
  for (size_t i = 0; i < chosen; ++i) out.emplace_back(ranked[i].second);
  return out;
}

bool observes(std::string_view node, int64_t instance_id, const std::vector<std::string>& nodes,
              uint32_t count) {
  if (count == 0 || count >= nodes.size()) {
    return count == 0 || std::find(nodes.begin(), nodes.end(), node) != nodes.end();
  }
  // Rank of this node = how many others beat it; it observes when fewer than `count` do.
  const std::pair<uint64_t, std::string_view> mine{rendezvous_score(node, instance_id), node};
  if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) return false;
  size_t better = 0;
  for (const std::string& other : nodes) {
    if (ranks_before({rendezvous_score(other, instance_id), other}, mine)) ++better;
  }
  return better < count;
}

}  // namespace rotor::cluster
