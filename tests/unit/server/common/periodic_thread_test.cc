// PeriodicThread: the first tick runs at once, the next after the pause the
// tick returns, and stop() wakes a pause rather than waiting it out.
#include "server/common/periodic_thread.h"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>

#include "server/common/lock_guarded.h"

TEST_SUITE_BEGIN("unit/server/common/periodic_thread");

namespace rotor {
namespace {

using namespace std::chrono_literals;

struct Ticks {
  int count = 0;
};

TEST_CASE("ticks run until stopped and each returns its own pause") {
  LockGuarded<Ticks> ticks;
  std::condition_variable ticked;
  PeriodicThread thread;
  thread.start([&] {
    auto state = ticks.lock();
    ++state->count;
    ticked.notify_all();
    // Three quick ticks, then a pause only stop() ends.
    return state->count < 3 ? 0ms : std::chrono::milliseconds(std::chrono::hours(1));
  });
  {
    auto state = ticks.lock();
    ticked.wait(state.lock(), [&] { return state->count == 3; });
  }
  thread.stop();
  CHECK(ticks.lock()->count == 3);
  thread.stop();  // idempotent
}

TEST_CASE("a thread never started stops at once") {
  PeriodicThread thread;
  thread.stop();
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
