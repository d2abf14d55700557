// Crash safety: rotor killed with SIGKILL in the middle of a stream of API
// writes, then restarted on the same database. Every write that got a 2xx
// must be there, whole, and nothing else may be (at most the one write in
// flight when the process died, whole or absent).

#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

TEST_SUITE_BEGIN("integration/crash_safety");

namespace rotor::itest {
namespace {

using nlohmann::json;

constexpr const char* kInstances = "/v1/arrays/web.lb.example.test/instances";

std::string address_of(int index) {
  return "10.1." + std::to_string(index / 250) + "." + std::to_string(index % 250 + 1);
}

TEST_CASE("SIGKILL during API writes loses no acknowledged write and leaves nothing half-written") {
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  json config = declared_zone_config(dir);
  config["arrays"] = json::array({{{"name", "web.lb.example.test"}}});
  const std::string config_file = dir.write("rotor.json", config.dump());

  std::set<std::string> acknowledged;
  std::string in_flight;
  {
    RotorServer rotor({"--config", config_file});
    REQUIRE(rotor.ready());
    const int port = rotor.api_port();
    REQUIRE(port > 0);

    // The writer posts instances one after another; the test kills rotor
    // once a good number have been acknowledged, mid-stream.
    std::atomic<int> acked{0};
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      httplib::Client api("127.0.0.1", port);
      api.set_connection_timeout(1s);
      api.set_read_timeout(2s);
      for (int index = 0; index < 5000 && !stop; ++index) {
        const std::string address = address_of(index);
        in_flight = address;
        const json body{{"address", address}, {"weight", 1 + index % 1000}, {"region", "r" + std::to_string(index)}};
        const auto reply = api.Post(kInstances, body.dump(), "application/json");
        if (!reply) break;  // the server died under us
        if (reply->status == 201) {
          acknowledged.insert(address);
          ++acked;
        }
      }
    });
    for (int waited = 0; waited < 500 && acked < 200; ++waited) std::this_thread::sleep_for(10ms);
    rotor.process().signal(SIGKILL);
    CHECK(rotor.process().wait_exit(5s));
    stop = true;
    writer.join();
  }
  MESSAGE(acknowledged.size() << " writes acknowledged before SIGKILL");
  REQUIRE(acknowledged.size() >= 200);

  RotorServer restarted({"--config", config_file});
  REQUIRE(restarted.ready());
  const int port = restarted.api_port();
  REQUIRE(port > 0);
  httplib::Client api("127.0.0.1", port);
  const auto listed = api.Get(kInstances);
  REQUIRE(listed);
  REQUIRE(listed->status == 200);
  const json instances = json::parse(listed->body);
  std::set<std::string> present;
  for (const json& instance : instances) {
    const std::string address = instance["address"].get<std::string>();
    present.insert(address);
    // Whole: every field as written (index from the address).
    int index = 0;
    for (int i = 0; i < 5000; ++i) {
      if (address_of(i) == address) index = i;
    }
    CHECK(instance["weight"] == 1 + index % 1000);
    CHECK(instance["region"] == "r" + std::to_string(index));
  }
  for (const std::string& address : acknowledged) {
    CAPTURE(address);
    CHECK(present.contains(address));
  }
  for (const std::string& address : present) {
    if (!acknowledged.contains(address)) CHECK(address == in_flight);  // committed, reply lost
  }
  // And DNS answers from the restored registry at once.
  CHECK(answered_addresses(restarted.endpoint(), "web.lb.example.test").size() > 0);
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
