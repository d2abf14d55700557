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
#include "server/dnssec/compact_denial.h"
#include "server/query/denial_cache.h"
#include "server/snapshot/snapshot.h"

namespace rotor {

enum class Transport : uint8_t { udp, tcp };

struct ClientInfo {
  const sockaddr* address = nullptr;  // may be null in tests
  Transport transport = Transport::udp;
};

// Compact denial answered late (server/dnssec/README.md): the worker's cache
// of signed NSEC records and, after answer_query returned kAwaitsSignature,
// the record the answer waits for.
struct DenialState {
  static constexpr size_t kCacheEntries = 4096;
  DenialCache cache{kCacheEntries};
  uint32_t now = 0;  // Unix seconds; the worker sets it before answering
  // The last miss: the zone's key (in the snapshot) and the NSEC to sign.
  const std::shared_ptr<const zones::OnlineSigner>* key = nullptr;
  dnssec::DenialRecord wanted;
  // The current snapshot's online keys: a result for another key is not
  // cached, and a change of keys empties the cache.
  std::vector<std::shared_ptr<const zones::OnlineSigner>> keys;
  bool is_current(const zones::OnlineSigner* key) const noexcept {
    for (const auto& current : keys) {
      if (current.get() == key) return true;
    }
    return false;
  }
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
  // Made by prepare_worker_state once a snapshot has a zone with online
  // denial; null before (DO queries for missing names there get no
  // signature and are answered as in an unsigned zone).
  std::unique_ptr<DenialState> denial;
};

// Sizes the worker's per-array state (rotation and answer counters) for
// `snapshot`, makes its denial cache when the snapshot first signs online,
// and empties that cache when a zone's key changed. Workers call it when they take a new snapshot, off the query
// path (it may allocate).
void prepare_worker_state(const Snapshot& snapshot, WorkerState& state);

// Smallest `out` the caller must provide: a whole TCP message.
inline constexpr size_t kReplyBufferSize = 65535;

// What answer_query returns when the answer needs a signature the worker's
// denial cache does not have: nothing is written, `state.denial->wanted` is
// the NSEC to sign with `*state.denial->key`. The worker parks the query and
// answers it again once the signature is in the cache.
inline constexpr size_t kAwaitsSignature = static_cast<size_t>(-1);

// Answers `query` from `snapshot` into `out` (at least kReplyBufferSize bytes
// for TCP; for UDP at least 4096) and returns the reply length. Returns 0 when
// the message must be dropped without reply (QR set, header too short), and
// kAwaitsSignature (above). Over UDP the reply is cut to the client's limit
// with TC set.
size_t answer_query(const Snapshot& snapshot, std::span<const uint8_t> query,
                    const ClientInfo& client, std::span<uint8_t> out,
                    WorkerState& state) noexcept;

}  // namespace rotor
