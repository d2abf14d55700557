#include "server/snapshot/publisher.h"

#include <algorithm>
#include <utility>

namespace rotor {

SnapshotPublisher::SnapshotPublisher(std::shared_ptr<const Snapshot> initial)
    : current_(std::move(initial)) {}

void SnapshotPublisher::publish(std::shared_ptr<const Snapshot> next) {
  // The previous snapshot is released outside the lock: if no worker holds it
  // any more, its destruction (a whole zone set) must not stall current().
  std::shared_ptr<const Snapshot> previous;
  std::lock_guard lock(mutex_);
  previous = std::exchange(current_, std::move(next));
  // Waking under the lock is what makes unsubscribe() a barrier: once it
  // returns, no publish() can still be calling into the removed subscriber
  // (whose uv_async handle is about to be closed).
  for (const auto& [token, wake] : subscribers_) wake();
  // `lock` is destroyed before `previous` (reverse declaration order).
}

std::shared_ptr<const Snapshot> SnapshotPublisher::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

size_t SnapshotPublisher::subscribe(Subscriber wake) {
  std::lock_guard lock(mutex_);
  const size_t token = next_token_++;
  subscribers_.emplace_back(token, std::move(wake));
  return token;
}

void SnapshotPublisher::unsubscribe(size_t token) {
  std::lock_guard lock(mutex_);
  std::erase_if(subscribers_, [token](const auto& entry) { return entry.first == token; });
}

}  // namespace rotor
