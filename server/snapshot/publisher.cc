#include "server/snapshot/publisher.h"

#include <algorithm>
#include <utility>

namespace rotor {

SnapshotPublisher::SnapshotPublisher(std::shared_ptr<const Snapshot> initial)
    : state_(State{.current = std::move(initial)}) {}

void SnapshotPublisher::publish(std::shared_ptr<const Snapshot> next) {
  // The previous snapshot is released outside the lock: if no worker holds it
  // any more, its destruction (a whole zone set) must not stall current().
  std::shared_ptr<const Snapshot> previous;
  auto state = state_.lock();
  previous = std::exchange(state->current, std::move(next));
  // Waking under the lock is what makes unsubscribe() a barrier: once it
  // returns, no publish() can still be calling into the removed subscriber
  // (whose uv_async handle is about to be closed).
  for (const auto& [token, wake] : state->subscribers) wake();
  // `state` is destroyed before `previous` (reverse declaration order).
}

std::shared_ptr<const Snapshot> SnapshotPublisher::current() const {
  return state_.lock()->current;
}

size_t SnapshotPublisher::subscribe(Subscriber wake) {
  auto state = state_.lock();
  const size_t token = state->next_token++;
  state->subscribers.emplace_back(token, std::move(wake));
  return token;
}

void SnapshotPublisher::unsubscribe(size_t token) {
  std::erase_if(state_.lock()->subscribers,
                [token](const auto& entry) { return entry.first == token; });
}

}  // namespace rotor
