#include "tests/unit/support/allocation_counter.h"

#include <cstdlib>
#include <new>

namespace {
thread_local size_t g_allocations = 0;
thread_local int g_counting = 0;

void* counted_allocate(std::size_t size) {
  if (g_counting > 0) ++g_allocations;
  if (size == 0) size = 1;
  if (void* p = std::malloc(size)) return p;
  throw std::bad_alloc();
}
}  // namespace

// The replaceable global allocation functions ([new.delete]); they forward to
// malloc so sanitizers still see every block.
void* operator new(std::size_t size) { return counted_allocate(size); }
void* operator new[](std::size_t size) { return counted_allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  if (g_counting > 0) ++g_allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace rotor::test {

AllocationCounter::AllocationCounter() : start_(g_allocations) { ++g_counting; }
AllocationCounter::~AllocationCounter() { --g_counting; }
size_t AllocationCounter::allocations() const { return g_allocations - start_; }

}  // namespace rotor::test
