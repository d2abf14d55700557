#include "server/snapshot/publisher.h"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>

TEST_SUITE_BEGIN("unit/server/snapshot/publisher");

namespace {

using rotor::Snapshot;
using rotor::SnapshotPublisher;

std::shared_ptr<const Snapshot> snapshot_with_generation(uint64_t generation) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->generation = generation;
  return snapshot;
}

TEST_CASE("publish makes the new snapshot current and wakes every subscriber") {
  SnapshotPublisher publisher(snapshot_with_generation(1));
  CHECK(publisher.current()->generation == 1);

  int first_wakes = 0;
  int second_wakes = 0;
  const size_t first = publisher.subscribe([&] { ++first_wakes; });
  const size_t second = publisher.subscribe([&] { ++second_wakes; });
  CHECK(first != second);

  publisher.publish(snapshot_with_generation(2));
  CHECK(publisher.current()->generation == 2);
  CHECK(first_wakes == 1);
  CHECK(second_wakes == 1);

  publisher.unsubscribe(first);
  publisher.publish(snapshot_with_generation(3));
  CHECK(publisher.current()->generation == 3);
  CHECK(first_wakes == 1);
  CHECK(second_wakes == 2);

  publisher.unsubscribe(second);
  publisher.unsubscribe(second);  // unknown tokens are ignored
}

TEST_CASE("the old snapshot is freed once its last holder lets go") {
  SnapshotPublisher publisher(snapshot_with_generation(1));
  std::weak_ptr<const Snapshot> first = publisher.current();
  std::shared_ptr<const Snapshot> worker_copy = publisher.current();  // a worker's local pointer

  publisher.publish(snapshot_with_generation(2));
  CHECK_FALSE(first.expired());  // the worker has not swapped yet
  worker_copy = publisher.current();
  CHECK(first.expired());
  CHECK(worker_copy->generation == 2);
}

}  // namespace

TEST_SUITE_END();
