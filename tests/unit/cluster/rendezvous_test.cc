#include "server/cluster/rendezvous.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "server/app/health_monitor.h"

namespace rotor::cluster {
namespace {

const std::vector<std::string> kFive{"ns1", "ns2", "ns3", "ns4", "ns5"};

std::set<std::string> chosen(int64_t id, const std::vector<std::string>& nodes, uint32_t count) {
  const std::vector<std::string> list = choose_observers(id, nodes, count);
  return {list.begin(), list.end()};
}

// A cluster node's sink that only answers `observes`, as Membership does.
struct RendezvousSink : probes::ObservationSink {
  RendezvousSink(std::string node, std::vector<std::string> nodes)
      : node(std::move(node)), nodes(std::move(nodes)) {}
  bool observes(int64_t instance_id, uint32_t observers) const override {
    return cluster::observes(node, instance_id, nodes, observers);
  }
  void set_targets(const std::vector<int64_t>&) override {}
  void publish(const std::vector<probes::ProbeReport>&) override {}
  std::string node;
  std::vector<std::string> nodes;
};

TEST_SUITE("unit/cluster/rendezvous") {
  TEST_CASE("cluster/rendezvous: the choice is the top scores and agrees with observes") {
    for (int64_t id = 1; id <= 200; ++id) {
      CAPTURE(id);
      const std::vector<std::string> two = choose_observers(id, kFive, 2);
      REQUIRE(two.size() == 2);
      CHECK(rendezvous_score(two[0], id) >= rendezvous_score(two[1], id));
      for (const std::string& node : kFive) {
        const bool in = std::find(two.begin(), two.end(), node) != two.end();
        CHECK(observes(node, id, kFive, 2) == in);
        if (!in) CHECK(rendezvous_score(node, id) <= rendezvous_score(two[1], id));
      }
      // The node order given does not matter.
      std::vector<std::string> reversed(kFive.rbegin(), kFive.rend());
      CHECK(choose_observers(id, reversed, 2) == two);
    }
  }

  TEST_CASE("cluster/rendezvous: count 0 or at least the nodes chooses every node") {
    CHECK(chosen(7, kFive, 0).size() == 5);
    CHECK(chosen(7, kFive, 5).size() == 5);
    CHECK(chosen(7, kFive, 9).size() == 5);
    CHECK(choose_observers(7, {}, 2).empty());
    CHECK(observes("ns1", 7, kFive, 0));
    CHECK(observes("ns1", 7, kFive, 9));
    // A node not in the list (not registered yet) observes only when all do.
    CHECK(observes("ns9", 7, kFive, 0));
    CHECK_FALSE(observes("ns9", 7, kFive, 2));
    CHECK_FALSE(observes("ns9", 7, kFive, 9));
  }

  TEST_CASE("cluster/rendezvous: the score is fixed across builds") {
    // Every node must compute the same choice: no std::hash, no seeds.
    CHECK(rendezvous_score("ns1", 1) == rendezvous_score(std::string("ns1"), 1));
    CHECK(rendezvous_score("ns1", 1) != rendezvous_score("ns2", 1));
    CHECK(rendezvous_score("ns1", 1) != rendezvous_score("ns1", 2));
  }

  TEST_CASE("cluster/rendezvous: stable under unrelated node changes") {
    std::vector<std::string> four(kFive.begin(), kFive.end() - 1);  // ns5 leaves
    std::vector<std::string> six = kFive;
    six.push_back("ns6");  // ns6 joins
    size_t moved_on_join = 0;
    const int64_t kIds = 2000;
    for (int64_t id = 1; id <= kIds; ++id) {
      CAPTURE(id);
      const std::set<std::string> before = chosen(id, kFive, 2);
      if (!before.contains("ns5")) CHECK(chosen(id, four, 2) == before);
      const std::set<std::string> after = chosen(id, six, 2);
      if (after != before) {
        ++moved_on_join;
        CHECK(after.contains("ns6"));  // only what the new node wins moves
        std::set<std::string> kept;
        std::set_intersection(before.begin(), before.end(), after.begin(), after.end(),
                              std::inserter(kept, kept.begin()));
        CHECK(kept.size() == 1);
      }
    }
    // ns6 is among the top two of six for about a third of the ids.
    CHECK(moved_on_join > kIds / 3 - 150);
    CHECK(moved_on_join < kIds / 3 + 150);
  }

  TEST_CASE("cluster/rendezvous: 10000 targets on 5 nodes with 2 observers spread evenly") {
    std::map<std::string, int> load;
    const int kTargets = 10000;
    for (int64_t id = 1; id <= kTargets; ++id) {
      for (const std::string& node : choose_observers(id, kFive, 2)) ++load[node];
    }
    // Each node observes an instance with probability 2/5: Binomial(10000, 0.4),
    // mean 4000, standard deviation about 49; five deviations either way.
    const double sigma = std::sqrt(kTargets * 0.4 * 0.6);
    int total = 0;
    for (const std::string& node : kFive) {
      CAPTURE(node);
      CHECK(std::abs(load[node] - 4000) < 5 * sigma);
      total += load[node];
    }
    CHECK(total == 2 * kTargets);
  }

  TEST_CASE("cluster/rendezvous: each node's probe targets are what it observes") {
    registry::RegisteredArray two_observers;
    two_observers.name = "web.lb.example.com.";
    two_observers.settings.check = R"({"type":"tcp","port":80,"observers":2})";
    registry::RegisteredArray everyone;
    everyone.name = "all.lb.example.com.";
    everyone.settings.check = R"({"type":"tcp","port":80})";
    for (int64_t id = 1; id <= 300; ++id) {
      arrays::Instance instance;
      instance.id = id;
      instance.spec.address = *arrays::IpAddress::parse("192.0.2." + std::to_string(id % 250 + 1));
      instance.health = arrays::Health::up;
      (id <= 150 ? two_observers : everyone).instances.push_back(instance);
    }
    const std::vector<std::string> nodes{"ns1", "ns2", "ns3"};
    std::map<int64_t, int> probed_by;
    for (const std::string& node : nodes) {
      const RendezvousSink sink(node, nodes);
      for (const probes::ProbeTarget& target : app::probe_targets({two_observers, everyone}, &sink)) {
        ++probed_by[target.instance_id];
        CHECK(target.health == arrays::Health::unknown);  // a node's own view starts unknown
        if (target.instance_id <= 150) CHECK(observes(node, target.instance_id, nodes, 2));
      }
    }
    REQUIRE(probed_by.size() == 300);
    for (const auto& [id, count] : probed_by) {
      CAPTURE(id);
      CHECK(count == (id <= 150 ? 2 : 3));
    }
  }
}

}  // namespace
}  // namespace rotor::cluster
