// Instance arrays through the query path: bytes in, selected records out.
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <set>

#include "server/arrays/array_state.h"
#include "server/arrays/zone_cuts.h"
#include "server/query/responder.h"
#include "tests/support/dns_client.h"
#include "tests/unit/server/query/query_snapshot.h"
#include "tests/unit/support/allocation_counter.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/server/query/array_answer");

namespace rotor {
namespace {

using arrays::AdminState;
using arrays::Health;

arrays::Instance instance(int64_t id, const std::string& address, Health health,
                          AdminState state = AdminState::enabled) {
  arrays::Instance out;
  out.id = id;
  out.spec.address = *arrays::IpAddress::parse(address);
  out.spec.state = state;
  out.health = health;
  return out;
}

std::shared_ptr<Snapshot> snapshot_with_array(std::vector<arrays::Instance> instances,
                                              arrays::ArraySettings settings = {},
                                              const char* name = "farm.example.test.") {
  auto snapshot = test::query_zone_snapshot();
  const auto& regions = snapshot->geo.regions;
  auto state = arrays::ArrayState::build(*zones::name_from_text(name), 0,
                                         settings, std::move(instances), *regions);
  snapshot->arrays = snapshot->arrays->with(state);
  return snapshot;
}

struct Answer {
  ldns_pkt_rcode rcode;
  bool aa;
  std::vector<std::string> answer;
  std::vector<std::string> authority;
};

Answer ask(const Snapshot& snapshot, WorkerState& state, const std::string& name,
           ldns_rr_type type) {
  std::vector<uint8_t> out(kReplyBufferSize);
  const auto query = test::make_query(name, type);
  const size_t size = answer_query(snapshot, query, ClientInfo{}, out, state);
  out.resize(size);
  auto packet = test::parse_reply(out);
  REQUIRE(packet);
  return {ldns_pkt_get_rcode(packet.get()), ldns_pkt_aa(packet.get()),
          test::section_text(*packet, LDNS_SECTION_ANSWER),
          test::section_text(*packet, LDNS_SECTION_AUTHORITY)};
}

TEST_CASE("an array below a zone cut is referred like any name there") {
  // Found by the query fuzzer: the array used to be answered with AA set,
  // although child.example.test. is delegated away.
  const auto snapshot = snapshot_with_array({instance(1, "192.0.2.1", Health::up)}, {},
                                            "web.child.example.test.");
  // As the snapshot composer works it out (and the default of a snapshot
  // that does not know).
  CHECK(arrays::any_array_at_zone_cuts(snapshot->zones, *snapshot->arrays));
  CHECK(snapshot->arrays_at_zone_cuts);
  WorkerState state;
  prepare_worker_state(*snapshot, state);
  for (const ldns_rr_type type : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_TXT}) {
    const Answer reply = ask(*snapshot, state, "web.child.example.test.", type);
    CHECK(reply.rcode == LDNS_RCODE_NOERROR);
    CHECK_FALSE(reply.aa);
    CHECK(reply.answer.empty());
    REQUIRE(reply.authority.size() == 2);
    CHECK(reply.authority[0].find("child.example.test.") == 0);
    CHECK(reply.authority[0].find("NS") != std::string::npos);
  }
}

TEST_CASE("an array beside a zone cut is answered whether or not the snapshot knows of arrays at cuts") {
  // example.test. delegates child.example.test.; farm.example.test. is beside it.
  const auto snapshot = snapshot_with_array({instance(1, "192.0.2.1", Health::up)});
  CHECK_FALSE(arrays::any_array_at_zone_cuts(snapshot->zones, *snapshot->arrays));
  for (const bool known : {true, false}) {
    CAPTURE(known);
    // true: some other array could be at a cut, and the look-up finds none here.
    snapshot->arrays_at_zone_cuts = known;
    WorkerState state;
    prepare_worker_state(*snapshot, state);
    const Answer reply = ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A);
    CHECK(reply.rcode == LDNS_RCODE_NOERROR);
    CHECK(reply.aa);
    CHECK(reply.answer == std::vector<std::string>{"farm.example.test. 30 IN A 192.0.2.1"});
    CHECK(reply.authority.empty());
  }
}

TEST_CASE("an array answers its healthy instances - rotating") {
  const auto snapshot = snapshot_with_array({
      instance(1, "192.0.2.1", Health::up),
      instance(2, "192.0.2.2", Health::unknown),
      instance(3, "192.0.2.3", Health::down),
      instance(4, "192.0.2.4", Health::up, AdminState::draining),
      instance(5, "192.0.2.5", Health::up, AdminState::disabled),
      instance(6, "2001:db8::6", Health::up),
  });
  WorkerState state;
  prepare_worker_state(*snapshot, state);
  std::map<std::string, int> leads;
  for (int i = 0; i < 10; ++i) {
    const Answer a = ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A);
    CHECK(a.rcode == LDNS_RCODE_NOERROR);
    CHECK(a.aa);
    REQUIRE(a.answer.size() == 2);
    for (const auto& record : a.answer) {
      // Degraded (one enabled instance is down): the short TTL.
      CHECK(record.rfind("farm.example.test. 10 IN A 192.0.2.", 0) == 0);
      CHECK(record.find("192.0.2.3") == std::string::npos);
      CHECK(record.find("192.0.2.4") == std::string::npos);
      CHECK(record.find("192.0.2.5") == std::string::npos);
    }
    ++leads[a.answer.front()];
  }
  CHECK(leads.size() == 2);  // both healthy instances lead in turn
  const Answer v6 = ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_AAAA);
  CHECK(v6.answer == std::vector<std::string>{"farm.example.test. 10 IN AAAA 2001:db8::6"});
}

TEST_CASE("an array without the family - or another type - is NODATA") {
  const auto snapshot = snapshot_with_array({instance(1, "192.0.2.1", Health::up)});
  WorkerState state;
  prepare_worker_state(*snapshot, state);
  for (ldns_rr_type type : {LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_MX, LDNS_RR_TYPE_TXT}) {
    CAPTURE(type);
    const Answer a = ask(*snapshot, state, "farm.example.test.", type);
    CHECK(a.rcode == LDNS_RCODE_NOERROR);
    CHECK(a.answer.empty());
    REQUIRE(a.authority.size() == 1);
    CHECK(a.authority.front().find(" SOA ") != std::string::npos);
  }
  // Names below an array are ordinary zone data: here, nothing.
  CHECK(ask(*snapshot, state, "x.farm.example.test.", LDNS_RR_TYPE_A).rcode == LDNS_RCODE_NXDOMAIN);
  // Healthy: the full TTL.
  CHECK(ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A).answer ==
        std::vector<std::string>{"farm.example.test. 30 IN A 192.0.2.1"});
}

TEST_CASE("all down fails open by default and closed on request") {
  const std::vector<arrays::Instance> down = {instance(1, "192.0.2.1", Health::down),
                                              instance(2, "192.0.2.2", Health::down)};
  {
    const auto snapshot = snapshot_with_array(down);
    WorkerState state;
    prepare_worker_state(*snapshot, state);
    CHECK(ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A).answer.size() == 2);
  }
  {
    arrays::ArraySettings settings;
    settings.when_all_down = arrays::WhenAllDown::none;
    const auto snapshot = snapshot_with_array(down, settings);
    WorkerState state;
    prepare_worker_state(*snapshot, state);
    const Answer a = ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A);
    CHECK(a.rcode == LDNS_RCODE_NOERROR);
    CHECK(a.answer.empty());
    REQUIRE(a.authority.size() == 1);
    // The negative TTL is the short degraded TTL, not the zone's 300.
    CHECK(a.authority.front().rfind("example.test. 10 IN SOA", 0) == 0);
  }
}

TEST_CASE("an array with nothing healthy answers from its fallback with the fallback's degraded TTL") {
  auto snapshot = test::query_zone_snapshot();
  const auto& regions = *snapshot->geo.regions;
  arrays::ArraySettings primary;
  primary.fallback = "backup.example.test.";
  arrays::ArraySettings backup;
  backup.degraded_ttl = 7;
  snapshot->arrays = snapshot->arrays->with(arrays::ArrayState::build(
      *zones::lower_name_from_text("farm.example.test."), 0, primary,
      {instance(1, "192.0.2.1", Health::down), instance(2, "192.0.2.2", Health::down),
       instance(3, "2001:db8::3", Health::up)},
      regions));
  snapshot->arrays = snapshot->arrays->with(arrays::ArrayState::build(
      *zones::lower_name_from_text("backup.example.test."), 1, backup,
      {instance(4, "198.51.100.4", Health::up)}, regions));
  WorkerState state;
  prepare_worker_state(*snapshot, state);

  const Answer v4 = ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_A);
  CHECK(v4.rcode == LDNS_RCODE_NOERROR);
  CHECK(v4.aa);
  CHECK(v4.answer == std::vector<std::string>{"farm.example.test. 7 IN A 198.51.100.4"});
  // IPv6 has a healthy instance of its own: no fallback.
  const Answer v6 = ask(*snapshot, state, "farm.example.test.", LDNS_RR_TYPE_AAAA);
  CHECK(v6.answer == std::vector<std::string>{"farm.example.test. 10 IN AAAA 2001:db8::3"});
}

TEST_CASE("a CNAME to an array is followed into it") {
  auto snapshot = snapshot_with_array({instance(1, "192.0.2.1", Health::up)});
  // Re-point the array at the name the zone's "alias" CNAME chain ends on.
  const auto regions = geo::RegionTable::build({});
  snapshot->arrays = snapshot->arrays->with(arrays::ArrayState::build(
      *zones::name_from_text("www.example.test."), 1, {}, {instance(2, "198.51.100.7", Health::up)},
      *regions));
  WorkerState state;
  prepare_worker_state(*snapshot, state);
  const Answer a = ask(*snapshot, state, "alias.example.test.", LDNS_RR_TYPE_A);
  CHECK(a.answer == std::vector<std::string>{"alias.example.test. 3600 IN CNAME www.example.test.",
                                             "www.example.test. 30 IN A 198.51.100.7"});
}

TEST_CASE("client subnet is echoed with scope 0 for a client-independent answer") {
  const auto snapshot = snapshot_with_array({instance(1, "192.0.2.1", Health::up)});
  // farm.example.test A with OPT carrying ECS 198.51.100.0/24.
  std::vector<uint8_t> query = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1};
  for (const char* label : {"farm", "example", "test"}) {
    query.push_back(static_cast<uint8_t>(std::strlen(label)));
    query.insert(query.end(), label, label + std::strlen(label));
  }
  query.insert(query.end(), {0, 0, 1, 0, 1});
  query.insert(query.end(), {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 11, 0, 8, 0, 7, 0, 1, 24, 0,
                             198, 51, 100});
  std::vector<uint8_t> out(kReplyBufferSize);
  WorkerState state;
  prepare_worker_state(*snapshot, state);
  const size_t size = answer_query(*snapshot, query, ClientInfo{}, out, state);
  REQUIRE(size > 0);
  const std::string reply(out.begin(), out.begin() + static_cast<long>(size));
  const std::string option("\x00\x08\x00\x07\x00\x01\x18\x00\xc6\x33\x64", 11);
  CHECK(reply.find(option) != std::string::npos);
}

TEST_CASE("a large array fills the reply with the first records of its order - without TC") {
  // 3000 instances: over UDP without EDNS (512 bytes) the reply holds ~30
  // and over TCP all 3000 (48 KB); either way the records are the order's
  // first ones, as select_instances gives them with all the room there is.
  std::vector<arrays::Instance> instances;
  for (int i = 0; i < 3000; ++i) {
    instances.push_back(instance(i + 1, "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".1",
                                 Health::up));
  }
  const auto snapshot = snapshot_with_array(instances);
  const arrays::ArrayState* found = snapshot->arrays->find(*zones::lower_name_from_text("farm.example.test."));
  REQUIRE(found != nullptr);
  const arrays::ArrayState& array = *found;
  for (const Transport transport : {Transport::udp, Transport::tcp}) {
    CAPTURE(static_cast<int>(transport));
    WorkerState state;
    prepare_worker_state(*snapshot, state);
    uint32_t rotation = 0;
    if (array.slot < state.array_rotation.size()) rotation = state.array_rotation[array.slot];
    auto scratch = std::make_unique<arrays::SelectionScratch>();
    const auto full = arrays::select_instances(array, 4, snapshot->geo, {}, rotation, *scratch);
    REQUIRE(full.count == 3000);

    std::vector<uint8_t> out(kReplyBufferSize);
    const auto query = test::make_query("farm.example.test.", LDNS_RR_TYPE_A);
    const size_t size = answer_query(*snapshot, query, ClientInfo{.transport = transport}, out, state);
    out.resize(size);
    auto packet = test::parse_reply(out);
    REQUIRE(packet);
    CHECK_FALSE(ldns_pkt_tc(packet.get()));
    const auto answer = test::section_text(*packet, LDNS_SECTION_ANSWER);
    if (transport == Transport::udp) {
      CHECK(answer.size() >= 25);
      CHECK(answer.size() <= 31);
    } else {
      CHECK(answer.size() == 3000);
    }
    for (size_t i = 0; i < answer.size(); ++i) {
      CAPTURE(i);
      const uint8_t* a = scratch->chosen[i]->rdata;
      CHECK(answer[i] == "farm.example.test. 30 IN A " + std::to_string(a[0]) + "." + std::to_string(a[1]) +
                             "." + std::to_string(a[2]) + "." + std::to_string(a[3]));
    }
  }
}

TEST_CASE("array answers allocate nothing - mid slow start too") {
  std::vector<arrays::Instance> instances = {instance(1, "192.0.2.1", Health::up),
                                             instance(2, "192.0.2.2", Health::up),
                                             instance(3, "192.0.2.3", Health::down)};
  arrays::ArraySettings ramping;
  ramping.slow_start_ms = 60000;
  instances[1].slow_start_from_ms = 1;  // came back up: built at time 0, its ramp has just begun
  for (const bool slow_start : {false, true}) {
    CAPTURE(slow_start);
    const auto snapshot = slow_start ? snapshot_with_array(instances, ramping) : snapshot_with_array(instances);
    CHECK(snapshot->arrays->find(*zones::name_from_text("farm.example.test."))->v4.ramping == slow_start);
    WorkerState state;
    prepare_worker_state(*snapshot, state);
    const auto query = test::make_query("farm.example.test.", LDNS_RR_TYPE_A);
    std::vector<uint8_t> out(kReplyBufferSize);
    size_t answered = 0;
    test::AllocationCounter counter;
    for (int i = 0; i < 1000; ++i) answered += answer_query(*snapshot, query, ClientInfo{}, out, state) > 0;
    CHECK(counter.allocations() == 0);
    CHECK(answered == 1000);
  }
}

// The query zone with arrays at names the zone file does not have (so the
// names above them exist only through them), one below the wildcard's
// parent, one below a name the zone makes an empty non-terminal itself and
// one at a name the zone has data at.
const char* const kArraysMakingNames[] = {
    "web.eu.example.test.",      // eu.example.test. is in no zone file line
    "foo.x.wild.example.test.",  // x.wild.example.test. would match *.wild
    "web.b.ent.example.test.",   // b.ent.example.test. is the zone's own empty non-terminal
    "web.nothere.example.test.", // dangling.example.test. is a CNAME to nothere
    "_sip._udp.example.test.",   // the zone has an SRV record there
};

std::shared_ptr<Snapshot> snapshot_with_arrays(const std::vector<std::string>& names) {
  auto snapshot = test::query_zone_snapshot();
  for (uint32_t slot = 0; slot < names.size(); ++slot) {
    snapshot->arrays = snapshot->arrays->with(arrays::ArrayState::build(
        *zones::name_from_text(names[slot]), slot, {}, {instance(slot + 1, "192.0.2.200", Health::up)},
        *snapshot->geo.regions));
  }
  return snapshot;
}

TEST_CASE("the names above an array exist - NODATA there and NXDOMAIN below them") {
  const auto snapshot = snapshot_with_arrays({std::begin(kArraysMakingNames), std::end(kArraysMakingNames)});
  WorkerState state;
  prepare_worker_state(*snapshot, state);
  struct Case {
    const char* name;
    ldns_rr_type type;
    ldns_pkt_rcode rcode;
    size_t answers;
    const char* first_answer;  // prefix of the first answer record; "" for none
  };
  const Case cases[] = {
      // RFC 8020: an NXDOMAIN at eu would deny web.eu to resolvers that cut there.
      {"eu.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, ""},
      {"EU.example.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 0, ""},
      {"web.eu.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, "web.eu.example.test. 30 IN A 192.0.2.200"},
      {"a.eu.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0, ""},
      // x.wild exists: the wildcard does not answer for it (RFC 4592 2.2.1),
      // nor below it, where x.wild is the closest encloser, with no wildcard child.
      {"x.wild.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, ""},
      {"x.wild.example.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 0, ""},
      {"bar.x.wild.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0, ""},
      {"deeper.bar.x.wild.example.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NXDOMAIN, 0, ""},
      {"q.foo.x.wild.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0, ""},  // below the array itself
      {"foo.x.wild.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, "foo.x.wild.example.test. 30 IN A 192.0.2.200"},
      // The wildcard still answers beside them.
      {"y.wild.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, "y.wild.example.test. 3600 IN A 192.0.2.99"},
      {"q.y.wild.example.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 1, "q.y.wild.example.test. 3600 IN TXT \"wild\""},
      {"sub.wild.example.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 1, "sub.wild.example.test. 3600 IN TXT \"blocker\""},
      // A name that is both the zone's empty non-terminal and above an array: one NODATA.
      {"b.ent.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, ""},
      {"ent.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, ""},
      // A CNAME into such a name: the CNAME and a NODATA.
      {"dangling.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, "dangling.example.test. 3600 IN CNAME nothere.example.test."},
      {"nothere.example.test.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, 0, ""},
      // An array at a name with zone data: the zone's other types, nothing below.
      {"_sip._udp.example.test.", LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR, 1, "_sip._udp.example.test. 3600 IN SRV 0 5 5060"},
      {"_sip._udp.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, "_sip._udp.example.test. 30 IN A 192.0.2.200"},
      {"q._sip._udp.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0, ""},
      {"_udp.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, ""},
      {"other.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0, ""},
  };
  for (const Case& c : cases) {
    const std::string question = std::string(c.name) + " " + std::to_string(c.type);
    CAPTURE(question);
    const Answer reply = ask(*snapshot, state, c.name, c.type);
    CHECK(reply.rcode == c.rcode);
    CHECK(reply.aa);
    REQUIRE(reply.answer.size() == c.answers);
    if (c.answers > 0) CHECK(reply.answer.front().rfind(c.first_answer, 0) == 0);
    // NODATA and NXDOMAIN alike (after a CNAME too): the SOA alone.
    const bool negative = c.answers == 0 || reply.answer.front().find(" IN CNAME ") != std::string::npos;
    if (negative) {
      REQUIRE(reply.authority.size() == 1);
      CHECK(reply.authority[0].find(" IN SOA ") != std::string::npos);
    } else {
      CHECK(reply.authority.empty());
    }
  }
}

TEST_CASE("a name above arrays is NXDOMAIN again once the last array below it goes") {
  const std::vector<std::string> both = {"web.eu.example.test.", "api.eu.example.test.", "foo.x.wild.example.test."};
  auto snapshot = snapshot_with_arrays(both);
  WorkerState state;
  prepare_worker_state(*snapshot, state);
  CHECK(ask(*snapshot, state, "eu.example.test.", LDNS_RR_TYPE_A).rcode == LDNS_RCODE_NOERROR);
  snapshot->arrays = snapshot->arrays->without(*zones::name_from_text("web.eu.example.test."));
  CHECK(ask(*snapshot, state, "eu.example.test.", LDNS_RR_TYPE_A).rcode == LDNS_RCODE_NOERROR);
  snapshot->arrays = snapshot->arrays->without(*zones::name_from_text("api.eu.example.test."));
  CHECK(ask(*snapshot, state, "eu.example.test.", LDNS_RR_TYPE_A).rcode == LDNS_RCODE_NXDOMAIN);
  // And the wildcard answers at x.wild again.
  CHECK(ask(*snapshot, state, "x.wild.example.test.", LDNS_RR_TYPE_A).answer.empty());
  snapshot->arrays = snapshot->arrays->without(*zones::name_from_text("foo.x.wild.example.test."));
  CHECK(ask(*snapshot, state, "x.wild.example.test.", LDNS_RR_TYPE_A).answer ==
        std::vector<std::string>{"x.wild.example.test. 3600 IN A 192.0.2.99"});
  CHECK(ask(*snapshot, state, "bar.x.wild.example.test.", LDNS_RR_TYPE_A).answer ==
        std::vector<std::string>{"bar.x.wild.example.test. 3600 IN A 192.0.2.99"});
}

TEST_CASE("answers at and below the names above arrays allocate nothing") {
  const auto snapshot = snapshot_with_arrays({std::begin(kArraysMakingNames), std::end(kArraysMakingNames)});
  WorkerState state;
  prepare_worker_state(*snapshot, state);
  std::vector<test::Bytes> queries;
  for (const char* name : {"eu.example.test.", "x.wild.example.test.", "bar.x.wild.example.test.",
                           "q.foo.x.wild.example.test.", "dangling.example.test."}) {
    queries.push_back(test::make_query(name, LDNS_RR_TYPE_A));
  }
  std::vector<uint8_t> out(kReplyBufferSize);
  size_t answered = 0;
  test::AllocationCounter counter;
  for (int i = 0; i < 200; ++i) {
    for (const test::Bytes& query : queries) answered += answer_query(*snapshot, query, ClientInfo{}, out, state) > 0;
  }
  CHECK(counter.allocations() == 0);
  CHECK(answered == 1000);
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
