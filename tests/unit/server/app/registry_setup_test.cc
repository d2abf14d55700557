#include "server/app/registry_setup.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server/config/config.h"
#include "zones/zone_file.h"

namespace rotor::app {
namespace {

TEST_SUITE_BEGIN("unit/server/app/registry_setup");

config::Config parse(const std::string& text) {
  return config::parse_config(text, "rotor.json");
}

TEST_CASE("config warnings name the key path") {
  const config::Config config = parse(R"({
    "regions": [{"name": "eu"}], "networks": [{"cidr": "10.0.0.0/8", "region": "us"}],
    "arrays": [
      {"name": "a.lb.test", "ttl": 30, "degraded_ttl": 30, "remove_after": "1h", "check": {"type": "tcp", "port": 80}},
      {"name": "b.lb.test", "ttl": 10, "degraded_ttl": 300, "instances": [
        {"address": "192.0.2.1", "region": "eu"}, {"address": "192.0.2.2", "region": "us"},
        {"address": "192.0.2.3", "region": "asia"}]},
      {"name": "c.lb.test", "remove_after": "1h"}]})");
  CHECK(config_warnings(config, build_geo(config)) ==
        std::vector<std::string>{
            "arrays[1].degraded_ttl: 300 is above ttl 10; while instances are down, answers would "
            "be cached longer, not shorter",
            "arrays[1].instances[2].region: \"asia\" is not defined by any regions or networks "
            "entry; no client is placed in it, so the geo policy never prefers this instance",
            "arrays[2].remove_after: the array has no check, so only instances with a check of their "
            "own are ever found down and removed"});
}

TEST_CASE("a config array where the zone file answers is an error naming the file") {
  config::Config config = parse(R"({"arrays": [{"name": "web.conflicts.example.test"},
                                               {"name": "alias.conflicts.example.test"}]})");
  const std::string file = std::string(ROTOR_TEST_DATA) + "/arrays/conflicts.example.test.zone";
  config.zones.push_back({"conflicts.example.test.", file});
  zones::ZoneSet files;
  files.add(zones::load_zone_file(file, "conflicts.example.test."));
  CHECK_THROWS_WITH_AS(check_arrays_are_served(config, files),
                       ("arrays[1].name: alias.conflicts.example.test. has a CNAME in zone "
                        "conflicts.example.test. (file " + file + ")").c_str(),
                       config::ConfigError);
}

TEST_SUITE_END();

}  // namespace
}  // namespace rotor::app
