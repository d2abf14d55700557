#pragma once
// The cluster's health verdict for one instance: a pure function from the
// live observations of that instance (one per observing node, from
// `observations/<id>/<node>` joined with that node's `abstaining` flag in
// `nodes/<node>`) and the check's quorum rule. Every node runs it on the
// same keys, so every node reaches the same verdict. A single node is the
// one observer of everything it probes.
//
// Rules (server/cluster/DESIGN.md): counted votes are the up/down
// observations of non-abstaining nodes; when no non-abstaining node has
// voted, the abstaining ones count, unless `steady_vote_pending` (a
// non-abstaining node that observes the instance has not checked it yet):
// then nobody's vote counts, so a node that abstains cannot decide alone
// just because it checked first. "majority": up unless more than half the
// counted votes are down (a tie stays up); "any": up if any vote is up;
// "all": up only if every vote is up; N: up if at least min(N, votes) are up.
// No vote at all: the previous verdict stays (unknown before any).
//
// Thread-safety: pure functions, no shared state. No errors.

#include <cstdint>
#include <string>
#include <vector>

#include "probes/check_spec.h"
#include "server/arrays/array.h"

namespace rotor::cluster {

// One node's view of one instance.
struct Observation {
  std::string node;
  arrays::Health health = arrays::Health::unknown;
  std::string reason;
  int64_t time_ms = 0;      // unix ms of the node's last transition
  bool abstaining = false;  // the node's own flag: it sees too much down at once
};

struct ObserverView {
  Observation observation;
  bool counted = false;  // its vote was counted
};

struct Verdict {
  arrays::Health health = arrays::Health::unknown;
  // "2 of 3 observers up (majority)"; a down verdict adds the first counted
  // down observer's reason: "0 of 2 observers up (majority); ns1: HTTP 503".
  std::string reason;
  std::vector<ObserverView> observers;  // by node name
  bool kept_previous = false;           // no vote counted: `previous` stayed
  probes::Quorum quorum;                // the rule applied
};

Verdict verdict(std::vector<Observation> observations, const probes::Quorum& quorum,
                arrays::Health previous, bool steady_vote_pending = false);

}  // namespace rotor::cluster
