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
// The backend's own report (check.weight_from_response): the minimum weight,
// and draining if any one reports it, over the counted observers that see
// the instance up. The backend reports the same to every observer; they
// differ only in when each last checked, and the minimum follows a backend
// shedding load at the first node that sees it and returns to full only
// when every node has seen it recover, as going down is never delayed while
// coming up waits for `rise`. A node that sees the instance down has not
// read a valid report lately, and an abstaining node is left out as for its
// vote.
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
  // What the backend reported to this node's check (weight_from_response).
  uint8_t reported_weight = 100;
  bool reported_draining = false;
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
  // The backend's report as the cluster serves it: the lowest weight and
  // any drain among the counted observers that see it up (100 and false
  // when none does).
  uint8_t reported_weight = 100;
  bool reported_draining = false;
};

Verdict verdict(std::vector<Observation> observations, const probes::Quorum& quorum,
                arrays::Health previous, bool steady_vote_pending = false);

}  // namespace rotor::cluster
