#include "server/cluster/health_verdicts.h"

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/cluster/membership.h"
#include "server/cluster/rendezvous.h"
#include "server/registry/snapshot_composer.h"
#include "server/registry/sqlite_store.h"
#include "server/snapshot/publisher.h"
#include "tests/unit/server/registry/registry_test_support.h"

namespace rotor::cluster {
namespace {

using arrays::Health;
using registry::test::instance;
using registry::test::ScratchDir;

constexpr const char* kVerdictsArray = "web.lb.example.com.";
constexpr int64_t kNow = 1'700'000'000'000;

// The shared keys as the store's mirror would hold them.
struct FakeSource : ObservationSource {
  std::map<std::string, std::string> observations(int64_t instance_id) const override {
    std::lock_guard lock(mutex);
    const auto it = seen.find(instance_id);
    return it == seen.end() ? std::map<std::string, std::string>{} : it->second;
  }
  std::map<std::string, std::string> nodes() const override {
    std::lock_guard lock(mutex);
    return live;
  }
  arrays::Health recorded_health(int64_t instance_id) const override {
    std::lock_guard lock(mutex);
    const auto it = recorded.find(instance_id);
    return it == recorded.end() ? Health::unknown : it->second;
  }
  registry::StoreStatus status() const override {
    std::lock_guard lock(mutex);
    return store;
  }
  void observe(int64_t id, const std::string& node, Health health, const std::string& reason) {
    std::lock_guard lock(mutex);
    seen[id][node] = observation_value({node, health, reason, kNow, false});
  }
  void node(const std::string& name, bool abstaining = false) {
    std::lock_guard lock(mutex);
    live[name] = node_value({"eu", kNow, abstaining});
  }

  mutable std::mutex mutex;
  std::map<int64_t, std::map<std::string, std::string>> seen;
  std::map<std::string, std::string> live;
  std::map<int64_t, Health> recorded;
  registry::StoreStatus store;
};

struct Rig {
  explicit Rig(const std::string& check)
      : publisher(std::make_shared<const Snapshot>()),
        composer(publisher, {}),
        registry(registry::Registry::open(std::make_unique<registry::SqliteStore>(dir.file("rotor.db")), composer)) {
    registry->set_synthetic_zones({{"lb.example.com.", {{"ns1.lb.example.com.", {"192.0.2.53"}}}}});
    arrays::ArraySettings settings;
    settings.check = check;
    registry->upsert_array(kVerdictsArray, settings);
    id = registry->add_instance(kVerdictsArray, instance("192.0.2.1")).id;
  }

  // find() returns a copy: keep it alive while reading from it.
  std::pair<Health, std::string> health() const {
    const std::optional<registry::RegisteredArray> array = registry->find(kVerdictsArray);
    REQUIRE(array);
    const arrays::Instance& known = array->instances.at(0);
    return {known.health, known.health_reason};
  }

  size_t health_events() const {
    size_t count = 0;
    for (const registry::Event& event : registry->events(0, 100)) count += event.kind == "health" ? 1 : 0;
    return count;
  }

  ScratchDir dir;
  SnapshotPublisher publisher;
  registry::SnapshotComposer composer;
  std::unique_ptr<registry::Registry> registry;
  int64_t id = 0;
};

HealthVerdictsOptions options(std::optional<Observation>* own = nullptr, std::string node = "") {
  HealthVerdictsOptions out;
  out.node = std::move(node);
  out.now_ms = [] { return kNow; };
  out.isolation_fallback = std::chrono::seconds(30);
  if (own != nullptr) out.own_observation = [own](int64_t) { return *own; };
  return out;
}

TEST_SUITE("unit/cluster/health_verdicts") {
  TEST_CASE("cluster/health_verdicts: the live observations decide the registry's health") {
    Rig rig(R"({"type":"tcp","port":80})");
    FakeSource source;
    for (const char* node : {"ns1", "ns2", "ns3"}) source.node(node);
    HealthVerdicts verdicts(*rig.registry, source, options());

    // Nothing observed yet: the health stays unknown.
    CHECK(verdicts.run_once() == 0);
    CHECK(rig.health().first == Health::unknown);
    REQUIRE(verdicts.verdict_of(rig.id));
    CHECK(verdicts.verdict_of(rig.id)->reason == "no observer has checked it yet");

    source.observe(rig.id, "ns1", Health::up, "first check passed");
    source.observe(rig.id, "ns2", Health::down, "HTTP 503");
    verdicts.observations_changed({rig.id});
    CHECK(verdicts.run_once() == 1);
    CHECK(rig.health() == std::pair{Health::up, std::string("1 of 2 observers up (majority)")});

    source.observe(rig.id, "ns3", Health::down, "connection refused");
    verdicts.observations_changed({rig.id});
    CHECK(verdicts.run_once() == 1);
    CHECK(rig.health() == std::pair{Health::down, std::string("1 of 3 observers up (majority); ns2: HTTP 503")});
    const auto decided = verdicts.verdict_of(rig.id);
    REQUIRE(decided);
    CHECK(decided->observers.size() == 3);

    // ns2 and ns3 leave (their leases expire): their keys no longer count.
    {
      std::lock_guard lock(source.mutex);
      source.live.erase("ns2");
      source.live.erase("ns3");
    }
    verdicts.everything_changed();
    CHECK(verdicts.run_once() == 1);
    CHECK(rig.health() == std::pair{Health::up, std::string("1 of 1 observers up (majority)")});
    CHECK(verdicts.verdict_of(rig.id)->observers.size() == 1);
  }

  TEST_CASE("cluster/health_verdicts: the check's quorum and the abstaining flag apply") {
    Rig rig(R"({"type":"tcp","port":80,"quorum":"all"})");
    FakeSource source;
    source.node("ns1");
    source.node("ns2", /*abstaining=*/true);
    source.observe(rig.id, "ns1", Health::up, "ok");
    source.observe(rig.id, "ns2", Health::down, "timeout after 2000 ms");
    HealthVerdicts verdicts(*rig.registry, source, options());
    CHECK(verdicts.run_once() == 1);
    CHECK(rig.health() == std::pair{Health::up, std::string("1 of 1 observers up (all; 1 abstaining not counted)")});

    source.node("ns2", /*abstaining=*/false);
    verdicts.everything_changed();
    verdicts.run_once();
    CHECK(rig.health() == std::pair{Health::down, std::string("1 of 2 observers up (all); ns2: timeout after 2000 ms")});
    CHECK(verdicts.verdict_of(rig.id)->quorum.rule == probes::Quorum::Rule::all);
  }

  TEST_CASE("cluster/health_verdicts: cut off from the store past the fallback a node trusts its own probes") {
    Rig rig(R"({"type":"tcp","port":80})");
    FakeSource source;
    source.node("ns1");
    source.node("ns2");
    source.observe(rig.id, "ns1", Health::up, "ok");
    source.observe(rig.id, "ns2", Health::up, "ok");
    std::optional<Observation> own = Observation{"ns1", Health::down, "connection refused", kNow, false};
    HealthVerdicts verdicts(*rig.registry, source, options(&own));
    verdicts.run_once();
    CHECK(rig.health().first == Health::up);

    // Unreachable, but not for long yet: still the shared verdict.
    {
      std::lock_guard lock(source.mutex);
      source.store = {.shared = true, .reachable = false, .unreachable_since_ms = kNow - 10'000};
    }
    verdicts.run_once();
    CHECK_FALSE(verdicts.isolated());
    CHECK(rig.health().first == Health::up);

    {
      std::lock_guard lock(source.mutex);
      source.store = {.shared = true, .reachable = false, .unreachable_since_ms = kNow - 31'000};
    }
    CHECK(verdicts.run_once() == 1);
    CHECK(verdicts.isolated());
    CHECK(rig.health() == std::pair{Health::down, std::string("isolated from the store, own probes only: "
                                                               "0 of 1 observers up (majority); ns1: connection refused")});

    // Back: the shared observations decide again.
    {
      std::lock_guard lock(source.mutex);
      source.store = {};
    }
    CHECK(verdicts.run_once() == 1);
    CHECK_FALSE(verdicts.isolated());
    CHECK(rig.health() == std::pair{Health::up, std::string("2 of 2 observers up (majority)")});
  }

  TEST_CASE("cluster/health_verdicts: only the node first by rendezvous records a transition") {
    const std::vector<std::string> nodes{"ns1", "ns2", "ns3"};
    // Every rig gets the same first instance id (a fresh database each).
    Rig first_rig(R"({"type":"tcp","port":80})");
    const std::vector<std::string> order = choose_observers(first_rig.id, nodes, 0);
    FakeSource source;
    for (const std::string& node : nodes) source.node(node);
    for (const std::string& node : nodes) source.observe(first_rig.id, node, Health::down, "connection refused");

    // The recorder writes the transition and its event, and serves it.
    HealthVerdicts recorder(*first_rig.registry, source, options(nullptr, order[0]));
    CHECK(recorder.run_once() == 1);
    CHECK(first_rig.health().first == Health::down);
    CHECK(first_rig.health_events() == 1);

    // Another node serves the same verdict without writing it.
    Rig second_rig(R"({"type":"tcp","port":80})");
    REQUIRE(second_rig.id == first_rig.id);
    HealthVerdicts follower(*second_rig.registry, source, options(nullptr, order[1]));
    CHECK(follower.run_once() == 1);
    CHECK(second_rig.health().first == Health::down);
    CHECK(second_rig.health_events() == 0);

    // The record arrives by the watch: the recorder decides again, writes nothing.
    source.recorded[first_rig.id] = Health::down;
    recorder.everything_changed();
    CHECK(recorder.run_once() == 0);
    CHECK(first_rig.health_events() == 1);

    // The recorder's lease expires before it recorded the next transition: the
    // next node by rendezvous records it, although it already serves it.
    for (const std::string& node : nodes) source.observe(first_rig.id, node, Health::up, "connected");
    follower.observations_changed({first_rig.id});
    CHECK(follower.run_once() == 1);
    CHECK(second_rig.health().first == Health::up);
    CHECK(second_rig.health_events() == 0);
    {
      std::lock_guard lock(source.mutex);
      source.live.erase(order[0]);
    }
    follower.everything_changed();
    CHECK(follower.run_once() == 1);
    CHECK(second_rig.health_events() == 1);
    CHECK(follower.counts().live_nodes == 2);
    CHECK(follower.counts().observations == 2);
  }

  TEST_CASE("cluster/health_verdicts: an abstaining node that checked first does not decide alone") {
    Rig rig(R"({"type":"tcp","port":80,"quorum":"all"})");
    FakeSource source;
    source.node("ns1", /*abstaining=*/true);
    source.node("ns2");
    source.observe(rig.id, "ns1", Health::down, "connection refused");
    HealthVerdicts verdicts(*rig.registry, source, options());
    CHECK(verdicts.run_once() == 0);
    CHECK(rig.health().first == Health::unknown);

    source.observe(rig.id, "ns2", Health::up, "first check passed");
    verdicts.observations_changed({rig.id});
    CHECK(verdicts.run_once() == 1);
    CHECK(rig.health() == std::pair{Health::up, std::string("1 of 1 observers up (all; 1 abstaining not counted)")});

    // Every node abstaining (every vote in): the abstaining votes decide.
    source.node("ns2", /*abstaining=*/true);
    source.observe(rig.id, "ns2", Health::down, "connection refused");
    verdicts.everything_changed();
    CHECK(verdicts.run_once() == 1);
    CHECK(rig.health().first == Health::down);
  }
}

}  // namespace
}  // namespace rotor::cluster
