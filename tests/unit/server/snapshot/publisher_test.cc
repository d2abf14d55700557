#include "server/snapshot/publisher.h"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <thread>

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

TEST_CASE("the old snapshot is freed by the publisher once its last holder lets go") {
  SnapshotPublisher publisher(snapshot_with_generation(1));
  std::weak_ptr<const Snapshot> first = publisher.current();
  std::shared_ptr<const Snapshot> worker_copy = publisher.current();  // a worker's local pointer

  publisher.publish(snapshot_with_generation(2));
  CHECK(publisher.release_retired() == 1);
  CHECK_FALSE(first.expired());  // the worker has not swapped yet
  worker_copy = publisher.current();
  CHECK(worker_copy->generation == 2);
  CHECK_FALSE(first.expired());  // the swap only dropped a reference
  CHECK(publisher.release_retired() == 0);
  CHECK(first.expired());
}

TEST_CASE("a publish frees the retired snapshots no one holds and keeps the held ones") {
  SnapshotPublisher publisher(snapshot_with_generation(1));
  std::weak_ptr<const Snapshot> first = publisher.current();
  std::shared_ptr<const Snapshot> held = publisher.current();
  publisher.publish(snapshot_with_generation(2));
  std::weak_ptr<const Snapshot> second = publisher.current();
  publisher.publish(snapshot_with_generation(3));  // no one held the second
  CHECK(second.expired());
  CHECK_FALSE(first.expired());
  held.reset();
  publisher.publish(snapshot_with_generation(4));
  CHECK(first.expired());
  CHECK(publisher.release_retired() == 0);
}

// A snapshot that records the thread its destructor ran on.
std::shared_ptr<const Snapshot> snapshot_freed_on(uint64_t generation, std::atomic<std::thread::id>& freed_on) {
  return std::shared_ptr<const Snapshot>(new Snapshot{.generation = generation},
                                         [&freed_on](const Snapshot* snapshot) {
                                           freed_on = std::this_thread::get_id();
                                           delete snapshot;
                                         });
}

TEST_CASE("a subscriber's swap never runs the old snapshot's destructor") {
  std::atomic<std::thread::id> freed_on{};
  SnapshotPublisher publisher(snapshot_freed_on(1, freed_on));
  // A worker: holds its own pointer and swaps it when woken, as adopt_snapshot does.
  std::atomic<int> wakes{0};
  publisher.subscribe([&] { wakes.fetch_add(1); });
  std::shared_ptr<const Snapshot> worker_copy = publisher.current();
  std::thread::id worker_thread;

  publisher.publish(snapshot_with_generation(2));
  REQUIRE(wakes.load() == 1);
  std::thread worker([&] {
    worker_thread = std::this_thread::get_id();
    worker_copy = publisher.current();  // the swap: the worker held the last other reference
  });
  worker.join();
  CHECK(worker_copy->generation == 2);
  CHECK(freed_on.load() == std::thread::id{});  // not freed by the swap
  publisher.release_retired();                  // the control plane's
  CHECK(freed_on.load() == std::this_thread::get_id());
  CHECK(freed_on.load() != worker_thread);
}

}  // namespace

TEST_SUITE_END();
