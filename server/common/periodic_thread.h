#pragma once
// A control-plane thread that does one piece of work now and again after the
// pause the work itself returns, until stopped: the instance reaper's sweeps,
// the answer-rate sampler's samples. The one idiom for "every N seconds",
// so stopping is the same everywhere: stop() wakes the pause at once and
// joins, never waiting out an interval.
//
// The thread runs at the lowered priority of background work
// (background_thread.h). `tick` must not throw: an exception ending the
// thread would terminate the process, so a tick catches what it can fail on
// and says so in the pause it returns.
//
// Thread-safe: start() once, stop() from any thread (idempotent, and the
// destructor's); a stopped thread does not start again.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <thread>
#include <utility>

#include "server/common/background_thread.h"
#include "server/common/lock_guarded.h"

namespace rotor {

class PeriodicThread {
 public:
  // One piece of work; returns how long to pause before the next.
  using Tick = std::function<std::chrono::milliseconds()>;

  PeriodicThread() = default;
  ~PeriodicThread() { stop(); }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Starts the thread; its first tick runs at once.
  void start(Tick tick) {
    thread_ = std::thread([this, tick = std::move(tick)] { run(tick); });
  }

  void stop() {
    state_.lock()->stopping = true;
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run(const Tick& tick) {
    lower_this_thread_priority();
    while (true) {
      if (state_.lock()->stopping) return;
      const std::chrono::milliseconds pause = tick();
      auto state = state_.lock();
      wake_.wait_for(state.lock(), pause, [&] { return state->stopping; });
      if (state->stopping) return;
    }
  }

  struct State {
    bool stopping = false;
  };
  LockGuarded<State> state_;
  std::condition_variable wake_;  // waits on state_'s lock
  std::thread thread_;
};

}  // namespace rotor
