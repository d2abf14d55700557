#pragma once
// Turns the configured zone list into a Snapshot, for startup, `rotor check`
// and reloads (reloader.h). A snapshot is built whole or not at all: one bad zone
// fails the build, so a reload never serves half of the new zones.

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/config/config.h"
#include "server/dnssec/online_signing.h"
#include "server/snapshot/publisher.h"
#include "server/snapshot/snapshot.h"

namespace rotor::app {

struct SnapshotBuild {
  std::shared_ptr<const Snapshot> snapshot;  // null when `errors` is not empty
  std::vector<std::string> errors;           // every reason, one sentence each ("FILE:LINE: reason")
  size_t record_count = 0;                   // records over all zones
};

// Loads every zone in `config` and keeps going after a failure so that the
// caller can report every broken zone at once. A duplicate origin is an error
// naming both files. Never throws for bad zone data.
//
// A zone with dnssec.keys is signed here, on the caller's thread (online
// signing, server/dnssec/online_signing.h): its keys are read from the
// directory (an error names the key file), and its signatures come from
// `signatures`, the cache a running server keeps across reloads (null: a
// cache for this build only, as `rotor check` does).
SnapshotBuild try_build_snapshot(const config::Config& config, uint64_t generation,
                                 std::shared_ptr<dnssec::SharedSignatureCache> signatures = nullptr);

// One warning per signed zone whose negative answers outgrew the encoding
// budget (config dnssec.encoded_answers_mib, zones::negative_answer_budget):
// how many names are answered record by record instead. Empty when none.
std::vector<std::string> encoding_warnings(const Snapshot& snapshot);

struct SnapshotError : std::runtime_error {
  explicit SnapshotError(std::vector<std::string> reasons);
  std::vector<std::string> reasons;  // what() joins them with newlines
};

// As try_build_snapshot, but throws SnapshotError with every reason.
std::shared_ptr<const Snapshot> build_snapshot(
    const config::Config& config, uint64_t generation,
    std::shared_ptr<dnssec::SharedSignatureCache> signatures = nullptr);

}  // namespace rotor::app
