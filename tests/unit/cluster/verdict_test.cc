#include "server/cluster/verdict.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace rotor::cluster {
namespace {

using arrays::Health;
using probes::Quorum;

constexpr Quorum kMajority{Quorum::Rule::majority, 0};
constexpr Quorum kAny{Quorum::Rule::any, 0};
constexpr Quorum kAll{Quorum::Rule::all, 0};
constexpr Quorum quorum_of(uint32_t count) { return {Quorum::Rule::count, count}; }

Observation up(const char* node) { return {node, Health::up, "HTTP 200", 1000, false}; }
Observation down(const char* node, const char* reason = "HTTP 503") {
  return {node, Health::down, reason, 2000, false};
}
Observation unknown(const char* node) { return {node, Health::unknown, "", 0, false}; }
Observation abstaining(Observation observation) {
  observation.abstaining = true;
  return observation;
}

TEST_SUITE("unit/cluster/verdict") {
  TEST_CASE("cluster/verdict: quorum rules decide from the counted votes") {
    struct Row {
      const char* name;
      std::vector<Observation> observations;
      Quorum quorum;
      Health previous;
      Health health;
      std::string reason;
      bool steady_vote_pending = false;
    };
    const std::vector<Row> rows{
        {"majority all up", {up("ns1"), up("ns2"), up("ns3")}, kMajority, Health::unknown, Health::up,
         "3 of 3 observers up (majority)"},
        {"majority one down stays up", {up("ns1"), down("ns2"), up("ns3")}, kMajority, Health::up, Health::up,
         "2 of 3 observers up (majority)"},
        {"majority two down goes down", {down("ns1", "timeout after 2000 ms"), down("ns2"), up("ns3")}, kMajority,
         Health::up, Health::down, "1 of 3 observers up (majority); ns1: timeout after 2000 ms"},
        {"majority tie stays up", {up("ns1"), down("ns2")}, kMajority, Health::down, Health::up,
         "1 of 2 observers up (majority)"},
        {"majority one observer down", {down("ns1")}, kMajority, Health::up, Health::down,
         "0 of 1 observers up (majority); ns1: HTTP 503"},
        {"any one up is up", {down("ns1"), down("ns2"), up("ns3")}, kAny, Health::down, Health::up,
         "1 of 3 observers up (any)"},
        {"any none up is down", {down("ns1"), down("ns2")}, kAny, Health::up, Health::down,
         "0 of 2 observers up (any); ns1: HTTP 503"},
        {"all one down is down", {up("ns1"), up("ns2"), down("ns3", "connection refused")}, kAll, Health::up,
         Health::down, "2 of 3 observers up (all); ns3: connection refused"},
        {"all every one up", {up("ns1"), up("ns2")}, kAll, Health::down, Health::up, "2 of 2 observers up (all)"},
        {"count 2 of 3 up", {up("ns1"), down("ns2"), up("ns3")}, quorum_of(2), Health::down, Health::up,
         "2 of 3 observers up (quorum 2)"},
        {"count 2 with one up", {up("ns1"), down("ns2"), down("ns3")}, quorum_of(2), Health::up, Health::down,
         "1 of 3 observers up (quorum 2); ns2: HTTP 503"},
        {"count above the votes needs every vote", {up("ns1"), up("ns2")}, quorum_of(3), Health::down,
         Health::up, "2 of 2 observers up (quorum 3)"},
        {"count above the votes with one down", {up("ns1"), down("ns2")}, quorum_of(3), Health::up,
         Health::down, "1 of 2 observers up (quorum 3); ns2: HTTP 503"},
        {"unknown observations do not vote", {unknown("ns1"), down("ns2"), up("ns3")}, kAll, Health::up,
         Health::down, "1 of 2 observers up (all); ns2: HTTP 503"},
        {"abstaining node is not counted", {abstaining(down("ns1")), up("ns2"), up("ns3")}, kAll, Health::up,
         Health::up, "2 of 2 observers up (all; 1 abstaining not counted)"},
        {"abstaining majority is not counted", {abstaining(down("ns1")), abstaining(down("ns2")), up("ns3")},
         kMajority, Health::up, Health::up, "1 of 1 observers up (majority; 2 abstaining not counted)"},
        {"only abstaining nodes: they count", {abstaining(down("ns1")), abstaining(up("ns2"))}, kAll, Health::up,
         Health::down, "1 of 2 observers up (all; every observer abstaining); ns1: HTTP 503"},
        {"abstaining votes count when the others are unknown", {abstaining(down("ns1")), unknown("ns2")},
         kMajority, Health::up, Health::down,
         "0 of 1 observers up (majority; every observer abstaining); ns1: HTTP 503"},
        {"abstaining votes wait for a steady observer that has not checked", {abstaining(down("ns1"))},
         kAll, Health::unknown, Health::unknown,
         "no observer has checked it yet (1 abstaining not counted while others have not checked)", true},
        {"a pending steady observer does not hold back the steady votes", {abstaining(down("ns1")), up("ns2")},
         kAll, Health::unknown, Health::up, "1 of 1 observers up (all; 1 abstaining not counted)", true},
        {"no observations keep the previous verdict", {}, kMajority, Health::down, Health::down,
         "no observer has a vote: stays down"},
        {"no votes keep the previous verdict", {unknown("ns1")}, kAll, Health::up, Health::up,
         "no observer has a vote: stays up"},
        {"nothing before the first check", {}, kMajority, Health::unknown, Health::unknown,
         "no observer has checked it yet"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.name);
      const Verdict result = verdict(row.observations, row.quorum, row.previous, row.steady_vote_pending);
      CHECK(result.health == row.health);
      CHECK(result.reason == row.reason);
      CHECK(result.observers.size() == row.observations.size());
    }
  }

  TEST_CASE("cluster/verdict: observers are listed by node with whether they were counted") {
    const Verdict result =
        verdict({up("ns3"), abstaining(down("ns1")), unknown("ns2")}, kMajority, Health::unknown);
    REQUIRE(result.observers.size() == 3);
    CHECK(result.observers[0].observation.node == "ns1");
    CHECK_FALSE(result.observers[0].counted);
    CHECK(result.observers[0].observation.abstaining);
    CHECK(result.observers[0].observation.reason == "HTTP 503");
    CHECK(result.observers[0].observation.time_ms == 2000);
    CHECK(result.observers[1].observation.node == "ns2");
    CHECK_FALSE(result.observers[1].counted);
    CHECK(result.observers[2].observation.node == "ns3");
    CHECK(result.observers[2].counted);
    CHECK_FALSE(result.kept_previous);
    CHECK(verdict({}, kMajority, Health::up).kept_previous);
  }

  TEST_CASE("cluster/verdict: the backend's report is the minimum of the counted observers that see it up") {
    const auto reporting = [](Observation observation, uint8_t weight, bool draining = false) {
      observation.reported_weight = weight;
      observation.reported_draining = draining;
      return observation;
    };
    struct Row {
      const char* name;
      std::vector<Observation> observations;
      uint8_t weight;
      bool draining;
    };
    const std::vector<Row> rows{
        {"no report is full weight", {up("ns1"), up("ns2")}, 100, false},
        {"the lowest weight wins", {reporting(up("ns1"), 25), reporting(up("ns2"), 50), up("ns3")}, 25, false},
        {"one drain drains", {reporting(up("ns1"), 80, true), reporting(up("ns2"), 80)}, 80, true},
        {"an observer seeing it down is left out", {reporting(down("ns1"), 10, true), reporting(up("ns2"), 60)}, 60,
         false},
        {"an abstainer is left out as for its vote", {abstaining(reporting(up("ns1"), 5)), reporting(up("ns2"), 70)},
         70, false},
        {"nothing up is full weight", {reporting(down("ns1"), 10), reporting(down("ns2"), 20)}, 100, false},
    };
    for (const Row& row : rows) {
      CAPTURE(row.name);
      const Verdict result = verdict(row.observations, kMajority, Health::up);
      CHECK(result.reported_weight == row.weight);
      CHECK(result.reported_draining == row.draining);
    }
  }

  TEST_CASE("cluster/verdict: the order of the observations does not matter") {
    const std::vector<Observation> forward{down("ns1", "a"), down("ns2", "b"), up("ns3")};
    const std::vector<Observation> backward{up("ns3"), down("ns2", "b"), down("ns1", "a")};
    CHECK(verdict(forward, kMajority, Health::up).reason == verdict(backward, kMajority, Health::up).reason);
  }
}

}  // namespace
}  // namespace rotor::cluster
