// Health checks end to end: the rotor binary probing HTTP backends that the
// test starts on 127.0.0.11-13 and 127.0.3.x, answered through real DNS
// packets. A stopped backend leaves every answer within interval x fall + 1 s
// and comes back within interval x rise + 1 s; with all of them down an array
// fails open or answers NODATA, as configured; and probes stuck in their
// timeout never delay an answer.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/backends.h"

TEST_SUITE_BEGIN("integration/probes");

namespace rotor::itest {
namespace {

using nlohmann::json;
using probes::testing::HttpBackend;
using probes::testing::TcpListener;
using Clock = std::chrono::steady_clock;

constexpr int kIntervalMs = 200;
constexpr int kFall = 2;
constexpr int kRise = 2;

json zone_config(const TempDir& dir) {
  return json{{"listen", {"127.0.0.1:0"}},
              {"threads", 1},
              {"db", (dir.path() / "rotor.db").string()},
              {"publish_interval", "0ms"},
              {"zones",
               {{{"name", "lb.example.test."},
                 {"name_servers", {{{"name", "ns1.lb.example.test."}, {"addresses", {"127.0.0.1"}}}}}}}},
              {"arrays", json::array()}};
}

json array(const std::string& name, const json& check, const std::vector<std::string>& addresses,
           const std::string& when_all_down = "all") {
  json instances = json::array();
  for (const std::string& address : addresses) instances.push_back({{"address", address}});
  json out{{"name", name}, {"when_all_down", when_all_down}, {"instances", instances}};
  if (!check.is_null()) out["check"] = check;
  return out;
}

// The A records of one answer; nullopt when no usable reply came.
std::optional<std::set<std::string>> probes_answer_once(const Endpoint& server, const std::string& name) {
  std::optional<Reply> response = exchange_udp(server, make_query(name, "A", resolver_options()));
  if (!response || !response->packet) return std::nullopt;
  if (ldns_pkt_get_rcode(response->packet.get()) != LDNS_RCODE_NOERROR) return std::nullopt;
  std::set<std::string> addresses;
  const ldns_rr_list* answer = ldns_pkt_answer(response->packet.get());
  for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_A) continue;
    char* text = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    addresses.insert(text != nullptr ? text : "?");
    std::free(text);
  }
  return addresses;
}

// Every address seen over `rounds` queries (rotation shows each in turn).
std::set<std::string> seen(const Endpoint& server, const std::string& name, int rounds = 6) {
  std::set<std::string> all;
  for (int round = 0; round < rounds; ++round) {
    if (auto addresses = probes_answer_once(server, name)) all.insert(addresses->begin(), addresses->end());
  }
  return all;
}

// How long until `wanted` holds for the answers (polled every 20 ms, at most
// `limit`); nullopt when it never did.
std::optional<std::chrono::milliseconds> time_until(const Endpoint& server, const std::string& name,
                                                    const std::set<std::string>& wanted,
                                                    std::chrono::milliseconds limit) {
  const auto start = Clock::now();
  while (Clock::now() - start < limit) {
    if (seen(server, name) == wanted) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    }
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

TEST_CASE("probes take a stopped backend out of the answers and bring it back") {
  const std::vector<std::string> addresses{"127.0.0.11", "127.0.0.12", "127.0.0.13"};
  const HttpBackend::Reply ok{200, "ok", ""};
  std::vector<std::unique_ptr<HttpBackend>> backends;
  backends.push_back(std::make_unique<HttpBackend>(ok, addresses[0]));
  const uint16_t port = backends[0]->port();
  backends.push_back(std::make_unique<HttpBackend>(ok, addresses[1], port));
  backends.push_back(std::make_unique<HttpBackend>(ok, addresses[2], port));

  const json check{{"type", "http"}, {"port", port}, {"path", "/health"},
                   {"interval", std::to_string(kIntervalMs) + "ms"}, {"timeout", "100ms"},
                   {"rise", kRise}, {"fall", kFall}};
  TempDir dir;
  json config = zone_config(dir);
  config["arrays"].push_back(array("web.lb.example.test.", check, addresses));
  config["arrays"].push_back(array("strict.lb.example.test.", check, addresses, "none"));
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());
  const std::set<std::string> all(addresses.begin(), addresses.end());
  CHECK(seen(rotor.endpoint(), "web.lb.example.test.") == all);
  // Every backend is probed, with the configured path, until it has risen.
  const auto probed = [&] {
    return std::all_of(backends.begin(), backends.end(),
                       [](const auto& backend) { return backend->requests() >= kRise; });
  };
  for (int waited = 0; waited < 100 && !probed(); ++waited) std::this_thread::sleep_for(20ms);
  CHECK(probed());
  CHECK(backends[0]->last_request_head().find("GET /health HTTP/1.1") == 0);

  const auto fall_limit = std::chrono::milliseconds(kIntervalMs * kFall) + 1s;
  const auto rise_limit = std::chrono::milliseconds(kIntervalMs * kRise) + 1s;

  // Stop 127.0.0.12: refused connections, so it falls.
  backends[1].reset();
  const auto gone = time_until(rotor.endpoint(), "web.lb.example.test.",
                               {"127.0.0.11", "127.0.0.13"}, 5s);
  REQUIRE(gone);
  MESSAGE("down after " << gone->count() << " ms");
  CHECK(*gone <= fall_limit);
  CHECK(seen(rotor.endpoint(), "strict.lb.example.test.") ==
        std::set<std::string>{"127.0.0.11", "127.0.0.13"});

  // Start it again on the same port: it rises.
  backends[1] = std::make_unique<HttpBackend>(ok, addresses[1], port);
  const auto back = time_until(rotor.endpoint(), "web.lb.example.test.", all, 5s);
  REQUIRE(back);
  MESSAGE("up again after " << back->count() << " ms");
  CHECK(*back <= rise_limit);
  CHECK(backends[1]->requests() >= kRise);

  // All three down: `web` fails open (every instance), `strict` answers NODATA.
  backends.clear();
  const auto strict_empty = time_until(rotor.endpoint(), "strict.lb.example.test.", {}, 5s);
  REQUIRE(strict_empty);
  CHECK(*strict_empty <= fall_limit);
  CHECK(seen(rotor.endpoint(), "web.lb.example.test.") == all);
  std::optional<Reply> nodata =
      exchange_udp(rotor.endpoint(), make_query("strict.lb.example.test.", "A", resolver_options()));
  REQUIRE(nodata);
  REQUIRE(nodata->packet);
  CHECK(ldns_pkt_get_rcode(nodata->packet.get()) == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_ancount(nodata->packet.get()) == 0);
}

TEST_CASE("an instance whose check names another address is probed there and answered as itself") {
  // 127.0.0.21 serves nothing; its health endpoint is a sidecar on
  // 127.0.0.22. 127.0.0.23 has no sidecar, so its own address is probed and
  // refuses.
  const HttpBackend::Reply ok{200, "ok", ""};
  auto sidecar = std::make_unique<HttpBackend>(ok, "127.0.0.22");
  const json check{{"type", "http"}, {"port", sidecar->port()}, {"path", "/health"},
                   {"interval", std::to_string(kIntervalMs) + "ms"}, {"timeout", "100ms"},
                   {"rise", kRise}, {"fall", kFall}};
  TempDir dir;
  json config = zone_config(dir);
  json web = array("web.lb.example.test.", check, {"127.0.0.21", "127.0.0.23"}, "none");
  web["instances"][0]["check"] = {{"address", "127.0.0.22"}};
  config["arrays"].push_back(web);
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());

  // 127.0.0.23 falls; 127.0.0.21 rises on the sidecar's answers (unknown
  // counts as healthy, so it is answered throughout).
  const auto only_21 = time_until(rotor.endpoint(), "web.lb.example.test.", {"127.0.0.21"}, 5s);
  REQUIRE(only_21);
  for (int waited = 0; waited < 100 && sidecar->requests() < kRise + 1; ++waited) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK(sidecar->requests() >= kRise + 1);
  CHECK(sidecar->last_request_head().find("GET /health HTTP/1.1") == 0);
  CHECK(seen(rotor.endpoint(), "web.lb.example.test.") == std::set<std::string>{"127.0.0.21"});

  // The sidecar goes away: the instance it vouched for leaves the answers.
  sidecar.reset();
  const auto none = time_until(rotor.endpoint(), "web.lb.example.test.", {}, 5s);
  REQUIRE(none);
  CHECK(*none <= std::chrono::milliseconds(kIntervalMs * kFall) + 1s);
}

TEST_CASE("a hundred probes held in their timeout do not delay answers") {
  // 100 listeners that never accept: the handshake completes in the backlog,
  // the request is sent, no reply ever comes, so each check runs its full timeout.
  constexpr int kHung = 100;
  std::vector<std::unique_ptr<TcpListener>> listeners;
  std::vector<std::string> addresses;
  listeners.push_back(std::make_unique<TcpListener>(16, "127.0.3.1"));
  const uint16_t port = listeners[0]->port();
  addresses.push_back("127.0.3.1");
  for (int i = 2; i <= kHung; ++i) {
    addresses.push_back("127.0.3." + std::to_string(i));
    listeners.push_back(std::make_unique<TcpListener>(16, addresses.back(), port));
  }
  const json check{{"type", "http"}, {"port", port}, {"interval", "5s"}, {"timeout", "2s"},
                   {"fall", 1}};
  TempDir dir;
  json config = zone_config(dir);
  config["arrays"].push_back(array("slow.lb.example.test.", check, addresses, "none"));
  config["arrays"][0]["max_answers"] = 8;  // 100 A records would not fit in UDP
  config["arrays"].push_back(array("other.lb.example.test.", nullptr, {"192.0.2.1"}));  // not probed
  const auto started = Clock::now();
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());

  // While every probe waits for its 2 s timeout, answers keep coming at once.
  std::chrono::microseconds slowest{0};
  int answered = 0;
  int full_answers = 0;
  while (Clock::now() - started < 1500ms) {
    for (const char* name : {"slow.lb.example.test.", "other.lb.example.test."}) {
      const auto sent = Clock::now();
      const auto addresses_answered = probes_answer_once(rotor.endpoint(), name);
      const auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent);
      slowest = std::max(slowest, took);
      if (!addresses_answered) continue;
      ++answered;
      if (addresses_answered->size() == 8) ++full_answers;
    }
  }
  MESSAGE(answered << " answers while the probes hung; slowest " << slowest.count() << " us");
  CHECK(answered >= 100);
  CHECK(full_answers > 0);  // still unknown (healthy) while the checks run
  CHECK(slowest < 250ms);   // a probe on the answering path would cost up to 2 s

  // Then the timeouts expire together and the array, all down, answers NODATA.
  const auto empty = time_until(rotor.endpoint(), "slow.lb.example.test.", {}, 5s);
  REQUIRE(empty);
  CHECK(Clock::now() - started >= 1800ms);  // they did time out, not fail at once
  CHECK(seen(rotor.endpoint(), "other.lb.example.test.") == std::set<std::string>{"192.0.2.1"});
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
