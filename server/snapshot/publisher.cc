#include "server/snapshot/publisher.h"

#include <algorithm>
#include <utility>

namespace rotor {

SnapshotPublisher::SnapshotPublisher(std::shared_ptr<const Snapshot> initial)
    : state_(State{.current = std::move(initial)}) {}

void SnapshotPublisher::take_unheld(Retired& retired, Retired& unheld) {
  // use_count() == 1 is exact here: a retired snapshot is reachable only
  // through the copies its holders already have, so once they are gone no
  // one can take a new one. Our own release of it (the decrement to zero,
  // acq_rel) orders its destruction after their last reads.
  for (auto& snapshot : retired) {
    if (snapshot.use_count() == 1) unheld.push_back(std::move(snapshot));
  }
  std::erase(retired, nullptr);
}

void SnapshotPublisher::publish(std::shared_ptr<const Snapshot> next) {
  // Freed after the lock is released (declared first, destroyed last): their
  // destruction (whole zone sets) must not stall current().
  Retired unheld;
  auto state = state_.lock();
  state->retired.reserve(state->retired.size() + 1);  // may throw: before anything changes
  state->retired.push_back(std::exchange(state->current, std::move(next)));
  take_unheld(state->retired, unheld);
  // Waking under the lock is what makes unsubscribe() a barrier: once it
  // returns, no publish() can still be calling into the removed subscriber
  // (whose uv_async handle is about to be closed).
  for (const auto& [token, wake] : state->subscribers) wake();
}

size_t SnapshotPublisher::release_retired() {
  Retired unheld;  // freed after the lock is released, as in publish()
  auto state = state_.lock();
  take_unheld(state->retired, unheld);
  return state->retired.size();
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
