#include "server/cluster/membership.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/etcd_cluster.h"
#include "tests/support/eventually.h"

namespace rotor::cluster {
namespace {

using ::rotor::test::eventually;

using namespace std::chrono_literals;
using arrays::Health;
using Clock = std::chrono::steady_clock;
using testing::EtcdCluster;

const std::string kMembershipPrefix = EtcdCluster::kPrefix;

MembershipOptions options_for(const std::string& node) {
  MembershipOptions options;
  options.prefix = kMembershipPrefix;
  options.node = node;
  options.region = "eu";
  options.lease_ttl = 2s;  // etcd's minimum is about 2 s
  options.retry_interval = 200ms;
  return options;
}

probes::ProbeReport report(int64_t id, Health health, std::string reason) {
  return {id, health, std::move(reason), {}};
}

std::optional<std::string> value_of(EtcdClient& client, const std::string& key) {
  const RangeResult result = client.range(kMembershipPrefix + key);
  if (result.kvs.empty()) return std::nullopt;
  return result.kvs[0].value;
}

TEST_SUITE("unit/cluster/membership") {
  TEST_CASE("cluster/membership: the value forms round trip and bad values read as unknown") {
    const Observation seen{"ns1", Health::down, "HTTP 503", 1234, false};
    const Observation back = parse_observation("ns1", observation_value(seen));
    CHECK(back.health == Health::down);
    CHECK(back.reason == "HTTP 503");
    CHECK(back.time_ms == 1234);
    CHECK(back.reported_weight == 100);
    CHECK_FALSE(back.reported_draining);
    // The backend's report travels with the observation; without one the value reads as before.
    CHECK(observation_value(seen).find("weight") == std::string::npos);
    const Observation loaded = parse_observation(
        "ns1", observation_value({"ns1", Health::up, "HTTP 200", 1234, false, 25, true}));
    CHECK(loaded.reported_weight == 25);
    CHECK(loaded.reported_draining);
    CHECK(parse_observation("ns2", R"({"health": "up", "weight": 101})").reported_weight == 100);
    CHECK(parse_observation("ns2", "not json").health == Health::unknown);
    CHECK(parse_observation("ns2", R"({"health": 3})").health == Health::unknown);
    const NodeRecord node = parse_node(node_value({"eu", 99, true}));
    CHECK(node.region == "eu");
    CHECK(node.started_ms == 99);
    CHECK(node.abstaining);
    CHECK_FALSE(parse_node("[]").abstaining);
    // A record from before lease_ttl_s and progress/ still reads; those are absent.
    const NodeRecord old = parse_node(R"({"region": "us", "started_ms": 5, "abstaining": false})");
    CHECK(old.region == "us");
    CHECK(old.lease_ttl_s == 0);
    CHECK_FALSE(old.revision_applied.has_value());
    NodeRecord progressed = parse_node(node_value({"eu", 99, false, 10, {}, {}}));
    CHECK(progressed.lease_ttl_s == 10);
    parse_progress(progress_value(412, 850), progressed);
    CHECK(progressed.revision_applied == 412);
    CHECK(progressed.watch_lag_ms == 850);
    NodeRecord bad;
    parse_progress(R"({"revision_applied": "x"})", bad);
    CHECK_FALSE(bad.revision_applied.has_value());
    CHECK_FALSE(bad.watch_lag_ms.has_value());
  }

  TEST_CASE("cluster/membership: members lists every live node with its region lease and progress") {
    EtcdCluster etcd;
    auto client = std::make_shared<EtcdClient>(etcd.client_options());
    MembershipOptions first = options_for("ns1");
    first.progress = [] { return std::pair<int64_t, int64_t>(41, 7); };
    MembershipOptions second = options_for("ns2");
    second.region = "us";
    second.progress = [] { return std::pair<int64_t, int64_t>(42, 9); };
    Membership a(client, first);
    Membership b(std::make_shared<EtcdClient>(etcd.client_options()), second);
    a.start();
    b.start();
    // Each reads the other's progress at its next keepalive (every ttl/3).
    const auto sees_b = [&] {
      const std::vector<MemberNode> members = a.members();
      return members.size() == 2 && members[1].name == "ns2" && members[1].record.revision_applied == 42;
    };
    REQUIRE(eventually(sees_b, 10s));
    const std::vector<MemberNode> members = a.members();
    CHECK(members[0].name == "ns1");
    CHECK(members[0].record.region == "eu");
    CHECK(members[0].record.revision_applied == 41);
    CHECK(members[0].lease == a.lease());
    CHECK(members[1].record.region == "us");
    CHECK(members[1].record.watch_lag_ms == 9);
    CHECK(members[1].record.lease_ttl_s == 2);
    CHECK(members[1].lease == b.lease());
    const auto progress = value_of(*client, "progress/ns2");
    REQUIRE(progress);
    CHECK(client->range(kMembershipPrefix + "progress/ns2").kvs[0].lease == b.lease());

    // Killed (no revoke): it leaves the list once its lease expires.
    b.stop(/*revoke=*/false);
    CHECK(eventually([&] { return a.members().size() == 1; }, 10s));
    CHECK_FALSE(value_of(*client, "progress/ns2"));
  }

  TEST_CASE("cluster/membership: observations are published under the lease and vanish when it expires") {
    EtcdCluster etcd;
    auto client = std::make_shared<EtcdClient>(etcd.client_options());
    Membership membership(client, options_for("ns1"));
    membership.start();
    membership.set_targets({7, 8});
    membership.publish({report(7, Health::up, "first check passed"), report(8, Health::down, "HTTP 503")});
    REQUIRE(eventually([&] { return membership.settled(); }, 10s));

    const auto node = value_of(*client, "nodes/ns1");
    REQUIRE(node);
    CHECK(parse_node(*node).region == "eu");
    CHECK_FALSE(parse_node(*node).abstaining);
    const auto down = value_of(*client, "observations/8/ns1");
    REQUIRE(down);
    CHECK(parse_observation("ns1", *down).health == Health::down);
    CHECK(parse_observation("ns1", *down).reason == "HTTP 503");
    const RangeResult leased = client->range(kMembershipPrefix + "observations/7/ns1");
    REQUIRE(leased.kvs.size() == 1);
    CHECK(leased.kvs[0].lease == membership.lease());

    // Only transitions are written: a new one replaces the value.
    membership.publish({report(8, Health::up, "2 checks passed")});
    CHECK(eventually([&] {
      const auto now = value_of(*client, "observations/8/ns1");
      return now && parse_observation("ns1", *now).health == Health::up;
    }, 5s));
    // An instance no longer probed loses its observation.
    membership.set_targets({7});
    CHECK(eventually([&] { return !value_of(*client, "observations/8/ns1"); }, 5s));

    // Kept alive well past the TTL, the keys stay.
    std::this_thread::sleep_for(3s);
    CHECK(value_of(*client, "observations/7/ns1"));

    // As if the process were killed: no keepalive, no revoke. Gone within the TTL (plus etcd's slack).
    membership.stop(/*revoke=*/false);
    const auto stopped = Clock::now();
    CHECK(eventually([&] { return !value_of(*client, "observations/7/ns1") && !value_of(*client, "nodes/ns1"); },
                     8s));
    MESSAGE("keys gone " << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stopped).count()
                         << " ms after the last keepalive stopped");
  }

  TEST_CASE("cluster/membership: a clean stop revokes the lease and the keys go at once") {
    EtcdCluster etcd;
    auto client = std::make_shared<EtcdClient>(etcd.client_options());
    Membership membership(client, options_for("ns1"));
    membership.start();
    membership.set_targets({1});
    membership.publish({report(1, Health::up, "ok")});
    REQUIRE(eventually([&] { return membership.settled(); }, 10s));
    membership.stop();
    CHECK_FALSE(value_of(*client, "observations/1/ns1"));
    CHECK_FALSE(value_of(*client, "nodes/ns1"));
  }

  TEST_CASE("cluster/membership: a lost lease is replaced and every key put again") {
    EtcdCluster etcd;
    auto client = std::make_shared<EtcdClient>(etcd.client_options());
    Membership membership(client, options_for("ns1"));
    membership.start();
    membership.set_targets({1, 2});
    membership.publish({report(1, Health::up, "ok"), report(2, Health::down, "connection refused")});
    REQUIRE(eventually([&] { return membership.settled(); }, 10s));
    const int64_t first = membership.lease();
    client->lease_revoke(first);  // what expiry does to a node cut off too long
    CHECK_FALSE(value_of(*client, "observations/2/ns1"));
    CHECK(eventually([&] {
      return membership.lease() != first && membership.settled() && value_of(*client, "observations/2/ns1") &&
             value_of(*client, "nodes/ns1");
    }, 10s));
    CHECK(parse_observation("ns1", *value_of(*client, "observations/2/ns1")).reason == "connection refused");
  }

  TEST_CASE("cluster/membership: a node with most of its targets down abstains and votes again when they recover") {
    EtcdCluster etcd;
    auto client = std::make_shared<EtcdClient>(etcd.client_options());
    Membership membership(client, options_for("ns1"));
    membership.start();
    membership.set_targets({1, 2, 3, 4});
    membership.publish({report(1, Health::up, "ok"), report(2, Health::up, "ok"), report(3, Health::up, "ok"),
                        report(4, Health::up, "ok")});
    REQUIRE(eventually([&] { return membership.settled(); }, 10s));
    const auto abstaining = [&] {
      const auto node = value_of(*client, "nodes/ns1");
      return node && parse_node(*node).abstaining;
    };
    CHECK_FALSE(abstaining());

    // Half down is not more than half (abstain_share 0.5).
    membership.publish({report(1, Health::down, "timeout after 2000 ms"), report(2, Health::down, "timeout after 2000 ms")});
    REQUIRE(eventually([&] { return membership.settled(); }, 5s));
    CHECK_FALSE(membership.abstaining());
    CHECK_FALSE(abstaining());

    membership.publish({report(3, Health::down, "timeout after 2000 ms")});
    CHECK(membership.abstaining());
    CHECK(eventually(abstaining, 5s));
    CHECK(membership.own_observation(3)->abstaining);

    membership.publish({report(1, Health::up, "ok"), report(2, Health::up, "ok")});
    CHECK_FALSE(membership.abstaining());
    CHECK(eventually([&] { return !abstaining(); }, 5s));
    membership.stop();
  }

  TEST_CASE("cluster/membership: a down transition is held and goes out with the abstaining flag when more follow") {
    EtcdCluster etcd;
    auto client = std::make_shared<EtcdClient>(etcd.client_options());
    MembershipOptions options = options_for("ns1");
    options.down_hold = 60s;  // longer than the test: only abstaining releases it
    Membership membership(client, options);
    membership.start();
    membership.set_targets({1, 2, 3, 4});
    membership.publish({report(1, Health::up, "ok"), report(2, Health::up, "ok"), report(3, Health::up, "ok"),
                        report(4, Health::up, "ok")});
    REQUIRE(eventually([&] { return membership.settled(); }, 10s));
    const auto health_of = [&](int64_t id) {
      const auto value = value_of(*client, "observations/" + std::to_string(id) + "/ns1");
      return value ? parse_observation("ns1", *value).health : Health::unknown;
    };

    // One down: held, the shared key still says up (a cut-off node's first
    // failures must not vote before the rest make it abstain).
    membership.publish({report(1, Health::down, "connection refused")});
    std::this_thread::sleep_for(500ms);
    CHECK(health_of(1) == Health::up);
    CHECK_FALSE(membership.settled());

    // Most down: it abstains, and the held ones go out with the flag.
    membership.publish({report(2, Health::down, "connection refused"), report(3, Health::down, "connection refused")});
    CHECK(eventually([&] { return membership.settled(); }, 5s));
    const auto node = value_of(*client, "nodes/ns1");
    REQUIRE(node);
    CHECK(parse_node(*node).abstaining);
    for (int64_t id : {1, 2, 3}) CHECK(health_of(id) == Health::down);
    CHECK(health_of(4) == Health::up);

    // An up transition is never held.
    membership.publish({report(1, Health::up, "ok")});
    CHECK(eventually([&] { return health_of(1) == Health::up; }, 5s));
    membership.stop();
  }

  TEST_CASE("cluster/membership: too few targets never abstain") {
    EtcdCluster etcd;
    auto client = std::make_shared<EtcdClient>(etcd.client_options());
    Membership membership(client, options_for("ns1"));
    membership.set_targets({1, 2, 3});
    membership.publish({report(1, Health::down, "x"), report(2, Health::down, "x"), report(3, Health::down, "x")});
    CHECK_FALSE(membership.abstaining());
  }

  TEST_CASE("cluster/membership: nodes see each other and split the observers between them") {
    EtcdCluster etcd;
    auto client = std::make_shared<EtcdClient>(etcd.client_options());
    Membership one(client, options_for("ns1"));
    Membership two(client, options_for("ns2"));
    std::atomic<int> changes{0};
    one.set_nodes_changed_handler([&] { ++changes; });
    // Alone, a node observes everything, whatever the check asks.
    CHECK(one.observes(5, 1));
    one.start();
    two.start();
    const std::vector<std::string> both{"ns1", "ns2"};
    CHECK(eventually([&] { return one.live_nodes() == both && two.live_nodes() == both; }, 10s));
    CHECK(changes.load() >= 1);
    for (int64_t id = 1; id <= 50; ++id) {
      CAPTURE(id);
      CHECK(one.observes(id, 1) != two.observes(id, 1));  // exactly one of the two
      CHECK(one.observes(id, 0));
      CHECK(two.observes(id, 2));
    }
    two.stop();  // revoked: gone from the others' list at their next read
    CHECK(eventually([&] { return one.live_nodes() == std::vector<std::string>{"ns1"}; }, 10s));
    one.stop();
  }
}

}  // namespace
}  // namespace rotor::cluster
