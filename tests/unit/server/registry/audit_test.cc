#include "server/registry/audit.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace rotor::registry {
namespace {

using arrays::ArraySettings;
using arrays::InstanceSpec;

constexpr const char* kWeb = "web.lb.example.com.";

InstanceSpec spec(const char* address) {
  InstanceSpec out;
  out.address = *arrays::IpAddress::parse(address);
  return out;
}

// An event as one line: kind, reason, old -> new.
std::string line(const Event& event) {
  return event.kind + " | " + event.reason + " | " + event.old_value + " -> " + event.new_value;
}

}  // namespace

TEST_SUITE("unit/server/registry/audit") {
  TEST_CASE("an array update names each changed field with its old and new value") {
    const ArraySettings base;
    struct Case {
      const char* name;
      std::function<void(ArraySettings&)> change;
      const char* expected;  // "" : no event
    };
    const Case cases[] = {
        {"nothing", [](ArraySettings&) {}, ""},
        {"ttl", [](ArraySettings& s) { s.ttl = 60; },
         R"(admin | array updated: ttl | {"ttl":30} -> {"ttl":60})"},
        {"degraded ttl", [](ArraySettings& s) { s.degraded_ttl = 5; },
         R"(admin | array updated: degraded_ttl | {"degraded_ttl":10} -> {"degraded_ttl":5})"},
        {"policy", [](ArraySettings& s) { s.policy = arrays::Policy::weighted; },
         R"(admin | array updated: policy | {"policy":"round_robin"} -> {"policy":"weighted"})"},
        {"max answers", [](ArraySettings& s) { s.max_answers = 2; },
         R"(admin | array updated: max_answers | {"max_answers":0} -> {"max_answers":2})"},
        {"when all down", [](ArraySettings& s) { s.when_all_down = arrays::WhenAllDown::none; },
         R"(admin | array updated: when_all_down | {"when_all_down":"all"} -> {"when_all_down":"none"})"},
        {"check set", [](ArraySettings& s) { s.check = R"({"type": "tcp", "port": 80})"; },
         R"(admin | array updated: check | {"check":null} -> {"check":{"port":80,"type":"tcp"}})"},
        {"slow start", [](ArraySettings& s) { s.slow_start_ms = 90'000; },
         R"(admin | array updated: slow_start | {"slow_start":null} -> {"slow_start":"90s"})"},
        {"remove_after set", [](ArraySettings& s) { s.remove_after = std::chrono::hours(72); },
         R"(admin | array updated: remove_after | {"remove_after":null} -> {"remove_after":"72h"})"},
        {"two fields in the API's order", [](ArraySettings& s) { s.ttl = 5; s.policy = arrays::Policy::geo; },
         R"(admin | array updated: policy, ttl | {"policy":"round_robin","ttl":30} -> {"policy":"geo","ttl":5})"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      ArraySettings changed = base;
      c.change(changed);
      const auto event = audit::array_written(kWeb, base, changed, 7);
      CHECK(audit::changed_fields(base, changed).empty() == !event.has_value());
      CHECK((event ? line(*event) : std::string()) == c.expected);
      if (event) {
        CHECK(event->array_name == kWeb);
        CHECK(event->time_ms == 7);
        CHECK(event->instance_id == 0);
      }
    }
  }

  TEST_CASE("a check that differs only in spacing or key order is no change") {
    ArraySettings a;
    a.check = R"({"type":"tcp","port":80})";
    ArraySettings b;
    b.check = R"({ "port": 80, "type": "tcp" })";
    CHECK(audit::changed_fields(a, b).empty());
    CHECK_FALSE(audit::array_written(kWeb, a, b, 1).has_value());
  }

  TEST_CASE("an instance check that differs only in spacing or key order is no change") {
    InstanceSpec a = spec("192.0.2.1");
    a.check = R"({"port":8081,"path":"/"})";
    InstanceSpec b = a;
    b.check = R"({ "path": "/", "port": 8081 })";
    CHECK(audit::changed_fields(a, b).empty());
    CHECK_FALSE(audit::instance_changed(kWeb, 9, a, b, 7).has_value());
    b.check = R"({"path": "/", "port": 8082})";
    CHECK(audit::changed_fields(a, b) == std::vector<std::string>{"check"});
  }

  TEST_CASE("an instance change names each changed field with its old and new value") {
    const InstanceSpec base = spec("192.0.2.1");
    struct Case {
      const char* name;
      std::function<void(InstanceSpec&)> change;
      const char* expected;  // "" : no event
    };
    const Case cases[] = {
        {"nothing", [](InstanceSpec&) {}, ""},
        {"address", [](InstanceSpec& s) { s.address = *arrays::IpAddress::parse("2001:db8::1"); },
         R"(admin | instance changed: address | {"address":"192.0.2.1"} -> {"address":"2001:db8::1"})"},
        {"weight", [](InstanceSpec& s) { s.weight = 5; },
         R"(admin | instance changed: weight | {"weight":100} -> {"weight":5})"},
        {"region set", [](InstanceSpec& s) { s.region = "eu"; },
         R"(admin | instance changed: region | {"region":null} -> {"region":"eu"})"},
        {"location set", [](InstanceSpec& s) { s.lat = 52.52; s.lon = -13.5; },
         R"(admin | instance changed: lat, lon | {"lat":null,"lon":null} -> {"lat":52.52,"lon":-13.5})"},
        {"state", [](InstanceSpec& s) { s.state = arrays::AdminState::draining; },
         R"(admin | instance changed: state | {"state":"enabled"} -> {"state":"draining"})"},
        {"check override", [](InstanceSpec& s) { s.check = R"({"port":8081})"; },
         R"(admin | instance changed: check | {"check":null} -> {"check":{"port":8081}})"},
        {"every field",
         [](InstanceSpec& s) {
           s.address = *arrays::IpAddress::parse("192.0.2.2");
           s.weight = 7;
           s.region = "us";
           s.lat = 1.5;
           s.lon = 2.5;
           s.state = arrays::AdminState::disabled;
           s.check = R"({"port":1})";
         },
         R"(admin | instance changed: address, weight, region, lat, lon, state, check | )"
         R"({"address":"192.0.2.1","weight":100,"region":null,"lat":null,"lon":null,"state":"enabled","check":null} -> )"
         R"({"address":"192.0.2.2","weight":7,"region":"us","lat":1.5,"lon":2.5,"state":"disabled","check":{"port":1}})"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      InstanceSpec changed = base;
      c.change(changed);
      const auto event = audit::instance_changed(kWeb, 9, base, changed, 7);
      CHECK((event ? line(*event) : std::string()) == c.expected);
      if (event) {
        CHECK(event->instance_id == 9);
        CHECK(event->address == changed.address.to_string());  // the new address
      }
    }
  }

  TEST_CASE("an instance change's texts are what the JSON library writes for any region") {
    // The old/new texts are written member by member; a text needing escapes
    // (a quote, a backslash, a control character, UTF-8, DEL) goes through
    // the library as a whole object's dump would.
    const std::string regions[] = {"eu",        "say \"hi\"", "back\\slash", "tab\there", "z\xc3\xbcrich",
                                   "del\x7f", "",            "a/b"};
    for (const std::string& region : regions) {
      CAPTURE(region);
      InstanceSpec changed = spec("192.0.2.1");
      changed.region = region;
      changed.weight = 3;
      const auto event = audit::instance_changed(kWeb, 9, spec("192.0.2.1"), changed, 7);
      REQUIRE(event);
      nlohmann::ordered_json expected = nlohmann::ordered_json::object();
      expected["weight"] = 3;
      if (!region.empty()) expected["region"] = region;
      CHECK(event->new_value == expected.dump());
    }
  }

  TEST_CASE("created and added and deleted and removed carry every set field") {
    ArraySettings settings;
    settings.ttl = 60;
    settings.check = R"({"type":"http","path":"/up"})";
    CHECK(line(*audit::array_written(kWeb, std::nullopt, settings, 1)) ==
          R"(admin | array created |  -> {"policy":"round_robin","ttl":60,"degraded_ttl":10,"max_answers":0,)"
          R"("when_all_down":"all","check":{"path":"/up","type":"http"}})");
    CHECK(line(audit::array_deleted(kWeb, settings, 3, 1)) ==
          R"(admin | array deleted | {"policy":"round_robin","ttl":60,"degraded_ttl":10,"max_answers":0,)"
          R"("when_all_down":"all","check":{"path":"/up","type":"http"},"instances":3} -> )");

    arrays::Instance instance{.id = 4, .spec = spec("192.0.2.1")};
    instance.spec.region = "eu";
    const Event added = audit::instance_added(kWeb, instance, 1);
    CHECK(line(added) == R"(admin | instance added |  -> {"address":"192.0.2.1","weight":100,"region":"eu","state":"enabled"})");
    CHECK(added.instance_id == 4);
    CHECK(added.address == "192.0.2.1");
    const Event removed = audit::instance_removed(kWeb, instance, 1);
    CHECK(line(removed) == R"(admin | instance removed | {"address":"192.0.2.1","weight":100,"region":"eu","state":"enabled"} -> )");
    CHECK(removed.instance_id == 4);

    // An automatic removal says why and keeps the last health record.
    instance.health = arrays::Health::down;
    instance.health_reason = "connection refused";
    instance.health_changed_ms = 1764547200000;
    CHECK(line(audit::instance_removed(kWeb, instance, 2, "remove_after 1h: down for 1h00m00s since X")) ==
          R"(admin | instance removed: remove_after 1h: down for 1h00m00s since X | {"address":"192.0.2.1",)"
          R"("weight":100,"region":"eu","state":"enabled","health":"down","health_reason":"connection refused",)"
          R"("health_changed":"2025-12-01T00:00:00.000Z"} -> )");
  }

  TEST_CASE("health and damping and reload events") {
    CHECK(line(audit::health_changed(kWeb, 4, "192.0.2.1", arrays::Health::up, arrays::Health::down,
                                     "HTTP 503", 1)) == "health | HTTP 503 | up -> down");
    CHECK(line(audit::damping_started(kWeb, 4, "192.0.2.1", 1764490000000, 1)) ==
          "damping | the last checks passed; flap damping holds it down until 2025-11-30T08:06:40.000Z | off -> held");
    CHECK(line(audit::damping_ended(kWeb, 4, "192.0.2.1", "rise: 3 passes after flap damping", 1)) ==
          "damping | rise: 3 passes after flap damping | held -> off");
    const Event ok = audit::reloaded("reloaded: 1 zones from files", 5);
    CHECK(line(ok) == "reload | reloaded: 1 zones from files |  -> ok");
    CHECK(ok.array_name.empty());
    CHECK(line(audit::reload_failed({"a.zone:7: bad", "rotor.json: arrays[0].ttl: too big"}, 5)) ==
          "reload | a.zone:7: bad; rotor.json: arrays[0].ttl: too big |  -> failed");
    const Event long_failure = audit::reload_failed({std::string(10000, 'x')}, 5);
    CHECK(long_failure.reason.size() == audit::kMaxReasonLength);
    CHECK(long_failure.reason.ends_with("..."));
  }
}

}  // namespace rotor::registry
