#pragma once
// The query path: one DNS message in, one reply out, with no I/O, no locks,
// no exceptions and no allocation. Transports call it for every message.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>
#include <sys/socket.h>

#include "server/arrays/selector.h"
#include "server/counters/worker_counters.h"
#include "server/snapshot/snapshot.h"

namespace rotor {

enum class Transport : uint8_t { udp, tcp };

struct ClientInfo {
  const sockaddr* address = nullptr;  // may be null in tests
  Transport transport = Transport::udp;
};

// Per-worker mutable state the answerer may touch: rotation counters and
// statistics. Owned by one worker thread; only the metrics scrape reads
// `counters` from elsewhere (WorkerPool keeps the blocks for it).
struct WorkerState {
  std::shared_ptr<counters::WorkerCounters> counters = std::make_shared<counters::WorkerCounters>();
  uint32_t rotation = 0;                 // for arrays newer than array_rotation's size
  // The array selection's working memory (selector.h), allocated once here.
  std::unique_ptr<arrays::SelectionScratch> selection =
      std::make_unique_for_overwrite<arrays::SelectionScratch>();
  std::vector<uint32_t> array_rotation;  // one counter per array slot (ArrayState::slot)
};

// Sizes the worker's per-array state (rotation and answer counters) for
// `snapshot`. Workers call it when they take a new snapshot, off the query
// path (it may allocate).
void prepare_worker_state(const Snapshot& snapshot, WorkerState& state);

// Smallest `out` the caller must provide: a whole TCP message.
inline constexpr size_t kReplyBufferSize = 65535;

// Answers `query` from `snapshot` into `out` (at least kReplyBufferSize bytes
// for TCP; for UDP at least 4096) and returns the reply length. Returns 0 when
// the message must be dropped without reply (QR set, header too short).
// Over UDP the reply is cut to the client's limit with TC set.
size_t answer_query(const Snapshot& snapshot, std::span<const uint8_t> query,
                    const ClientInfo& client, std::span<uint8_t> out,
                    WorkerState& state) noexcept;

}  // namespace rotor
