// Data that cannot make sense, end to end through the binary: an array where
// the zone file has a CNAME is refused by `rotor check`, by `rotor serve` and
// by a SIGHUP reload that would create one; likely mistakes are warnings.

#include <signal.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace rotor::itest {
namespace {

TEST_SUITE_BEGIN("integration/data_checks");

using nlohmann::json;

const std::string kZoneText = read_file(std::string(ROTOR_TEST_DATA) +
                                        "/arrays/conflicts.example.test.zone");

// The conflicts zone copied into `dir` (so a test may rewrite it) and one array.
json conflicts_config(const TempDir& dir, const std::string& array_name) {
  return {{"db", (dir.path() / "rotor.db").string()},
          {"publish_interval", "0ms"},
          {"zones", {{{"origin", "conflicts.example.test."},
                      {"file", dir.write("conflicts.zone", kZoneText)}}}},
          {"arrays", {{{"name", array_name},
                       {"instances", {{{"address", "127.0.0.31"}, {"health", "up"}}}}}}}};
}

TEST_CASE("an array where the zone file has a CNAME is refused by check and serve") {
  TempDir dir;
  const json config = conflicts_config(dir, "alias.conflicts.example.test.");
  const std::string config_file = dir.write("rotor.json", config.dump(2));
  const std::string expected = "arrays[0].name: alias.conflicts.example.test. has a CNAME in zone "
                               "conflicts.example.test. (file " +
                               (dir.path() / "conflicts.zone").string() + ")";
  std::string output;
  CHECK(run_to_exit({ROTOR_BINARY, "check", "--config", config_file}, output) == 1);
  CHECK_MESSAGE(output.find(expected) != std::string::npos, output);
  CHECK(run_to_exit({ROTOR_BINARY, "serve", "--config", config_file, "--listen", "127.0.0.1:0",
                     "--api", "off"},
                    output) == 1);
  CHECK_MESSAGE(output.find(expected) != std::string::npos, output);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "rotor.db"));
}

TEST_CASE("rotor check prints warnings and still passes") {
  TempDir dir;
  json config = conflicts_config(dir, "web.conflicts.example.test.");
  config["arrays"][0]["ttl"] = 20;
  config["arrays"][0]["degraded_ttl"] = 60;
  config["arrays"][0]["instances"][0]["region"] = "eu";
  std::string output;
  CHECK(run_to_exit({ROTOR_BINARY, "check", "--config", dir.write("rotor.json", config.dump(2))},
                    output) == 0);
  CAPTURE(output);
  CHECK(output.find("warning: arrays[0].degraded_ttl: 60 is above ttl 20") != std::string::npos);
  CHECK(output.find("warning: arrays[0].instances[0].region: \"eu\" is not defined") !=
        std::string::npos);
  CHECK(output.find("ok: 1 zones") != std::string::npos);
}

TEST_CASE("a SIGHUP reload that puts a CNAME at an array's name keeps the old zones") {
  TempDir dir;
  RotorServer rotor({"--config", dir.write("rotor.json",
                                           conflicts_config(dir, "web.conflicts.example.test.").dump(2))});
  REQUIRE(rotor.ready());
  CHECK(answered_addresses(rotor.endpoint(), "web.conflicts.example.test.") ==
        std::set<std::string>{"127.0.0.31"});

  dir.write("conflicts.zone", kZoneText + "web IN CNAME static4\nnew IN A 192.0.2.99\n");
  rotor.process().signal(SIGHUP);
  // The config's own array is found by the check before anything is applied.
  CHECK_MESSAGE(rotor.process().wait_for_stderr(
                    "rotor.json: arrays[0].name: web.conflicts.example.test. has a CNAME in zone "
                    "conflicts.example.test. (file " + (dir.path() / "conflicts.zone").string() + ")",
                    5s),
                rotor.process().stderr_text());
  CHECK(rotor.process().wait_for_stderr("still running the config loaded before", 5s));
  CHECK(answered_addresses(rotor.endpoint(), "web.conflicts.example.test.") ==
        std::set<std::string>{"127.0.0.31"});
  CHECK(answered_addresses(rotor.endpoint(), "new.conflicts.example.test.").empty());
}

TEST_SUITE_END();

}  // namespace
}  // namespace rotor::itest
