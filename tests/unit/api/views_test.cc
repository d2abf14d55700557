// api/views.h: append_instance_json writes the bytes reply_json writes for
// instance_json, whatever the instance holds.

#include "api/views.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rotor::api::views_test {
namespace {

arrays::Instance plain_instance(const char* address) {
  arrays::Instance instance;
  instance.id = 7;
  instance.spec.address = *arrays::IpAddress::parse(address);
  return instance;
}

std::vector<arrays::Instance> instances_to_write() {
  std::vector<arrays::Instance> out;
  out.push_back(plain_instance("192.0.2.1"));
  {
    arrays::Instance instance = plain_instance("2001:db8::1");
    instance.id = INT64_MAX;
    instance.spec.weight = 1000;
    instance.spec.state = arrays::AdminState::draining;
    instance.health = arrays::Health::up;
    out.push_back(instance);
  }
  {
    arrays::Instance instance = plain_instance("198.51.100.20");
    instance.spec.state = arrays::AdminState::disabled;
    instance.health = arrays::Health::down;
    instance.spec.region = "eu-west";
    instance.spec.lat = 52.5;
    instance.spec.lon = -0.1234567890123;
    instance.spec.check = R"({"type":"http","port":8081,"path":"/h\u00e9","headers":{"b":"2","a":"1"}})";
    out.push_back(instance);
  }
  const char* regions[] = {"with \"quotes\" and \\", "caf\xc3\xa9", "bad \xff utf-8", "tab\there", "del\x7f",
                           "ctl\x01", "~!@#$%^&*()_+{}|:<>?`-=[];',./"};
  for (const char* region : regions) {
    arrays::Instance instance = plain_instance("203.0.113.9");
    instance.spec.region = region;
    out.push_back(instance);
  }
  {
    arrays::Instance instance = plain_instance("203.0.113.10");
    instance.spec.lat = 0.0;
    instance.spec.lon = 180.0;
    instance.spec.weight = 1;
    instance.id = 0;
    out.push_back(instance);
  }
  {
    arrays::Instance instance = plain_instance("203.0.113.11");
    instance.spec.lat = -90.0;
    instance.spec.lon = 1e-7;
    instance.spec.check = "{}";
    out.push_back(instance);
  }
  return out;
}

TEST_SUITE("unit/api/views") {
  TEST_CASE("append_instance_json writes what reply_json writes for instance_json") {
    for (const arrays::Instance& instance : instances_to_write()) {
      const std::string expected =
          instance_json(instance).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      CAPTURE(expected);
      std::string written = "prefix";
      append_instance_json(written, instance);
      CHECK(written == "prefix" + expected);
    }
  }
}

}  // namespace
}  // namespace rotor::api::views_test
