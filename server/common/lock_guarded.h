#pragma once
// A value reachable only while its mutex is held (after PowerDNS'
// LockGuarded): `auto state = guarded.lock(); state->field = ...;`. The one
// idiom for state a mutex guards: the type says what the lock covers, so no
// field is guarded "by comment". Thread-safe by construction; a Holder must
// not outlive its LockGuarded, nor be used from another thread.

#include <mutex>
#include <utility>

namespace rotor {

template <typename T>
class LockGuarded {
 public:
  class Holder {
   public:
    Holder(std::mutex& mutex, T& value) : lock_(mutex), value_(value) {}
    T* operator->() noexcept { return &value_; }
    T& operator*() noexcept { return value_; }
    // For condition-variable waits.
    std::unique_lock<std::mutex>& lock() noexcept { return lock_; }

   private:
    std::unique_lock<std::mutex> lock_;
    T& value_;
  };

  LockGuarded() = default;
  template <typename... Args>
  explicit LockGuarded(Args&&... args) : value_(std::forward<Args>(args)...) {}

  Holder lock() { return Holder(mutex_, value_); }

 private:
  std::mutex mutex_;
  T value_;
};

}  // namespace rotor
