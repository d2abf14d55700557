// cluster::EtcdStore against a real one-member etcd on loopback: two stores
// (two "nodes", each with its own cache file and registry) share it.
#include "server/cluster/etcd_store.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "server/common/utc_time.h"
#include "server/registry/registry.h"
#include "server/snapshot/publisher.h"
#include "zones/zone_file.h"
#include "zones/zone_set.h"
#include "tests/support/etcd_cluster.h"
#include "tests/unit/server/registry/registry_test_support.h"
#include "tests/support/eventually.h"

namespace rotor::cluster {
namespace {

using ::rotor::test::eventually;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using registry::test::instance;
using registry::test::ScratchDir;
using testing::EtcdCluster;

constexpr const char* kWeb = "web.lb.example.com.";
const registry::SyntheticZoneSpec kLbZone{"lb.example.com.",
                                          {{"ns1.lb.example.com.", {"192.0.2.53"}}}};

std::string wire(const char* text) { return *zones::name_from_text(text); }

std::unique_ptr<EtcdStore> open_store(const EtcdCluster& etcd, const std::string& cache,
                                      const std::string& node) {
  return std::make_unique<EtcdStore>(std::make_shared<EtcdClient>(etcd.client_options()),
                                     EtcdStoreOptions{.prefix = EtcdCluster::kPrefix,
                                                      .node = node,
                                                      .cache_path = cache,
                                                      .catch_up_timeout = 2s,
                                                      .max_backoff = 200ms});
}

// One node: its store (borrowed from the registry), registry and what it serves.
struct Node {
  Node(const EtcdCluster& etcd, const std::string& cache, const std::string& name, bool wait = true,
       registry::RegistryOptions options = {})
      : publisher(std::make_shared<const Snapshot>()), composer(publisher, {.publish_interval = 0ms}) {
    auto owned = open_store(etcd, cache, name);
    store = owned.get();
    if (wait) REQUIRE(store->wait_synced(10s));
    registry = registry::Registry::open(std::move(owned), composer, std::move(options));
    registry->set_synthetic_zones({kLbZone});
  }
  size_t instances(const char* array) const {
    const auto found = registry->find(array);
    return found ? found->instances.size() : 0;
  }
  // The array as served, with the snapshot that holds it: another thread may
  // publish (and free the old snapshot) at any time.
  struct Served {
    std::shared_ptr<const Snapshot> snapshot;
    const arrays::ArrayState* array;
  };
  Served served(const char* array) const {
    auto snapshot = publisher.current();
    const auto* state = snapshot->arrays->find(wire(array));
    return {std::move(snapshot), state};
  }
  uint32_t serial() const {
    return publisher.current()->zones.find_authoritative(wire(kWeb))->serial();
  }

  SnapshotPublisher publisher;
  registry::SnapshotComposer composer;
  EtcdStore* store = nullptr;
  std::unique_ptr<registry::Registry> registry;
};

TEST_SUITE("unit/cluster/etcd_store") {
  TEST_CASE("the audit log tells the same story as the SQLite store's") {
    EtcdCluster etcd;
    ScratchDir dir;
    Node a(etcd, dir.file("a.db"), "a");
    const std::vector<std::string> story = registry::test::tell_audit_story(*a.registry);
    CHECK(story == registry::test::kAuditStory);
    for (size_t i = 0; i < std::min(story.size(), registry::test::kAuditStory.size()); ++i) {
      CHECK(story[i] == registry::test::kAuditStory[i]);  // shows the first line that differs
    }
    for (const registry::Event& event : a.registry->events(0, 100)) CHECK(event.node == "a");
  }

  TEST_CASE("a write through node A is served by node B - with the same zone serial") {
    EtcdCluster etcd;
    ScratchDir dir;
    Node a(etcd, dir.file("a.db"), "a");
    Node b(etcd, dir.file("b.db"), "b");
    CHECK(a.serial() == b.serial());

    a.registry->upsert_array(kWeb, {});
    const auto added = a.registry->add_instance(kWeb, instance("192.0.2.1"));
    a.registry->set_health(added.id, arrays::Health::up, "ok");
    REQUIRE(eventually([&] {
      const auto served = b.served(kWeb);
      return served.array != nullptr && served.array->instances.size() == 1 &&
             served.array->instances[0].health == arrays::Health::up;
    }));
    CHECK(b.registry->find(kWeb)->instances[0].id == added.id);
    CHECK(eventually([&] { return a.serial() == b.serial(); }));
    CHECK(a.serial() > 0);

    // B's write comes back to A; deleting through B removes it from A.
    b.registry->add_instance(kWeb, instance("192.0.2.2"));
    CHECK(eventually([&] { return a.instances(kWeb) == 2; }));
    b.registry->delete_array(kWeb);
    CHECK(eventually([&] { return !a.registry->find(kWeb).has_value() && a.served(kWeb).array == nullptr; }));
    CHECK(eventually([&] { return a.serial() == b.serial(); }));

    // One event per change, cluster-wide, with the node that made it.
    const auto events = b.registry->events(0, 100);
    REQUIRE(events.size() == 5);
    CHECK(events[0].reason == "array created");
    CHECK(events[0].node == "a");
    CHECK(events[1].reason == "instance added");
    CHECK(events[1].node == "a");
    CHECK(events[2].kind == "health");
    CHECK(events[3].node == "b");
    CHECK(events[4].reason == "array deleted");
    CHECK(events[4].node == "b");
    CHECK(events[0].id < events[4].id);
  }

  TEST_CASE("a comeback another node recorded ramps here too - from the recorded time") {
    EtcdCluster etcd;
    ScratchDir dir;
    Node a(etcd, dir.file("a.db"), "a");
    std::atomic<int64_t> skew{0};  // B's clock runs ahead by this much once its ramp is seen
    Node b(etcd, dir.file("b.db"), "b", true, {.clock = [&] { return unix_now_ms() + skew.load(); }});
    arrays::ArraySettings settings;
    settings.policy = arrays::Policy::weighted;
    settings.slow_start_ms = 60'000;
    a.registry->upsert_array(kWeb, settings);
    const auto one = a.registry->add_instance(kWeb, instance("192.0.2.1"));
    const auto two = a.registry->add_instance(kWeb, instance("192.0.2.2"));
    a.registry->set_health_many({{one.id, arrays::Health::up, "ok"}, {two.id, arrays::Health::down, "refused"}});
    REQUIRE(eventually([&] {
      const auto served = b.served(kWeb);
      return served.array != nullptr && served.array->instances.size() == 2 &&
             served.array->instances[1].health == arrays::Health::down;
    }));
    CHECK(b.served(kWeb).array->settings.slow_start_ms == 60'000);  // the etcd codec carries it

    // B has no probes: it learns of the comeback by the watch alone.
    a.registry->set_health(two.id, arrays::Health::up, "ok");
    REQUIRE(eventually([&] { return b.served(kWeb).array->instances[1].health == arrays::Health::up; }));
    const auto on_a = a.served(kWeb);
    const auto on_b = b.served(kWeb);
    CHECK(on_a.array->instances[1].slow_start_from_ms > 0);
    CHECK(on_b.array->instances[1].slow_start_from_ms == on_a.array->instances[1].slow_start_from_ms);
    CHECK(on_b.array->v4.ramping);
    CHECK(on_b.array->v4.instances[1].weight < 100);
    // B's own ramp thread takes it to its full weight when B's clock says the ramp is over.
    skew = 60'000;
    CHECK(eventually([&] { return !b.served(kWeb).array->v4.ramping; }));
    CHECK(b.served(kWeb).array->v4.instances[1].weight == 100);
  }

  TEST_CASE("remove_after on etcd - one node removes an expired instance and every node drops it") {
    EtcdCluster etcd;
    ScratchDir dir;
    Node a(etcd, dir.file("a.db"), "a");
    Node b(etcd, dir.file("b.db"), "b");
    arrays::ArraySettings settings;
    settings.check = R"({"type":"http","port":8080})";  // only checked instances expire
    settings.remove_after = 1ms;
    a.registry->upsert_array(kWeb, settings);
    const auto gone = a.registry->add_instance(kWeb, instance("192.0.2.1"));
    a.registry->add_instance(kWeb, instance("192.0.2.2"));
    a.registry->set_health(gone.id, arrays::Health::down, "connection refused");
    REQUIRE(eventually([&] {
      const auto found = b.registry->find(kWeb);
      return found && found->instances.size() == 2 && found->instances[0].health == arrays::Health::down;
    }));
    const int64_t down_since = b.registry->find(kWeb)->instances[0].health_changed_ms;
    std::this_thread::sleep_for(5ms);

    using Outcome = registry::Registry::ExpiredRemoval;
    CHECK(b.registry->remove_expired_instance(kWeb, gone.id, down_since) == Outcome::removed);
    CHECK(b.instances(kWeb) == 1);
    CHECK(eventually([&] { return a.instances(kWeb) == 1; }));
    CHECK(a.registry->find(kWeb)->instances[0].spec.address.to_string() == "192.0.2.2");
    // A reads the event B wrote to etcd: who removed it, why, and the last record.
    const std::vector<registry::Event> events = a.registry->events({.kind = "admin"});
    REQUIRE(!events.empty());
    const registry::Event& removed = events.back();
    CHECK(removed.node == "b");
    CHECK(removed.source == "remove_after");
    CHECK(removed.instance_id == gone.id);
    CHECK(removed.reason.starts_with("instance removed: remove_after 1ms: down for "));
    CHECK(removed.old_value.find("\"health\":\"down\"") != std::string::npos);
    CHECK(removed.old_value.find("connection refused") != std::string::npos);
  }

  TEST_CASE("remove_after on etcd - the removal decides on the health etcd holds") {
    EtcdCluster etcd;
    ScratchDir dir;
    Node a(etcd, dir.file("a.db"), "a");
    Node b(etcd, dir.file("b.db"), "b");
    arrays::ArraySettings settings;
    settings.check = R"({"type":"http","port":8080})";  // only checked instances expire
    settings.remove_after = 1ms;
    a.registry->upsert_array(kWeb, settings);
    const auto back = a.registry->add_instance(kWeb, instance("192.0.2.1"));
    a.registry->set_health(back.id, arrays::Health::down, "connection refused");
    a.registry->set_health(back.id, arrays::Health::up, "200 OK");
    REQUIRE(eventually([&] {
      const auto found = b.registry->find(kWeb);
      return found && found->instances.size() == 1 && found->instances[0].health == arrays::Health::up;
    }));
    // The decision sees the instance as etcd records it (up), whatever the caller thought.
    arrays::Health seen = arrays::Health::unknown;
    const bool removed = b.store->remove_instance_if(kWeb, back.id, unix_now_ms(), [&](const arrays::Instance& stored) {
      seen = stored.health;
      return stored.health == arrays::Health::up ? std::nullopt : std::optional<std::string>("down");
    });
    CHECK_FALSE(removed);
    CHECK(seen == arrays::Health::up);
    CHECK(b.instances(kWeb) == 1);
  }

  TEST_CASE("two conflicting writes - one succeeds and one is a ConcurrentChangeError") {
    EtcdCluster etcd;
    ScratchDir dir;
    auto a = open_store(etcd, dir.file("a.db"), "a");
    auto b = open_store(etcd, dir.file("b.db"), "b");
    REQUIRE(a->wait_synced(10s));
    REQUIRE(b->wait_synced(10s));
    a->upsert_array(kWeb, {}, 1);
    REQUIRE(eventually([&] { return b->load_array(kWeb).has_value(); }));

    // A reads the array, B writes it, then A commits what it read.
    CHECK_THROWS_AS(a->atomically([&] {
      a->add_instance(kWeb, instance("192.0.2.1"), 2);
      b->add_instance(kWeb, instance("192.0.2.2"), 2);
    }),
                    registry::ConcurrentChangeError);
    // A's mirror shows the winner once it has thrown, so a retry works.
    REQUIRE(a->load_array(kWeb)->instances.size() == 1);
    CHECK(a->load_array(kWeb)->instances[0].spec.address.to_string() == "192.0.2.2");
    a->add_instance(kWeb, instance("192.0.2.1"), 3);
    CHECK(a->load_array(kWeb)->instances.size() == 2);
    // The same address through both: the second is a plain conflict.
    REQUIRE(eventually([&] { return b->load_array(kWeb)->instances.size() == 2; }));
    CHECK_THROWS_AS(b->add_instance(kWeb, instance("192.0.2.1"), 4), registry::ConflictError);
  }

  TEST_CASE("a node restarted while etcd is down serves its cache at once") {
    ScratchDir dir;
    const std::string cache = dir.file("a.db");
    EtcdCluster etcd;
    {
      Node a(etcd, cache, "a");
      a.registry->upsert_array(kWeb, {});
      a.registry->add_instance(kWeb, instance("192.0.2.1"));
      a.registry->add_instance(kWeb, instance("192.0.2.2"));
      const int64_t revision = EtcdClient(etcd.client_options()).range(EtcdCluster::kPrefix).revision;
      REQUIRE(a.store->wait_for_revision(revision, 5s));
    }
    etcd.kill(0);
    Node a(etcd, cache, "a", /*wait=*/false);
    const auto served = a.served(kWeb);
    REQUIRE(served.array != nullptr);
    CHECK(served.array->instances.size() == 2);
    CHECK_FALSE(a.registry->store_status().reachable);
    CHECK_THROWS_AS(a.registry->add_instance(kWeb, instance("192.0.2.3")), registry::StoreUnavailable);
    CHECK(a.instances(kWeb) == 2);

    etcd.restart(0);
    CHECK(eventually([&] { return a.registry->store_status().reachable; }, 10s));
    a.registry->add_instance(kWeb, instance("192.0.2.3"));
    CHECK(a.instances(kWeb) == 3);
  }

  TEST_CASE("a node stopped across a compaction reads everything again and converges") {
    EtcdCluster etcd;
    ScratchDir dir;
    Node a(etcd, dir.file("a.db"), "a");
    a.registry->upsert_array(kWeb, {});
    a.registry->upsert_array("old.lb.example.com.", {});
    a.registry->add_instance(kWeb, instance("192.0.2.1"));
    {
      Node b(etcd, dir.file("b.db"), "b");
      REQUIRE(eventually([&] { return b.instances(kWeb) == 1; }));
    }
    a.registry->delete_array("old.lb.example.com.");
    a.registry->add_instance(kWeb, instance("192.0.2.2"));
    a.registry->upsert_array("new.lb.example.com.", {});
    EtcdClient client(etcd.client_options());
    client.compact(client.range(EtcdCluster::kPrefix).revision);

    // B starts from its cache (the old data at once), then converges.
    Node b(etcd, dir.file("b.db"), "b", /*wait=*/false);
    CHECK(eventually([&] {
      return b.instances(kWeb) == 2 && !b.registry->find("old.lb.example.com.") &&
             b.registry->find("new.lb.example.com.").has_value();
    }));
    CHECK(eventually([&] { return a.serial() == b.serial(); }));
    // Its cache's revision was compacted: no watch from there.
    CHECK(b.store->sync_counters().full_reads == 1);
    CHECK(b.store->sync_counters().resumed_from_cache == 0);
  }

  TEST_CASE("a node restarted while etcd keeps its revision watches from its cache without a full read") {
    EtcdCluster etcd;
    ScratchDir dir;
    Node a(etcd, dir.file("a.db"), "a");
    a.registry->upsert_array(kWeb, {});
    a.registry->upsert_array("old.lb.example.com.", {});
    a.registry->add_instance(kWeb, instance("192.0.2.1"));
    EtcdClient client(etcd.client_options());
    {
      Node b(etcd, dir.file("b.db"), "b");
      REQUIRE(eventually([&] { return b.instances(kWeb) == 1 && b.registry->find("old.lb.example.com."); }));
      CHECK(b.store->sync_counters().full_reads == 1);
      REQUIRE(b.store->wait_for_revision(client.range(EtcdCluster::kPrefix).revision, 5s));
    }
    // While B is down: an instance added, an array deleted, another created.
    a.registry->add_instance(kWeb, instance("192.0.2.2"));
    a.registry->delete_array("old.lb.example.com.");
    a.registry->upsert_array("new.lb.example.com.", {});

    Node b(etcd, dir.file("b.db"), "b");
    CHECK(b.store->sync_counters().full_reads == 0);
    CHECK(b.store->sync_counters().resumed_from_cache == 1);
    CHECK(eventually([&] {
      return b.instances(kWeb) == 2 && !b.registry->find("old.lb.example.com.") &&
             b.registry->find("new.lb.example.com.").has_value();
    }));
    CHECK(eventually([&] { return a.serial() == b.serial(); }));
    // And it follows on from there.
    a.registry->add_instance(kWeb, instance("192.0.2.3"));
    CHECK(eventually([&] { return b.instances(kWeb) == 3; }));
    CHECK(b.store->sync_counters().full_reads == 0);
  }

  TEST_CASE("a node restarted on another etcd cluster that has its cache's revision reads everything") {
    EtcdCluster first;
    EtcdCluster second;
    ScratchDir dir;
    const std::string cache = dir.file("a.db");
    EtcdClient first_client(first.client_options());
    EtcdClient second_client(second.client_options());
    int64_t cached = 0;
    {
      Node a(first, cache, "a");
      a.registry->upsert_array("old.lb.example.com.", {});
      a.registry->upsert_array(kWeb, {});
      a.registry->add_instance(kWeb, instance("192.0.2.1"));
      cached = first_client.range(EtcdCluster::kPrefix).revision;
      REQUIRE(a.store->wait_for_revision(cached, 5s));
    }
    {
      Node b(second, dir.file("b.db"), "b");
      b.registry->upsert_array(kWeb, {});
      b.registry->add_instance(kWeb, instance("192.0.2.7"));
      b.registry->add_instance(kWeb, instance("192.0.2.8"));
    }
    // The second cluster is past the cache's revision: only its id tells.
    while (second_client.range(EtcdCluster::kPrefix).revision < cached + 1) second_client.put("/other/key", "x");
    REQUIRE(first_client.range(EtcdCluster::kPrefix).cluster_id !=
            second_client.range(EtcdCluster::kPrefix).cluster_id);

    Node a(second, cache, "a");
    CHECK(a.store->sync_counters().full_reads == 1);
    CHECK(a.store->sync_counters().resumed_from_cache == 0);
    CHECK_FALSE(a.registry->find("old.lb.example.com.").has_value());
    CHECK(a.instances(kWeb) == 2);
    CHECK(eventually([&] { return a.served(kWeb).array != nullptr && a.served(kWeb).array->instances.size() == 2; }));
  }

  TEST_CASE("the config applied by two nodes is written once") {
    EtcdCluster etcd;
    ScratchDir dir;
    Node a(etcd, dir.file("a.db"), "a");
    Node b(etcd, dir.file("b.db"), "b");
    const std::vector<registry::ConfigArray> config{
        {kWeb, {}, {instance("192.0.2.1"), instance("192.0.2.2")}}};
    a.registry->apply_config_arrays(config);
    REQUIRE(eventually([&] { return b.instances(kWeb) == 2; }));
    // Who owns an array is each node's config, not etcd's: b serves a's
    // array as the API's (and takes writes to it) until b's config declares it.
    CHECK(a.registry->find(kWeb)->config_source == "the config");
    CHECK(b.registry->find(kWeb)->config_source.empty());
    EtcdClient client(etcd.client_options());
    const int64_t before = client.range(EtcdCluster::kPrefix).revision;
    b.registry->apply_config_arrays(config);
    a.registry->apply_config_arrays(config);
    CHECK(client.range(EtcdCluster::kPrefix).revision == before);
    CHECK(b.registry->find(kWeb)->config_source == "the config");
  }

  TEST_CASE("a registry on etcd refuses what makes no sense before anything reaches etcd") {
    EtcdCluster etcd;
    ScratchDir dir;
    Node a(etcd, dir.file("a.db"), "a");
    zones::ZoneSet files;
    files.add(zones::load_zone_file(
        std::string(ROTOR_TEST_DATA) + "/arrays/conflicts.example.test.zone", "conflicts.example.test."));
    a.composer.set_base(files, {});
    a.registry->upsert_array(kWeb, {});
    EtcdClient client(etcd.client_options());
    const int64_t before = client.range(EtcdCluster::kPrefix).revision;

    struct Case {
      const char* what;
      std::function<void()> write;
      const char* message;
    };
    const Case cases[] = {
        {"array at a CNAME", [&] { a.registry->upsert_array("alias.conflicts.example.test", {}); },
         "name: alias.conflicts.example.test. has a CNAME in zone conflicts.example.test."},
        {"array below a DNAME",
         [&] { a.registry->upsert_array("x.old.conflicts.example.test", {}); },
         "name: x.old.conflicts.example.test. is below the DNAME at old.conflicts.example.test. in "
         "zone conflicts.example.test."},
        {"config array at static A",
         [&] { a.registry->apply_config_arrays({{"static4.conflicts.example.test.", {}, {}}}); },
         "array static4.conflicts.example.test.: static4.conflicts.example.test. has static A "
         "records in zone conflicts.example.test."},
        {"unspecified address", [&] { a.registry->add_instance(kWeb, instance("0.0.0.0")); },
         "address: 0.0.0.0 cannot be a server: unspecified (0.0.0.0/8 means this host, never a "
         "destination)"},
        {"multicast address", [&] { a.registry->add_instance(kWeb, instance("ff02::1")); },
         "address: ff02::1 cannot be a server: multicast (ff00::/8)"},
        {"IPv4-mapped address", [&] { a.registry->add_instance(kWeb, instance("::ffff:192.0.2.1")); },
         "address: ::ffff:192.0.2.1 is IPv4-mapped; give it as 192.0.2.1"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.what);
      CHECK_THROWS_WITH(c.write(), c.message);
    }
    CHECK(client.range(EtcdCluster::kPrefix).revision == before);
    CHECK(a.registry->find(kWeb)->instances.empty());
  }

  TEST_CASE("a write past etcd's limits is refused naming them") {
    EtcdCluster etcd;
    ScratchDir dir;
    auto store = open_store(etcd, dir.file("a.db"), "a");
    REQUIRE(store->wait_synced(10s));
    store->upsert_array(kWeb, {}, 1);
    std::vector<arrays::InstanceSpec> many;
    for (int i = 1; i <= 200; ++i) many.push_back(instance(("10.0.0." + std::to_string(i)).c_str()));
    CHECK_THROWS_WITH_AS(store->replace_instances(kWeb, many, 2),
                         doctest::Contains("etcd takes at most 128 operations"),
                         registry::ValidationError);
    CHECK(store->load_array(kWeb)->instances.empty());
  }
}

}  // namespace
}  // namespace rotor::cluster
