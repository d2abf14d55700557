// Instance arrays end to end: the rotor binary started with a config that
// declares arrays (in a declared zone and in a zone-file zone), its registry
// in a temporary database, publishing at once. Covers which instances are
// answered, geo order by EDNS Client Subnet, health surviving a restart and
// `rotor check` rejecting bad arrays by key path.

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/eventually.h"

TEST_SUITE_BEGIN("integration/arrays");

namespace rotor::itest {
namespace {

using nlohmann::json;

const std::string kArraysDir = std::string(ROTOR_TEST_DATA) + "/arrays";

// The test config (tests/data/arrays/arrays.json) with its database in `dir`.
json arrays_config(const TempDir& dir) {
  json config = json::parse(read_file(kArraysDir + "/arrays.json"), nullptr, true,
                            /*ignore_comments=*/true);
  config["db"] = (dir.path() / "rotor.db").string();
  config["zones"][0] = kArraysDir + "/static.example.test.zone";
  return config;
}

// The same config as operators would write it after the tests' startup
// health: no "health" on any instance.
json without_health(json config) {
  for (json& array : config["arrays"]) {
    for (json& instance : array["instances"]) instance.erase("health");
  }
  return config;
}

std::vector<std::string> serve_args(const TempDir& dir, const json& config) {
  return {"--config", dir.write("rotor.json", config.dump(2))};
}

// The address of each answer record, in the order the reply carries them
// (canonical_section_text sorts; the order is what arrays choose).
std::vector<std::string> answer_addresses(const Reply& response) {
  std::vector<std::string> addresses;
  if (!response.packet) return addresses;
  const ldns_rr_list* answer = ldns_pkt_answer(response.packet.get());
  for (size_t index = 0; index < ldns_rr_list_rr_count(answer); ++index) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, index);
    if (ldns_rr_rd_count(rr) != 1) continue;
    char* text = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    addresses.push_back(text != nullptr ? text : "?");
    std::free(text);
  }
  return addresses;
}

// Every address answered over `rounds` UDP queries.
std::set<std::string> addresses_seen(const Endpoint& server, const std::string& name,
                                     const std::string& type, int rounds) {
  std::set<std::string> seen;
  for (int round = 0; round < rounds; ++round) {
    std::optional<Reply> response = exchange_udp(server, make_query(name, type, resolver_options()));
    REQUIRE(response);
    REQUIRE(response->packet);
    REQUIRE(ldns_pkt_get_rcode(response->packet.get()) == LDNS_RCODE_NOERROR);
    for (const std::string& address : answer_addresses(*response)) seen.insert(address);
  }
  return seen;
}

// The rcode of rotor's reply to a `type` query for `name`, and its answer
// records in canonical form ("owner\tttl\tIN\tA\t...").
struct Outcome {
  int rcode = -1;
  std::vector<std::string> answer;
};

Outcome outcome_of(const Endpoint& server, const std::string& name, const std::string& type) {
  std::optional<Reply> response = exchange_udp(server, make_query(name, type, resolver_options()));
  Outcome outcome;
  if (!response || !response->packet) return outcome;
  outcome.rcode = ldns_pkt_get_rcode(response->packet.get());
  outcome.answer = canonical_section_text(*response->packet, LDNS_SECTION_ANSWER);
  return outcome;
}

// An A query carrying EDNS Client Subnet (RFC 7871) for an IPv4 /24.
std::vector<uint8_t> ecs_query(const std::string& name, uint8_t a, uint8_t b, uint8_t c) {
  QueryOptions options = resolver_options();
  options.client_subnet = ClientSubnet{.family = 1, .source_prefix = 24, .scope_prefix = 0, .address = {a, b, c}};
  return make_query(name, "A", options);
}

struct EcsOption {
  uint16_t family = 0;
  uint8_t source = 0;
  uint8_t scope = 0;
  std::vector<uint8_t> address;
};

std::optional<EcsOption> reply_ecs(const ldns_pkt& packet) {
  const ldns_rdf* data = ldns_pkt_edns_data(&packet);
  if (data == nullptr) return std::nullopt;
  const uint8_t* bytes = ldns_rdf_data(data);
  const size_t size = ldns_rdf_size(data);
  for (size_t at = 0; at + 4 <= size;) {
    const unsigned code = bytes[at] << 8 | bytes[at + 1];
    const size_t length = bytes[at + 2] << 8 | bytes[at + 3];
    at += 4;
    if (at + length > size) break;
    if (code == 8 && length >= 4) {
      EcsOption ecs;
      ecs.family = static_cast<uint16_t>(bytes[at] << 8 | bytes[at + 1]);
      ecs.source = bytes[at + 2];
      ecs.scope = bytes[at + 3];
      ecs.address.assign(bytes + at + 4, bytes + at + length);
      return ecs;
    }
    at += length;
  }
  return std::nullopt;
}

TEST_CASE("arrays answer every healthy enabled instance and nothing else") {
  TempDir dir;
  RotorServer rotor(serve_args(dir, arrays_config(dir)));
  REQUIRE(rotor.ready());

  struct Case {
    const char* name;
    const char* type;
    std::set<std::string> expected;
  };
  const std::vector<Case> cases{
      {"web.lb.example.test.", "A", {"127.0.0.11", "127.0.0.12", "127.0.0.13"}},
      {"web.lb.example.test.", "AAAA", {"fd00::11", "fd00::12"}},
      {"app.static.example.test.", "A", {"127.0.0.21", "127.0.0.22"}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.type);
    CHECK(addresses_seen(rotor.endpoint(), c.name, c.type, 50) == c.expected);
  }

  SUBCASE("a degraded array answers with its degraded TTL") {
    std::optional<Reply> response =
        exchange_udp(rotor.endpoint(), make_query("web.lb.example.test.", "A", resolver_options()));
    REQUIRE(response);
    REQUIRE(response->packet);
    for (const std::string& record : canonical_section_text(*response->packet, LDNS_SECTION_ANSWER)) {
      CHECK(record.find("\t10\tIN\tA\t") != std::string::npos);
    }
  }
  SUBCASE("weighted: the weight-300 instance leads three answers in four") {
    std::map<std::string, int> leads;
    for (int round = 0; round < 40; ++round) {
      std::optional<Reply> response =
          exchange_udp(rotor.endpoint(), make_query("app.static.example.test.", "A", resolver_options()));
      REQUIRE(response);
      const std::vector<std::string> addresses = answer_addresses(*response);
      REQUIRE(!addresses.empty());
      ++leads[addresses.front()];
    }
    CHECK(leads["127.0.0.21"] == 30);
    CHECK(leads["127.0.0.22"] == 10);
  }
  SUBCASE("the zone file's own records are still served") {
    CHECK(addresses_seen(rotor.endpoint(), "www.static.example.test.", "A", 1) ==
          std::set<std::string>{"192.0.2.80"});
  }
}

TEST_CASE("the names above arrays exist - NODATA there - NXDOMAIN below - no wildcard") {
  // eu.lb.test. and x.wild.lb.test. are in no zone file line: arrays below
  // them make them exist (RFC 8020: an NXDOMAIN at eu would make resolvers
  // deny web.eu itself), and x.wild, not the wildcard's parent, is the
  // closest encloser of a name below it (RFC 4592).
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  const std::string zone = dir.write("lb.test.zone",
                                     "$ORIGIN lb.test.\n$TTL 300\n"
                                     "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
                                     "  IN NS ns1\nns1 IN A 127.0.0.1\n"
                                     "*.wild IN A 192.0.2.99\n"
                                     "toent IN CNAME eu\n");
  const json config = {
      {"db", (dir.path() / "rotor.db").string()},
      {"publish_interval", "0ms"},
      {"zones", json::array({zone})},
      {"arrays",
       {{{"name", "web.eu.lb.test."}, {"instances", {{{"address", "127.0.0.31"}}}}},
        {{"name", "foo.x.wild.lb.test."}, {"instances", {{{"address", "127.0.0.32"}}}}}}}};
  RotorServer rotor(serve_args(dir, config));
  REQUIRE(rotor.ready());
  const Endpoint& server = rotor.endpoint();
  struct Case {
    const char* name;
    const char* type;
    int rcode;
    const char* answer;  // the one answer record, "" for none
  };
  const Case cases[] = {
      {"eu.lb.test.", "A", LDNS_RCODE_NOERROR, ""},
      {"eu.lb.test.", "TXT", LDNS_RCODE_NOERROR, ""},
      {"web.eu.lb.test.", "A", LDNS_RCODE_NOERROR, "web.eu.lb.test.\t30\tIN\tA\t127.0.0.31"},
      {"x.wild.lb.test.", "A", LDNS_RCODE_NOERROR, ""},
      {"bar.x.wild.lb.test.", "A", LDNS_RCODE_NXDOMAIN, ""},
      {"foo.x.wild.lb.test.", "A", LDNS_RCODE_NOERROR, "foo.x.wild.lb.test.\t30\tIN\tA\t127.0.0.32"},
      {"y.wild.lb.test.", "A", LDNS_RCODE_NOERROR, "y.wild.lb.test.\t300\tIN\tA\t192.0.2.99"},
      {"toent.lb.test.", "A", LDNS_RCODE_NOERROR, "toent.lb.test.\t300\tIN\tCNAME\teu.lb.test."},
      {"nothere.lb.test.", "A", LDNS_RCODE_NXDOMAIN, ""},
  };
  for (const Case& c : cases) {
    const std::string question = std::string(c.name) + " " + c.type;
    CAPTURE(question);
    const Outcome outcome = outcome_of(server, c.name, c.type);
    CHECK(outcome.rcode == c.rcode);
    if (*c.answer == '\0') {
      CHECK(outcome.answer.empty());
    } else {
      CHECK(outcome.answer == std::vector<std::string>{c.answer});
    }
  }

  // An array made through the API makes its parent exist; its removal, the
  // last array below, makes it NXDOMAIN again.
  const int api_port = rotor.api_port();
  REQUIRE(api_port > 0);
  httplib::Client api("127.0.0.1", api_port);
  api.set_read_timeout(5s);
  CHECK(outcome_of(server, "us.lb.test.", "A").rcode == LDNS_RCODE_NXDOMAIN);
  auto created = api.Put("/v1/arrays/web.us.lb.test", "{}", "application/json");
  REQUIRE(created);
  REQUIRE_MESSAGE(created->status == 201, created->body);
  CHECK(test::eventually([&] { return outcome_of(server, "us.lb.test.", "A").rcode == LDNS_RCODE_NOERROR; }));
  auto removed = api.Delete("/v1/arrays/web.us.lb.test");
  REQUIRE(removed);
  REQUIRE_MESSAGE(removed->status / 100 == 2, removed->body);
  CHECK(test::eventually([&] { return outcome_of(server, "us.lb.test.", "A").rcode == LDNS_RCODE_NXDOMAIN; }));
  CHECK(outcome_of(server, "eu.lb.test.", "A").rcode == LDNS_RCODE_NOERROR);
}

TEST_CASE("geo arrays order by the client subnet's region and echo its scope") {
  TempDir dir;
  RotorServer rotor(serve_args(dir, arrays_config(dir)));
  REQUIRE(rotor.ready());

  struct Case {
    const char* region;
    uint8_t a, b, c;  // the ECS /24
    std::set<std::string> first, last;
  };
  const std::set<std::string> eu{"127.0.1.1", "127.0.1.2"};
  const std::set<std::string> us{"127.0.2.1", "127.0.2.2"};
  for (const Case& c : {Case{"eu", 10, 1, 7, eu, us}, Case{"us", 10, 2, 9, us, eu}}) {
    CAPTURE(c.region);
    for (int round = 0; round < 6; ++round) {
      std::optional<Reply> response =
          exchange_udp(rotor.endpoint(), ecs_query("geo.lb.example.test.", c.a, c.b, c.c));
      REQUIRE(response);
      REQUIRE(response->packet);
      const std::vector<std::string> addresses = answer_addresses(*response);
      REQUIRE(addresses.size() == 4);
      CHECK(std::set<std::string>(addresses.begin(), addresses.begin() + 2) == c.first);
      CHECK(std::set<std::string>(addresses.begin() + 2, addresses.end()) == c.last);

      const std::optional<EcsOption> ecs = reply_ecs(*response->packet);
      REQUIRE(ecs);
      CHECK(ecs->family == 1);
      CHECK(ecs->source == 24);
      CHECK(ecs->scope == 16);  // the /16 network that placed the client
      CHECK(ecs->address == std::vector<uint8_t>{c.a, c.b, c.c});
    }
  }
}

TEST_CASE("a restart keeps the last known health of every instance") {
  TempDir dir;
  const json config = arrays_config(dir);
  {
    RotorServer rotor(serve_args(dir, config));
    REQUIRE(rotor.ready());
    CHECK(addresses_seen(rotor.endpoint(), "web.lb.example.test.", "A", 10) ==
          std::set<std::string>{"127.0.0.11", "127.0.0.12", "127.0.0.13"});
    rotor.process().signal(SIGTERM);
    CHECK(rotor.process().wait_exit(5s) == 0);
  }
  // The config no longer sets health: what the database remembers decides.
  RotorServer rotor(serve_args(dir, without_health(config)));
  REQUIRE(rotor.ready());
  CHECK(addresses_seen(rotor.endpoint(), "web.lb.example.test.", "A", 20) ==
        std::set<std::string>{"127.0.0.11", "127.0.0.12", "127.0.0.13"});
  CHECK(addresses_seen(rotor.endpoint(), "web.lb.example.test.", "AAAA", 20) ==
        std::set<std::string>{"fd00::11", "fd00::12"});
  CHECK(addresses_seen(rotor.endpoint(), "app.static.example.test.", "A", 20) ==
        std::set<std::string>{"127.0.0.21", "127.0.0.22"});
}

TEST_CASE("rotor check rejects a bad array naming its key path") {
  TempDir dir;
  struct Case {
    const char* what;
    void (*spoil)(json&);
    const char* key_path;
  };
  const std::vector<Case> cases{
      {"weight 0", [](json& c) { c["arrays"][0]["instances"][1]["weight"] = 0; },
       "arrays[0].instances[1].weight"},
      {"unknown policy", [](json& c) { c["arrays"][1]["policy"] = "fastest"; },
       "arrays[1].policy"},
      {"name outside the served zones",
       [](json& c) { c["arrays"][2]["name"] = "geo.elsewhere.test."; }, "arrays[2].name"},
  };
  {
    std::string output;
    const int code = run_to_exit(
        {ROTOR_BINARY, "check", "--config", dir.write("good.json", arrays_config(dir).dump(2))},
        output);
    CAPTURE(output);
    CHECK(code == 0);
  }
  for (const Case& c : cases) {
    CAPTURE(c.what);
    json config = arrays_config(dir);
    c.spoil(config);
    std::string output;
    const int code =
        run_to_exit({ROTOR_BINARY, "check", "--config", dir.write("bad.json", config.dump(2))},
                    output);
    CAPTURE(output);
    CHECK(code == 1);
    CHECK(output.find(c.key_path) != std::string::npos);
  }
}

TEST_CASE("rotor check lists every error with its file and key path") {
  TempDir dir;
  struct Case {
    const char* what;
    void (*spoil)(json&);
    std::vector<std::string> lines;  // after "FILE: "
  };
  const std::vector<Case> cases{
      {"bad values in several keys and arrays",
       [](json& c) {
         c["threads"] = 0;
         c["arrays"][0]["instances"][1]["weight"] = 0;
         c["arrays"][1]["policy"] = "fastest";
       },
       {"threads: expected 1 to 256, got 0", "arrays[0].instances[1].weight",
        "arrays[1].policy: expected one of"}},
      {"two arrays outside every zone",
       [](json& c) {
         c["arrays"][0]["name"] = "a.elsewhere.test.";
         c["arrays"][2]["name"] = "geo.elsewhere.test.";
       },
       {"arrays[0].name: \"a.elsewhere.test.\" is not inside a served zone",
        "arrays[2].name: \"geo.elsewhere.test.\" is not inside a served zone"}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    json config = arrays_config(dir);
    c.spoil(config);
    const std::string file = dir.write("bad.json", config.dump(2));
    std::string output;
    const int code = run_to_exit({ROTOR_BINARY, "check", "--config", file}, output);
    CAPTURE(output);
    CHECK(code == 1);
    for (const std::string& line : c.lines) {
      CHECK_MESSAGE(output.find(file + ": " + line) != std::string::npos, line);
    }
  }
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
