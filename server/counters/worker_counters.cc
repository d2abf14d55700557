#include "server/counters/worker_counters.h"

#include <algorithm>

#include "server/dns/wire.h"

namespace rotor::counters {

namespace {
// Types server/dns/wire.h has no use for elsewhere.
constexpr uint16_t kTypeSvcb = 64, kTypeHttps = 65, kTypeCaa = 257;
}  // namespace

size_t query_type_index(uint16_t qtype) noexcept {
  switch (qtype) {
    case dns::type::A: return 0;
    case dns::type::AAAA: return 1;
    case dns::type::ANY: return 2;
    case dns::type::CNAME: return 3;
    case dns::type::MX: return 4;
    case dns::type::NS: return 5;
    case dns::type::SOA: return 6;
    case dns::type::TXT: return 7;
    case dns::type::SRV: return 8;
    case dns::type::PTR: return 9;
    case dns::type::DS: return 10;
    case kTypeCaa: return 11;
    case kTypeHttps: return 12;
    case kTypeSvcb: return 13;
    default: return kQueryTypeNames.size() - 1;
  }
}

size_t rcode_index(uint16_t rcode) noexcept {
  return dns::rcode_position(rcode);  // unnamed: the position of "other"
}

ArraySlotCounters::~ArraySlotCounters() {
  for (auto& chunk : chunks_) delete chunk.load(std::memory_order_relaxed);
}

void ArraySlotCounters::reserve(uint32_t limit) {
  const size_t chunks = std::min<size_t>((size_t{limit} + kChunkSize - 1) / kChunkSize, kMaxChunks);
  for (size_t i = 0; i < chunks; ++i) {
    if (chunks_[i].load(std::memory_order_relaxed) != nullptr) continue;
    // Release: a reader that sees the pointer sees the zeroed counts behind it.
    chunks_[i].store(new Chunk, std::memory_order_release);
  }
}

uint64_t ArraySlotCounters::value(uint32_t slot) const noexcept {
  const size_t chunk = slot / kChunkSize;
  if (chunk >= kMaxChunks) return 0;
  const Chunk* counts = chunks_[chunk].load(std::memory_order_acquire);
  return counts == nullptr ? 0 : counts->counts[slot % kChunkSize].value();
}

uint64_t WorkerCounters::total_queries() const noexcept {
  uint64_t total = 0;
  for (const auto& by_transport : queries) {
    for (const SingleWriterCounter& counter : by_transport) total += counter.value();
  }
  return total;
}

}  // namespace rotor::counters
