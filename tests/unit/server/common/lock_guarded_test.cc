// LockGuarded: the value is reached only through a holder of the lock; a
// const LockGuarded locks too and reads; the holder's unique_lock serves
// condition-variable waits.
#include "server/common/lock_guarded.h"

#include <doctest/doctest.h>

#include <condition_variable>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

TEST_SUITE_BEGIN("unit/server/common/lock_guarded");

namespace rotor {
namespace {

struct Counts {
  int hits = 0;
  std::string name;
};

TEST_CASE("the value is built from the constructor arguments and changed through the holder") {
  LockGuarded<std::vector<int>> guarded(3, 7);
  {
    auto values = guarded.lock();
    CHECK(values->size() == 3);
    values->push_back(8);
    (*values)[0] = 1;
  }
  auto values = guarded.lock();
  CHECK(*values == std::vector<int>{1, 7, 7, 8});
}

TEST_CASE("a const LockGuarded hands out read-only access") {
  LockGuarded<Counts> guarded;
  guarded.lock()->hits = 2;
  const LockGuarded<Counts>& view = guarded;
  auto read = view.lock();
  static_assert(std::is_const_v<std::remove_reference_t<decltype(*read)>>);
  CHECK(read->hits == 2);
  CHECK(read.lock().owns_lock());
}

TEST_CASE("the holder keeps the lock until it dies") {
  LockGuarded<Counts> guarded;
  auto state = guarded.lock();
  bool other_got_it = true;
  std::thread([&] {
    // The holder above owns the mutex: another thread cannot take it.
    auto& lock = state.lock();
    other_got_it = lock.mutex()->try_lock();
    if (other_got_it) lock.mutex()->unlock();
  }).join();
  CHECK_FALSE(other_got_it);
}

TEST_CASE("many threads adding under the lock lose no increment") {
  LockGuarded<Counts> guarded;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) ++guarded.lock()->hits;
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(guarded.lock()->hits == 4000);
}

TEST_CASE("a condition variable waits on the holder's lock") {
  LockGuarded<Counts> guarded;
  std::condition_variable changed;
  std::thread writer([&] {
    guarded.lock()->name = "ready";
    changed.notify_all();
  });
  {
    auto state = guarded.lock();
    changed.wait(state.lock(), [&] { return state->name == "ready"; });
    CHECK(state->name == "ready");
  }
  writer.join();
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
