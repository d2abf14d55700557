#pragma once
// The statistics one worker keeps: DNS queries by type and transport, replies
// by rcode, drops, answers per array, TCP connections. The worker's thread is
// the only writer of its block; the metrics scrape reads every block from its
// own thread and sums them. A single writer needs no read-modify-write atomics:
// each count is a std::atomic updated with a relaxed load and a relaxed store,
// which compiles to plain moves (no lock prefix, no cache-line contention),
// while the scrape thread reads it without a data race.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/dns/wire.h"

namespace rotor::counters {

// A count written by one thread and readable by any.
class SingleWriterCounter {
 public:
  // Writer thread only: concurrent add()s from two threads would lose counts.
  void add(uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(uint64_t value) noexcept { value_.store(value, std::memory_order_relaxed); }
  uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Question types counted by name; the rest are "other" (the last entry).
inline constexpr std::array<std::string_view, 15> kQueryTypeNames{
    "A", "AAAA", "ANY", "CNAME", "MX", "NS", "SOA", "TXT", "SRV", "PTR", "DS", "CAA", "HTTPS", "SVCB",
    "other"};
size_t query_type_index(uint16_t qtype) noexcept;

// Reply codes counted by name (dns::kRcodeNames, in its order); the rest are
// "other" (the last entry).
inline constexpr std::array<std::string_view, dns::kRcodeNames.size() + 1> kRcodeNames = [] {
  std::array<std::string_view, dns::kRcodeNames.size() + 1> names{};
  for (size_t i = 0; i < dns::kRcodeNames.size(); ++i) names[i] = dns::kRcodeNames[i].name;
  names.back() = "other";
  return names;
}();
size_t rcode_index(uint16_t rcode) noexcept;

inline constexpr std::array<std::string_view, 2> kTransportNames{"udp", "tcp"};

// Answers per array, indexed by the array's rotation slot (ArrayState::slot).
// The worker grows it when a snapshot brings new slots; the scrape may read it
// meanwhile, so storage is chunked and a chunk, once published, never moves:
// growing only fills null chunk pointers (release), readers load them (acquire).
class ArraySlotCounters {
 public:
  static constexpr size_t kChunkSize = 1024;
  static constexpr size_t kMaxChunks = 2048;  // 2M slots; answers of arrays beyond are not counted
  static constexpr size_t kMaxSlots = kChunkSize * kMaxChunks;

  ArraySlotCounters() = default;
  ~ArraySlotCounters();
  ArraySlotCounters(const ArraySlotCounters&) = delete;
  ArraySlotCounters& operator=(const ArraySlotCounters&) = delete;

  // Writer thread, off the query path (allocates): makes slots [0, limit) countable.
  void reserve(uint32_t limit);

  // Writer thread, query path: allocation-free; a slot not reserved is not counted.
  void add(uint32_t slot) noexcept {
    const size_t chunk = slot / kChunkSize;
    if (chunk >= kMaxChunks) return;
    Chunk* counts = chunks_[chunk].load(std::memory_order_relaxed);  // our own store
    if (counts != nullptr) counts->counts[slot % kChunkSize].add();
  }

  // Any thread.
  uint64_t value(uint32_t slot) const noexcept;

 private:
  struct Chunk {
    std::array<SingleWriterCounter, kChunkSize> counts;
  };
  std::array<std::atomic<Chunk*>, kMaxChunks> chunks_{};
};

// One worker's block. Aligned to a cache line so that two workers' blocks
// never share one.
struct alignas(64) WorkerCounters {
  // Messages answered, by question type (other: also an unparsable question)
  // and transport.
  std::array<std::array<SingleWriterCounter, kTransportNames.size()>, kQueryTypeNames.size()>
      queries;
  std::array<SingleWriterCounter, kRcodeNames.size()> responses;  // by rcode_index
  // Messages that got no reply: QR set, shorter than a header, a truncated
  // datagram, or a reply the socket would not take.
  SingleWriterCounter dropped;
  SingleWriterCounter malformed;  // answered FORMERR
  // UDP replies held back by response rate limiting: not sent at all, or sent
  // truncated (header and question only). Not counted in `dropped`.
  SingleWriterCounter rrl_dropped;
  SingleWriterCounter rrl_slipped;
  ArraySlotCounters array_answers;
  SingleWriterCounter tcp_accepted;
  SingleWriterCounter tcp_open;  // a gauge: the worker sets it to its open connection count
  // Compact denial signed late (server/dnssec/README.md): answers from the
  // worker's denial cache, misses (queries that waited for a signature),
  // queries parked, answered once signed, and dropped (no parking slot, the
  // ring to the signer full, too large to park, or not signed in time);
  // signatures the signer delivered to this worker.
  SingleWriterCounter denial_signed;
  SingleWriterCounter denial_hits;
  SingleWriterCounter denial_misses;
  SingleWriterCounter denial_parked;
  SingleWriterCounter denial_answered_late;
  SingleWriterCounter denial_dropped;

  void count_query(uint16_t qtype, bool tcp) noexcept {
    queries[query_type_index(qtype)][tcp ? 1 : 0].add();
  }
  // Takes back a count_query: the query is answered later and counted then.
  void uncount_query(uint16_t qtype, bool tcp) noexcept {
    SingleWriterCounter& counter = queries[query_type_index(qtype)][tcp ? 1 : 0];
    counter.set(counter.value() - 1);
  }
  void count_response(uint16_t rcode) noexcept { responses[rcode_index(rcode)].add(); }
  // Every answered message, over all types and transports (tests, logs).
  uint64_t total_queries() const noexcept;
};

}  // namespace rotor::counters
