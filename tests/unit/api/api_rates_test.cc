// GET /v1/rates: real DNS queries to a worker pool, sampled with an injected
// clock, come back as answers per second; before a sample, none.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/net/worker_pool.h"
#include "tests/support/dns_client.h"
#include "tests/unit/api/api_rig.h"
#include "tests/unit/support/listen_endpoint.h"

namespace rotor::api {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::Reply;
using test::Rig;
using test::send;

TEST_SUITE("unit/api/api_rates") {
  TEST_CASE("answers to real DNS queries come back as answers per second") {
    Rig rig;
    rig.registry->upsert_array(test::kWeb, {});
    const auto added = rig.registry->add_instance(test::kWeb, registry::test::instance("192.0.2.1"));
    rig.registry->set_health(added.id, arrays::Health::up, "test");
    rig.registry->upsert_array("idle.lb.example.com.", {});

    net::NetworkOptions options;
    options.listen = {rotor::test::listen_endpoint("127.0.0.1:0")};
    options.threads = 2;
    net::WorkerPool pool(options, rig.publisher);
    pool.start();
    const rotor::test::Endpoint dns = rotor::test::endpoint_of(pool.bound().at(0).address);

    std::atomic<int64_t> now_ms{1'764'490'000'000};
    metrics::AnswerRateSampler sampler(pool.counters(), rig.publisher,
                                       {.interval = 10s, .capacity = 30, .now_ms = [&] { return now_ms.load(); }});
    rig.rates_sampler = &sampler;
    sampler.sample();  // the baseline
    Reply reply = send(rig, "GET", "/v1/rates");
    CHECK(reply.status == 200);
    CHECK(reply.body["times_ms"] == json::array());
    CHECK(reply.body["interval_seconds"] == 10);
    CHECK(reply.body["window_seconds"] == 300);

    constexpr int kQueries = 25;
    for (int i = 0; i < kQueries; ++i) {
      REQUIRE(rotor::test::answered_addresses(dns, test::kWeb) == std::set<std::string>{"192.0.2.1"});
    }
    // The workers count before they send; wait (bounded) until the sum shows every answer.
    const auto answered = [&] {
      uint64_t total = 0;
      for (const auto& array : rig.publisher.current()->arrays->all()) {
        if (array->name_text != test::kWeb) continue;
        for (const auto& worker : pool.counters()) total += worker->array_answers.value(array->slot);
      }
      return total;
    };
    for (int i = 0; i < 400 && answered() < kQueries; ++i) std::this_thread::sleep_for(5ms);
    REQUIRE(answered() == kQueries);
    now_ms += 10'000;
    sampler.sample();

    reply = send(rig, "GET", "/v1/rates");
    CHECK(reply.status == 200);
    CHECK(reply.body["times_ms"] == json::array({int64_t{1'764'490'010'000}}));
    CHECK(reply.body["arrays"] ==
          json::parse(R"([{"name": "idle.lb.example.com.", "answers_per_second": [0]},
                          {"name": "web.lb.example.com.", "answers_per_second": [2.5]}])"));
    // The server's threads read the sampler: join them before it goes (a reply
    // over a socket is no happens-before for ThreadSanitizer).
    rig.server->stop();
    rig.rates_sampler = nullptr;
    pool.stop();
  }

  TEST_CASE("before any sample the route has no samples") {
    Rig rig;
    rig.registry->upsert_array(test::kWeb, {});
    const Reply reply = send(rig, "GET", "/v1/rates");
    CHECK(reply.status == 200);
    CHECK(reply.body == json::parse(R"({"interval_seconds": 10, "window_seconds": 300, "times_ms": [], "arrays": []})"));
  }
}

}  // namespace
}  // namespace rotor::api
