// What the API refuses because it could not make sense: names that zone data
// answers for, addresses no server can have.
#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "tests/unit/api/api_rig.h"
#include "zones/zone_file.h"
#include "zones/zone_set.h"

namespace rotor::api {
namespace {

using nlohmann::json;
using test::Reply;
using test::Rig;
using test::send;

constexpr const char* kInstances = "/v1/arrays/web.lb.example.com/instances";

void serve_conflicts_zone(Rig& rig) {
  zones::ZoneSet files;
  files.add(zones::load_zone_file(std::string(ROTOR_TEST_DATA) + "/arrays/conflicts.example.test.zone",
                                  "conflicts.example.test."));
  rig.composer.set_base(files, {});
}

TEST_SUITE("unit/api/api_data") {
  TEST_CASE("an array where zone data answers for the name is 409 naming the conflict") {
    Rig rig;
    serve_conflicts_zone(rig);
    struct Case {
      const char* path;
      int status;
      const char* message;
    };
    const Case cases[] = {
        {"/v1/arrays/alias.conflicts.example.test", 409,
         "name: alias.conflicts.example.test. has a CNAME in zone conflicts.example.test."},
        {"/v1/arrays/static6.conflicts.example.test", 409,
         "name: static6.conflicts.example.test. has static AAAA records in zone "
         "conflicts.example.test."},
        {"/v1/arrays/x.old.conflicts.example.test", 409,
         "name: x.old.conflicts.example.test. is below the DNAME at old.conflicts.example.test. in "
         "zone conflicts.example.test."},
        {"/v1/arrays/conflicts.example.test", 201, nullptr},
    };
    for (const Case& c : cases) {
      CAPTURE(c.path);
      const Reply reply = send(rig, "PUT", c.path, "{}");
      CHECK(reply.status == c.status);
      if (c.message == nullptr) continue;
      CHECK(reply.body["error"]["message"] == c.message);
      CHECK(reply.body["error"]["field"] == "name");
    }
  }

  TEST_CASE("addresses no server can have are 400 naming address") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}").status == 201);
    struct Case {
      const char* address;
      const char* why;
    };
    const Case cases[] = {
        {"0.0.0.0", "unspecified (0.0.0.0/8 means this host, never a destination)"},
        {"::", "unspecified (::)"},
        {"255.255.255.255", "the broadcast address"},
        {"224.0.0.251", "multicast (224.0.0.0/4)"},
        {"ff02::fb", "multicast (ff00::/8)"},
        {"fe80::1", "link-local (fe80::/10)"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.address);
      const std::string body = std::string(R"({"address": ")") + c.address + "\"}";
      const Reply reply = send(rig, "POST", kInstances, body);
      CHECK(reply.status == 400);
      CHECK(reply.body["error"]["field"] == "address");
      CHECK(reply.body["error"]["message"] ==
            std::string("address: \"") + c.address + "\" cannot be a server: " + c.why);
    }
    // Loopback stays allowed: one host may run everything.
    CHECK(send(rig, "POST", kInstances, R"({"address": "127.0.0.2"})").status == 201);
  }

  TEST_CASE("an IPv4-mapped address is the IPv4 instance") {
    Rig rig;
    REQUIRE(send(rig, "PUT", "/v1/arrays/web.lb.example.com", "{}").status == 201);
    const Reply added = send(rig, "POST", kInstances, R"({"address": "::ffff:192.0.2.1"})");
    CHECK(added.status == 201);
    CHECK(added.body["address"] == "192.0.2.1");
    const Reply again = send(rig, "POST", kInstances, R"({"address": "192.0.2.1"})");
    CHECK(again.status == 409);
    CHECK(again.body["error"]["field"] == "address");
    const Reply listed =
        send(rig, "PUT", kInstances, R"([{"address": "192.0.2.1"}, {"address": "::ffff:192.0.2.1"}])");
    CHECK(listed.status == 400);
    CHECK(listed.body["error"]["field"] == "[1].address");
    CHECK(listed.body["error"]["message"] == "[1].address: duplicate of [0] (192.0.2.1)");
  }
}

}  // namespace
}  // namespace rotor::api

namespace rotor::api {
namespace {

TEST_SUITE("unit/api/api_data") {
  TEST_CASE("write replies carry the likely mistakes in warnings") {
    Rig rig;
    Reply reply = send(rig, "PUT", "/v1/arrays/web.lb.example.com", R"({"ttl": 30, "degraded_ttl": 60})");
    CHECK(reply.status == 201);
    CHECK(reply.body["warnings"] ==
          json::array({"degraded_ttl: 60 is above ttl 30; while instances are down, answers "
                       "would be cached longer, not shorter"}));
    // Sent back, a reply's warnings are ignored; without a mistake there are none.
    reply = send(rig, "PUT", "/v1/arrays/web.lb.example.com",
                 R"({"ttl": 30, "warnings": ["anything"]})");
    CHECK(reply.status == 200);
    CHECK_FALSE(reply.body.contains("warnings"));

    const char* mars =
        "region: \"mars\" is not defined by any regions or networks entry; no client is placed in "
        "it, so the geo policy never prefers this instance";
    reply = send(rig, "POST", kInstances, R"({"address": "192.0.2.1", "region": "mars"})");
    CHECK(reply.status == 201);
    CHECK(reply.body["warnings"] == json::array({mars}));
    reply = send(rig, "PATCH", std::string(kInstances) + "/" + std::to_string(reply.body["id"].get<int64_t>()),
                 R"({"weight": 5})");
    CHECK(reply.status == 200);
    CHECK(reply.body["warnings"] == json::array({mars}));
    reply = send(rig, "PUT", kInstances, R"([{"address": "192.0.2.1"}, {"address": "192.0.2.2", "region": "mars"}])");
    REQUIRE(reply.status == 200);
    REQUIRE(reply.body.size() == 2);
    CHECK_FALSE(reply.body[0].contains("warnings"));
    CHECK(reply.body[1]["warnings"] == json::array({mars}));
    const json put_reply = reply.body;
    reply = send(rig, "PUT", kInstances, put_reply.dump());
    CHECK(reply.status == 200);
    CHECK(reply.body == put_reply);

    // A region the geo table declares is no mistake.
    rig.registry->set_geo({.regions = {{.name = "mars"}}});
    reply = send(rig, "POST", kInstances, R"({"address": "192.0.2.3", "region": "mars"})");
    CHECK(reply.status == 201);
    CHECK_FALSE(reply.body.contains("warnings"));
  }
}

}  // namespace
}  // namespace rotor::api
