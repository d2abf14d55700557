// explain against the real reply: for a table of clients, ECS options and
// policies, explain's addresses, TTL and ECS scope equal those of the reply
// answer_query gives the same query, built here and decoded with ldns,
// independently of explain's own query builder and decoder. And explain
// follows a CNAME into the array it ends at.

// stdbool.h first: it keeps ldns/common.h from #defining true and false,
// which breaks <optional>.
#include <stdbool.h>
#include <ldns/ldns.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/geo/geo.h"
#include "server/query/responder.h"
#include "tests/unit/api/api_rig.h"
#include "zones/zone.h"
#include "zones/zone_file.h"
#include "zones/zone_set.h"

namespace rotor::api {
namespace {

using nlohmann::json;
using test::Reply;
using test::Rig;
using test::send;

void put_u16(std::vector<uint8_t>& out, unsigned value) {
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

// A query for web.lb.example.com. A with EDNS and, when given, an ECS option
// for `ecs` ("198.51.100.0/25").
std::vector<uint8_t> query_with(const std::optional<std::string>& ecs) {
  std::vector<uint8_t> query = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
  for (const char* label : {"web", "lb", "example", "com"}) {
    query.push_back(static_cast<uint8_t>(std::strlen(label)));
    query.insert(query.end(), label, label + std::strlen(label));
  }
  query.push_back(0);
  put_u16(query, 1);  // A
  put_u16(query, 1);  // IN
  query.push_back(0);  // OPT
  put_u16(query, 41);
  put_u16(query, 1232);
  put_u16(query, 0);
  put_u16(query, 0);
  if (!ecs) {
    put_u16(query, 0);
    return query;
  }
  const auto slash = ecs->find('/');
  const auto address = arrays::IpAddress::parse(ecs->substr(0, slash));
  REQUIRE(address.has_value());
  const unsigned prefix = static_cast<unsigned>(std::stoi(ecs->substr(slash + 1)));
  const unsigned bytes = (prefix + 7) / 8;
  put_u16(query, 8 + bytes);
  put_u16(query, 8);  // CLIENT_SUBNET
  put_u16(query, 4 + bytes);
  put_u16(query, address->family == 4 ? 1 : 2);
  query.push_back(static_cast<uint8_t>(prefix));
  query.push_back(0);
  query.insert(query.end(), address->bytes, address->bytes + bytes);
  return query;
}

struct RealReply {
  std::vector<std::string> addresses;
  json ttl;
  json ecs;  // {"source_prefix", "scope"}; null: no ECS option
};

// The reply answer_query gives `query` from `client` on the rig's snapshot,
// with a fresh worker state as explain uses, decoded by ldns.
RealReply real_reply(const Rig& rig, const std::vector<uint8_t>& query,
                     const std::optional<std::string>& client) {
  sockaddr_in source{.sin_family = AF_INET, .sin_port = htons(53535)};
  ClientInfo info;
  if (client) {
    REQUIRE(::inet_pton(AF_INET, client->c_str(), &source.sin_addr) == 1);
    info.address = reinterpret_cast<const sockaddr*>(&source);
  }
  const auto snapshot = rig.publisher.current();
  WorkerState state;
  prepare_worker_state(*snapshot, state);
  std::vector<uint8_t> wire(65535);
  const size_t size = answer_query(*snapshot, query, info, wire, state);
  ldns_pkt* packet = nullptr;
  REQUIRE(ldns_wire2pkt(&packet, wire.data(), size) == LDNS_STATUS_OK);
  RealReply out{{}, nullptr, nullptr};
  const ldns_rr_list* answers = ldns_pkt_answer(packet);
  for (size_t i = 0; i < ldns_rr_list_rr_count(answers); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answers, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_A) continue;
    char* text = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    out.addresses.emplace_back(text);
    free(text);
    if (out.ttl.is_null()) out.ttl = ldns_rr_ttl(rr);
  }
  if (const ldns_rdf* options = ldns_pkt_edns_data(packet)) {
    const uint8_t* data = ldns_rdf_data(options);
    const size_t length = ldns_rdf_size(options);
    for (size_t at = 0; at + 4 <= length;) {
      const unsigned code = (data[at] << 8) | data[at + 1];
      const unsigned option_length = (data[at + 2] << 8) | data[at + 3];
      if (code == 8 && option_length >= 4) {
        out.ecs = {{"source_prefix", data[at + 6]}, {"scope", data[at + 7]}};
      }
      at += 4 + option_length;
    }
  }
  ldns_pkt_free(packet);
  return out;
}

// web.lb.example.com. with instances in eu and us, and networks that put
// 198.51.100.0/25 in us and 203.0.113.0/24 in eu.
void make_geo_array(Rig& rig) {
  REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}").status == 201);
  REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com/instances", R"([
      {"address": "192.0.2.1", "region": "eu"},
      {"address": "192.0.2.2", "region": "us"},
      {"address": "192.0.2.3", "region": "us"},
      {"address": "2001:db8::1", "region": "eu"}])").status == 200);
  rig.registry->set_geo({.regions = {{"eu", 50.1, 8.7, {}}, {"us", 39.0, -77.5, {}}},
                          .networks = {{"198.51.100.0/25", "us"}, {"203.0.113.0/24", "eu"}}});
}

TEST_SUITE("unit/api/api_explain") {
  TEST_CASE("explain reports the addresses and the ECS scope the real reply carries") {
    Rig rig;
    make_geo_array(rig);
    struct Case {
      const char* policy;
      std::optional<std::string> client;
      std::optional<std::string> ecs;
      json scope;  // the scope the reply carries (pinned here too); null: no ECS option
    };
    const Case cases[] = {
        {"geo", "192.0.2.7", "198.51.100.0/25", 25},
        {"geo", "192.0.2.7", "198.51.100.0/24", 24},
        {"geo", std::nullopt, "203.0.113.0/24", 24},
        {"geo", "198.51.100.7", std::nullopt, nullptr},
        {"geo", "192.0.2.7", "0.0.0.0/0", 0},
        {"geo", "192.0.2.7", "198.51.100.128/25", 25},
        {"geo", "192.0.2.7", "2001:db8:1::/48", 0},
        // A client in a /25 network: sticky hashes its /24, and the reply says /24.
        {"sticky", "198.51.100.7", "198.51.100.0/25", 24},
        {"sticky", "192.0.2.7", "198.51.100.7/32", 24},
        {"sticky", "192.0.2.7", "10.1.0.0/16", 16},
        {"sticky", "192.0.2.7", "2001:db8:1::/48", 48},
        {"sticky", "198.51.100.7", std::nullopt, nullptr},
        {"weighted", "192.0.2.7", "198.51.100.0/25", 0},
        {"round_robin", "192.0.2.7", "203.0.113.0/24", 0},
        {"round_robin", std::nullopt, std::nullopt, nullptr},
    };
    for (const Case& c : cases) {
      CAPTURE(c.policy);
      CAPTURE(c.client.value_or("-"));
      CAPTURE(c.ecs.value_or("-"));
      REQUIRE(send(rig, "PATCH", "/v1/arrays/web.lb.example.com",
                   json{{"policy", c.policy}}.dump()).status == 200);
      std::string path = "/v1/explain?name=web.lb.example.com&type=A";
      if (c.client) path += "&client=" + *c.client;
      if (c.ecs) path += "&ecs=" + *c.ecs;
      const Reply explained = send(rig, "GET", path);
      REQUIRE(explained.status == 200);
      CAPTURE(explained.body.dump());
      const RealReply real = real_reply(rig, query_with(c.ecs), c.client);
      CHECK(explained.body["answer"]["addresses"] == json(real.addresses));
      CHECK(explained.body["answer"]["ttl"] == real.ttl);
      CHECK(explained.body["answer"]["ecs"] == real.ecs);
      CHECK(explained.body["client"]["scope"] == (real.ecs.is_null() ? json() : real.ecs["scope"]));
      CHECK(explained.body["client"]["scope"] == c.scope);
      CHECK_FALSE(real.addresses.empty());
    }
  }

  TEST_CASE("explain says panic mode and why - every enabled instance answered") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", R"({"min_healthy": 0.5})").status == 201);
    const Reply put = send(rig, "PUT", "/v1/arrays/web.lb.example.com/instances", R"([
        {"address": "192.0.2.1"}, {"address": "192.0.2.2"}, {"address": "192.0.2.3"},
        {"address": "192.0.2.4"}])");
    REQUIRE(put.status == 200);
    for (size_t i = 1; i < 4; ++i) {
      REQUIRE(rig.registry->set_health(put.body[i]["id"].get<int64_t>(), arrays::Health::down, "refused"));
    }
    const Reply reply = send(rig, "GET", "/v1/explain?name=web.lb.example.com&type=A");
    REQUIRE(reply.status == 200);
    CAPTURE(reply.body.dump());
    CHECK(reply.body["array"]["panic"] == true);
    CHECK(reply.body["array"]["min_healthy"] == 0.5);
    CHECK(reply.body["array"]["failed_open"] == false);
    CHECK(reply.body["answer"]["addresses"].size() == 4);
    const json& down = reply.body["array"]["instances"][1];
    CHECK(down["health"] == "down");
    CHECK(down["candidate"] == true);
    CHECK(down["reason"] ==
          "panic mode: 1 of 4 enabled instances healthy, below min_healthy 0.5: every enabled one is "
          "answered");
    const Reply array = send(rig, "GET", "/v1/arrays/web.lb.example.com");
    CHECK(array.body["min_healthy"] == 0.5);
    const Reply events = send(rig, "GET", "/v1/events?kind=panic");
    REQUIRE(events.status == 200);
    REQUIRE(events.body["events"].size() == 1);
    CHECK(events.body["events"][0]["new"] == "on");
  }

  TEST_CASE("explain gives the effective weight the backend's report makes and why") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", R"({"policy": "weighted"})").status == 201);
    const Reply put = send(rig, "PUT", "/v1/arrays/web.lb.example.com/instances", R"([
        {"address": "192.0.2.1", "weight": 200}, {"address": "192.0.2.2"}, {"address": "192.0.2.3"}])");
    REQUIRE(put.status == 200);
    rig.registry->set_reported_many({{put.body[0]["id"].get<int64_t>(), 25, false},
                                     {put.body[1]["id"].get<int64_t>(), 100, true},
                                     {put.body[2]["id"].get<int64_t>(), 0, false}});
    const Reply reply = send(rig, "GET", "/v1/explain?name=web.lb.example.com&type=A");
    REQUIRE(reply.status == 200);
    CAPTURE(reply.body.dump());
    const json& instances = reply.body["array"]["instances"];
    CHECK(instances[0]["weight"] == 200);
    CHECK(instances[0]["effective_weight"] == 50);
    CHECK(instances[0]["weight_reason"] == "configured 200 x 25% reported by the backend (Rotor-Weight) = 50");
    CHECK(instances[0]["candidate"] == true);
    CHECK(instances[1]["effective_weight"] == nullptr);
    CHECK(instances[1]["weight_reason"] == "configured 100, but the backend reports draining: 0");
    CHECK(instances[1]["candidate"] == false);
    CHECK(instances[1]["reason"] == "draining: the backend reports Rotor-State: draining");
    CHECK(instances[2]["effective_weight"] == nullptr);
    CHECK(instances[2]["reason"] == "the backend reports Rotor-Weight: 0 (no new clients)");
    CHECK(reply.body["answer"]["addresses"] == json::array({"192.0.2.1"}));
  }

  TEST_CASE("explain follows a CNAME into the array it ends at") {
    Rig rig;
    make_geo_array(rig);
    const std::string zone_path = rig.dir.file("lb.example.com.zone");
    std::ofstream(zone_path) << "$ORIGIN lb.example.com.\n$TTL 300\n"
                                "@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n"
                                "@ IN NS ns1\nns1 IN A 192.0.2.53\n"
                                "www IN CNAME alias\nalias IN CNAME web\n";
    zones::ZoneSet files;
    files.add(zones::load_zone_file(zone_path, "lb.example.com."));
    rig.composer.set_base(files, {});

    const Reply reply = send(rig, "GET", "/v1/explain?name=www.lb.example.com&type=A");
    REQUIRE(reply.status == 200);
    CAPTURE(reply.body.dump());
    CHECK(reply.body["answer"]["cname"] == json::array({"alias.lb.example.com.", "web.lb.example.com."}));
    CHECK(reply.body["answer"]["addresses"].size() == 3);
    REQUIRE(reply.body["array"].is_object());
    CHECK(reply.body["array"]["name"] == "web.lb.example.com.");
    CHECK(reply.body["array"]["instances"][0]["answered"] == true);

    const Reply plain = send(rig, "GET", "/v1/explain?name=ns1.lb.example.com&type=A");
    CHECK(plain.body["answer"]["cname"] == json::array());
    CHECK(plain.body["array"].is_null());
  }
}

}  // namespace
}  // namespace rotor::api
