#pragma once
// A value reachable only while its mutex is held (after PowerDNS'
// LockGuarded): `auto state = guarded.lock(); state->field = ...;`. The one
// idiom for state a mutex guards: the type says what the lock covers, so no
// field is guarded "by comment". A const LockGuarded locks too (the mutex is
// mutable) and hands out read-only access. Thread-safe by construction; a
// Holder must not outlive its LockGuarded, nor be used from another thread.

#include <mutex>
#include <utility>

namespace rotor {

template <typename T>
class LockGuarded {
 public:
  // Holds the lock for its lifetime; V is T, or const T for a const LockGuarded.
  template <typename V>
  class BasicHolder {
   public:
    BasicHolder(std::mutex& mutex, V& value) : lock_(mutex), value_(value) {}
    V* operator->() noexcept { return &value_; }
    V& operator*() noexcept { return value_; }
    // For condition-variable waits.
    std::unique_lock<std::mutex>& lock() noexcept { return lock_; }

   private:
    std::unique_lock<std::mutex> lock_;
    V& value_;
  };
  using Holder = BasicHolder<T>;
  using ConstHolder = BasicHolder<const T>;

  LockGuarded() = default;
  template <typename... Args>
  explicit LockGuarded(Args&&... args) : value_(std::forward<Args>(args)...) {}

  Holder lock() { return Holder(mutex_, value_); }
  ConstHolder lock() const { return ConstHolder(mutex_, value_); }

 private:
  mutable std::mutex mutex_;
  T value_;
};

}  // namespace rotor
