#pragma once
// The one way a test waits for what another thread or process does: poll a
// condition every 20 ms until it holds or `limit` has passed, and say whether
// it held (it is asked once more at the deadline, so a slow machine that
// overshoots still sees a late success). Header-only; any thread.

#include <chrono>
#include <thread>

namespace rotor::test {

template <class Condition>
bool eventually(Condition&& condition,
                std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace rotor::test
