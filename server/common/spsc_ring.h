#pragma once
// A bounded single-producer/single-consumer queue of fixed-size slots, all
// allocated by the constructor: pushing and popping copy into and out of the
// slots and allocate nothing (when T's assignment allocates nothing). Used
// between a worker thread and the denial signer (server/dnssec/denial_signer.h).
//
// Thread-safety: exactly one thread pushes and exactly one thread pops; the
// two may differ. head_ (next to pop) is written only by the consumer, tail_
// (next to push) only by the producer; each publishes with release and reads
// the other's with acquire, so a popped slot is seen whole.
// Errors: none; try_push() returns false when full, try_pop() when empty.

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

namespace rotor {

template <typename T>
class SpscRing {
 public:
  // Holds up to `capacity` elements (at least 1).
  explicit SpscRing(size_t capacity)
      : capacity_(capacity == 0 ? 1 : capacity), slots_(std::make_unique<T[]>(capacity_ + 1)) {}
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  // Producer: copies `value` into the next slot; false when the ring is full.
  bool try_push(const T& value) noexcept(noexcept(std::declval<T&>() = value)) {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    const size_t next = advance(tail);
    if (next == head_.load(std::memory_order_acquire)) return false;
    slots_[tail] = value;
    tail_.store(next, std::memory_order_release);
    return true;
  }

  // Consumer: moves the oldest element into `out`; false when empty.
  bool try_pop(T& out) noexcept(noexcept(out = std::move(std::declval<T&>()))) {
    const size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_.load(std::memory_order_acquire)) return false;
    out = std::move(slots_[head]);
    head_.store(advance(head), std::memory_order_release);
    return true;
  }

  size_t capacity() const noexcept { return capacity_; }
  // Elements in the ring; exact only on the producer or consumer thread
  // while the other is idle.
  size_t size() const noexcept {
    const size_t head = head_.load(std::memory_order_acquire);
    const size_t tail = tail_.load(std::memory_order_acquire);
    return tail >= head ? tail - head : tail + capacity_ + 1 - head;
  }

 private:
  // One slot stays empty, so that full and empty differ.
  size_t advance(size_t index) const noexcept { return index == capacity_ ? 0 : index + 1; }

  const size_t capacity_;
  std::unique_ptr<T[]> slots_;
  // On their own cache lines: producer and consumer each write one.
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
};

}  // namespace rotor
