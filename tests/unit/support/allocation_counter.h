#pragma once
// Counts heap allocations made by the current thread while a scope is open, so
// tests can prove the query path allocates nothing.

#include <cstddef>

namespace rotor::test {

class AllocationCounter {
 public:
  AllocationCounter();
  ~AllocationCounter();
  AllocationCounter(const AllocationCounter&) = delete;
  AllocationCounter& operator=(const AllocationCounter&) = delete;

  size_t allocations() const;

 private:
  size_t start_;
};

}  // namespace rotor::test
