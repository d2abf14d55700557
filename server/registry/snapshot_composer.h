#pragma once
// The one writer of published snapshots once arrays exist. It holds the parts
// a snapshot is made of, each set by its own owner: the zones from the zone
// files with the answer options (startup and SIGHUP reload), the synthetic
// zones declared in the config (built by the registry), the instance arrays
// (the registry) and the geo context. A change to any part asks for a publish;
// the composer builds Snapshot{generation + 1} from the current parts.
//
// Arrays in a zone rotor signs online are published signed (signed_arrays.h):
// their answer sets are signed while the snapshot is composed, on the
// publishing thread, so a health change reaches the workers already signed.
//
// Batching: with publish_interval 0 every change publishes synchronously in
// the caller's thread (tests). Otherwise a control thread publishes the first
// change at once and later ones at most every publish_interval, so a burst of
// health flips becomes one snapshot. While idle, that thread also has the
// publisher free the replaced snapshots the workers have let go
// (SnapshotPublisher::release_retired), so they are freed on it and not on a
// worker. Destruction publishes what is pending and stops the thread. Thread-safe; the parts are reachable only under its lock.

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server/common/histogram.h"
#include "server/common/lock_guarded.h"
#include "server/registry/arrays_at_cuts.h"
#include "server/registry/signed_arrays.h"
#include "server/snapshot/publisher.h"
#include "server/snapshot/snapshot.h"

namespace rotor::registry {

struct ComposerOptions {
  std::chrono::milliseconds publish_interval{20};
};

class SnapshotComposer {
 public:
  // Starts from the publisher's current snapshot: its zones, options, arrays
  // and geo become the base parts.
  explicit SnapshotComposer(SnapshotPublisher& publisher, ComposerOptions options = {});
  ~SnapshotComposer();
  SnapshotComposer(const SnapshotComposer&) = delete;
  SnapshotComposer& operator=(const SnapshotComposer&) = delete;

  // The zones from the zone files and the answer options (startup, reload).
  void set_base(zones::ZoneSet zones, AnswerOptions options);
  // As set_base, unless the new zones would put data where an array answers
  // (name_conflict.h): then nothing changes and every conflict is returned,
  // one sentence each. Check and swap under one lock (a zone reload).
  std::vector<std::string> set_base_checked(zones::ZoneSet zones, AnswerOptions options);
  // The synthetic zones by origin: replaces them all, or one. A synthetic zone
  // whose origin a zone file also serves is left out (the file wins; logged).
  void set_synthetic_zones(std::vector<std::shared_ptr<const zones::Zone>> zones);
  void put_synthetic_zone(std::shared_ptr<const zones::Zone> zone);
  void set_arrays(std::shared_ptr<const arrays::ArrayTable> arrays);
  void put_array(std::shared_ptr<const arrays::ArrayState> array);
  void remove_array(std::string_view lower_wire_name);
  void set_geo(geo::GeoContext geo);

  // The zone that serves `lower_wire_name` in the composed zone set, if any.
  struct ServedZone {
    std::string origin;  // lower-case wire
    bool synthetic = false;
  };
  std::optional<ServedZone> served_zone(std::string_view lower_wire_name);
  // Why an array cannot be at `lower_wire_name` in the composed zones
  // (name_conflict.h), or nullopt (also when no zone serves the name).
  std::optional<std::string> array_conflict(std::string_view lower_wire_name);
  // Why an array cannot be at `lower_wire_name` because its zone is signed
  // (name_conflict.h array_signing_error), or nullopt.
  std::optional<std::string> array_signing_error(std::string_view lower_wire_name);
  geo::GeoContext geo();
  std::shared_ptr<const arrays::ArrayTable> arrays();

  // Holds publishing back while it lives, so that several changes made
  // together (an array and its zone's new serial) reach the workers in one
  // snapshot. On destruction publishes what is pending, as a change would.
  class Batch {
   public:
    explicit Batch(SnapshotComposer& composer);
    ~Batch();
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

   private:
    SnapshotComposer& composer_;
  };

  // Publishes now if a change is pending (shutdown, tests with batching on).
  void flush();
  uint64_t published_count();  // snapshots published so far (tests, metrics)
  // The array signing counters so far (signed_arrays.h), a copy.
  SignedArrays::Stats array_signing_stats();
  // How long changes waited to be published: from the first change a snapshot
  // carries reaching the composer to that snapshot being handed to the workers
  // (batching delay, composing and publishing). A copy, for the metrics scrape.
  DurationHistogram publish_latency();
  static constexpr std::array<double, 12> kPublishLatencyBounds{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

 private:
  struct Parts {
    zones::ZoneSet base_zones;
    AnswerOptions options;
    std::map<std::string, std::shared_ptr<const zones::Zone>> synthetic;  // by origin
    std::shared_ptr<const zones::ZoneSet> merged;  // base + synthetic; rebuilt on change
    std::shared_ptr<const arrays::ArrayTable> arrays;
    // Since the last publish: the arrays put (their state) or removed (null),
    // and whether the table or the zones were replaced (SignedArrays::update).
    std::map<std::string, std::shared_ptr<const arrays::ArrayState>> array_changes;
    bool arrays_replaced = true;
    // Whether the table itself was replaced since the last publish (ArraysAtCuts::update).
    bool table_replaced = true;
    geo::GeoContext geo;
    uint64_t generation = 0;
  };
  struct Schedule {
    bool pending = false;
    std::chrono::steady_clock::time_point pending_since{};  // first unpublished change
    bool stopping = false;
    int batches = 0;  // open Batch scopes: publishing waits for them
    // The control thread waits for a change (not for the end of an
    // interval): only then does a change wake it. A wake-up per change while
    // it waits out the interval cost every write a futex call and two
    // context switches, more than composing the snapshot it then shares.
    bool idle = false;
    std::chrono::steady_clock::time_point last_publish{};
    uint64_t published = 0;
    DurationHistogram publish_latency{kPublishLatencyBounds};
  };

  void changed();          // a part changed: publish now or wake the control thread
  void publish_pending();  // composes and publishes if a change is pending
  void run();              // the control thread
  // While the publisher keeps retired snapshots and nothing is to be
  // published, the control thread asks it this often to free those the
  // workers have let go (a UDP thread lets go within 100 ms).
  static constexpr std::chrono::milliseconds kReleaseRetired{150};
  static std::shared_ptr<const zones::ZoneSet> merge(const Parts& parts);

  SnapshotPublisher& publisher_;
  const ComposerOptions options_;
  LockGuarded<Parts> parts_;
  LockGuarded<Schedule> schedule_;
  std::condition_variable wake_;
  // Held while composing and publishing, so snapshots reach the publisher in
  // generation order even when two threads publish at once; also orders the
  // use of signed_arrays_.
  std::mutex publishing_;
  SignedArrays signed_arrays_;
  ArraysAtCuts arrays_at_cuts_;  // used under publishing_ too
  LockGuarded<SignedArrays::Stats> signing_stats_;
  std::thread thread_;  // last: starts after everything it uses exists
};

}  // namespace rotor::registry
