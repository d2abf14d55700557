#pragma once
// Queries waiting for a late signature: answer_query returned
// kAwaitsSignature because the NSEC its answer needs (compact denial, a
// wildcard's white lie) is not in the worker's DenialCache yet. A worker's
// UDP side and its TCP side each keep one ParkingLot: a fixed set of slots
// allocated at construction, each holding one query of at most kQuerySize
// octets for at most kWaitMs, and where its answer goes (`Destination`: a UDP
// peer, a TCP connection). The signer is asked once per NSEC, however many
// queries wait for it. Worker thread only: no lock, no allocation after
// construction; a query that finds no room is dropped and counted
// (`denial_dropped`), as one whose NSEC never comes.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "server/net/worker_context.h"

namespace rotor::net {

template <typename Destination, size_t Slots>
class ParkingLot {
 public:
  static constexpr size_t kQuerySize = 512;
  static constexpr uint64_t kWaitMs = 2000;

  struct Slot {
    bool used = false;
    uint64_t since_ms = 0;
    const zones::OnlineSigner* key = nullptr;  // with `owner`: the NSEC it waits for
    dnssec::FixedName owner;
    uint16_t size = 0;
    uint8_t query[kQuerySize];
    Destination destination{};

    bool waits_for(const zones::OnlineSigner* wanted_key, std::string_view wanted_owner) const noexcept {
      return used && key == wanted_key && owner.view() == wanted_owner;
    }
  };

  // What repark did with a slot whose late answer needs yet another NSEC.
  enum class Repark {
    waiting_again,  // the slot waits for the new NSEC
    dropped,        // the signer's ring was full: the slot is free, counted
    same_nsec,      // it still wants the NSEC it waited for: the caller drops it
  };

  ParkingLot() : slots_(new Slot[Slots]) {}

  // Parks `query` for the NSEC `context.state.denial` wants. Slots that waited
  // longer than kWaitMs are freed first (counted), each then passed to
  // `on_expired(slot)`. Returns the slot, its destination for the caller to
  // fill, or nullptr: dropped and counted (no free slot, a query too long,
  // the signer's ring full).
  template <typename OnExpired>
  Slot* park(WorkerContext& context, const uint8_t* query, size_t size, uint64_t now_ms,
             OnExpired&& on_expired) noexcept {
    counters::WorkerCounters& counters = *context.state.counters;
    const DenialState& denial = *context.state.denial;
    Slot* free_slot = nullptr;
    bool already_asked = false;
    for (size_t s = 0; s < Slots; ++s) {
      Slot& slot = slots_[s];
      if (expired(slot, now_ms)) {
        release(slot);  // never signed in time (the signer dropped it)
        counters.denial_dropped.add();
        on_expired(slot);
      }
      if (!slot.used) {
        if (free_slot == nullptr) free_slot = &slot;
      } else if (slot.waits_for(denial.key->get(), denial.wanted.owner.view())) {
        already_asked = true;
      }
    }
    if (free_slot == nullptr || size > kQuerySize) {
      counters.denial_dropped.add();
      return nullptr;
    }
    if (!request_signature(context, already_asked)) return nullptr;
    Slot& slot = *free_slot;
    slot.used = true;
    ++waiting_;
    slot.since_ms = now_ms;
    slot.key = denial.key->get();
    slot.owner = denial.wanted.owner;
    slot.size = static_cast<uint16_t>(size);
    std::memcpy(slot.query, query, size);
    counters.denial_parked.add();
    return &slot;
  }

  // Frees every slot waiting for `result`'s NSEC and passes each to
  // `answer(slot)`, which may repark it.
  template <typename Answer>
  void take_signed(const dnssec::SignedDenial& result, Answer&& answer) noexcept {
    for (size_t s = 0; s < Slots; ++s) {
      Slot& slot = slots_[s];
      if (!slot.waits_for(result.key.get(), result.record.owner.view())) continue;
      release(slot);
      answer(slot);
    }
  }

  // After `slot`'s late answer (for `result`) still waits for another NSEC
  // (a wildcard CNAME to a name that does not exist needs two): asks for it
  // and parks the query again in the same slot, within its first wait's time.
  Repark repark(WorkerContext& context, Slot& slot, const dnssec::SignedDenial& result) noexcept {
    const DenialState& denial = *context.state.denial;
    if (denial.key == nullptr || denial.wanted.owner.view() == result.record.owner.view()) {
      return Repark::same_nsec;
    }
    bool already_asked = false;
    for (size_t s = 0; s < Slots && !already_asked; ++s) {
      already_asked = slots_[s].waits_for(denial.key->get(), denial.wanted.owner.view());
    }
    if (!request_signature(context, already_asked)) return Repark::dropped;  // counted there
    slot.used = true;
    ++waiting_;
    slot.key = denial.key->get();
    slot.owner = denial.wanted.owner;
    return Repark::waiting_again;
  }

  // Frees every slot whose destination `matches` (a closed connection's),
  // counting each as dropped.
  template <typename Matches>
  void forget(WorkerContext& context, Matches&& matches) noexcept {
    for (size_t s = 0; s < Slots; ++s) {
      Slot& slot = slots_[s];
      if (slot.used && matches(slot.destination)) {
        release(slot);
        context.state.counters->denial_dropped.add();
      }
    }
  }

  // Frees (counting each as dropped) the slots that waited longer than
  // kWaitMs, as park() does before it looks for room: a UDP thread calls it
  // when its receive times out, so that a signature that never comes does not
  // keep it on the short timeout of a lot with queries waiting.
  void expire(WorkerContext& context, uint64_t now_ms) noexcept {
    if (waiting_ == 0) return;
    for (size_t s = 0; s < Slots; ++s) {
      Slot& slot = slots_[s];
      if (expired(slot, now_ms)) {
        release(slot);
        context.state.counters->denial_dropped.add();
      }
    }
  }

  // How many queries wait (slots in use).
  size_t waiting() const noexcept { return waiting_; }

 private:
  static bool expired(const Slot& slot, uint64_t now_ms) noexcept {
    return slot.used && now_ms - slot.since_ms > kWaitMs;
  }
  void release(Slot& slot) noexcept {
    slot.used = false;
    --waiting_;
  }

  std::unique_ptr<Slot[]> slots_;
  size_t waiting_ = 0;
};

}  // namespace rotor::net
