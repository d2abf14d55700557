#pragma once
// Which nodes probe an instance when its check says `observers: N`:
// rendezvous (highest random weight) hashing. Each live node scores
// hash(node, instance id); the N highest scores observe it. Every node
// computes the same choice from the same live-node list, a node joining or
// leaving moves only the instances it wins or held, and the work spreads
// evenly (10,000 instances on 5 nodes with N = 2: about 4,000 each).
//
// Thread-safety: pure functions. No errors: N = 0 or N >= the number of
// nodes chooses every node.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rotor::cluster {

// The score of `node` for `instance_id`: the same on every machine (no
// std::hash), from FNV-1a of the name and splitmix64 (server/common/mix.h).
uint64_t rendezvous_score(std::string_view node, int64_t instance_id);

// The `count` nodes of `nodes` that observe `instance_id`, highest score
// first (ties, which need equal 64-bit scores, go to the smaller name).
// count 0: all of them.
std::vector<std::string> choose_observers(int64_t instance_id, const std::vector<std::string>& nodes,
                                          uint32_t count);

// True when `node` is among choose_observers(instance_id, nodes, count); a
// node missing from `nodes` (not yet registered) observes nothing when count
// is set, everything when it is 0.
bool observes(std::string_view node, int64_t instance_id, const std::vector<std::string>& nodes,
              uint32_t count);

}  // namespace rotor::cluster
