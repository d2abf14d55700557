// A full disk under a running rotor: the database file may not grow (a file
// size limit set on the process from outside, which fails writes with EFBIG
// the way a full disk fails them with ENOSPC). API writes must fail with 503
// and a log line, DNS must keep answering from the last snapshot, reads keep
// working, and once the disk is back writes succeed and survive a restart.

#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

TEST_SUITE_BEGIN("integration/disk_full");

namespace rotor::itest {
namespace {

using nlohmann::json;

constexpr const char* kDiskFullInstances = "/v1/arrays/web.lb.example.test/instances";

void set_file_size_limit(pid_t pid, rlim_t soft) {
  rlimit limit{};
  REQUIRE(::prlimit(pid, RLIMIT_FSIZE, nullptr, &limit) == 0);
  limit.rlim_cur = soft;  // the hard limit stays, so the limit can be raised again
  REQUIRE(::prlimit(pid, RLIMIT_FSIZE, &limit, nullptr) == 0);
}

bool answers_within(const Endpoint& server, const std::set<std::string>& wanted,
                    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (answered_addresses(server, "web.lb.example.test") == wanted) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

int post_instance(httplib::Client& api, const std::string& address, std::string* body = nullptr) {
  const auto reply = api.Post(kDiskFullInstances, json{{"address", address}}.dump(), "application/json");
  REQUIRE(reply);
  if (body != nullptr) *body = reply->body;
  return reply->status;
}

TEST_CASE("a full disk fails API writes with 503 while DNS keeps answering and writes resume after") {
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  json config = declared_zone_config(dir);
  config["arrays"] = json::array({{{"name", "web.lb.example.test"}, {"max_answers", 8}}});
  const std::string config_file = dir.write("rotor.json", config.dump());
  {
    RotorServer rotor({"--config", config_file});
    REQUIRE(rotor.ready());
    const int port = rotor.api_port();
    REQUIRE(port > 0);
    httplib::Client api("127.0.0.1", port);
    api.set_read_timeout(10s);
    REQUIRE(post_instance(api, "10.9.0.1") == 201);
    REQUIRE(answers_within(rotor.endpoint(), {"10.9.0.1"}, 2s));

    set_file_size_limit(rotor.process().pid(), 1);
    std::string body;
    CHECK(post_instance(api, "10.9.0.2", &body) == 503);
    const json error = json::parse(body);
    CHECK(error["error"]["code"] == 503);
    CHECK(error["error"]["message"].get<std::string>().find("store unavailable") != std::string::npos);
    CHECK(rotor.process().wait_for_stderr("the database refused a write", 2s));
    // A second refused write: the store stays usable for the next attempt.
    CHECK(post_instance(api, "10.9.0.3") == 503);

    // DNS and reads carry on from what was last committed.
    for (int i = 0; i < 20; ++i) {
      CHECK(answered_addresses(rotor.endpoint(), "web.lb.example.test") ==
            std::set<std::string>{"10.9.0.1"});
    }
    const auto listed = api.Get(kDiskFullInstances);
    REQUIRE(listed);
    CHECK(listed->status == 200);
    CHECK(json::parse(listed->body).size() == 1);

    set_file_size_limit(rotor.process().pid(), RLIM_INFINITY);
    CHECK(post_instance(api, "10.9.0.2") == 201);
    CHECK(answers_within(rotor.endpoint(), {"10.9.0.1", "10.9.0.2"}, 2s));
    rotor.process().signal(SIGTERM);
    CHECK(rotor.process().wait_exit(10s) == 0);
  }
  RotorServer restarted({"--config", config_file});
  REQUIRE(restarted.ready());
  CHECK(answers_within(restarted.endpoint(), {"10.9.0.1", "10.9.0.2"}, 2s));
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
