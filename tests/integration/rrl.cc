// Response rate limiting end to end: the rotor binary with `rrl` on (10
// replies a second per /24, slip 2) takes a burst of UDP queries from one
// source and answers about the rate in full, the rest alternately truncated
// and dropped; TCP from the same source and UDP from another /24 are answered
// in full meanwhile, and /metrics counts what was held back.

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

TEST_SUITE_BEGIN("integration/rrl");

namespace rotor::itest {
namespace {

constexpr int kRate = 10;

bool is_full(const Reply& reply) {
  return reply.packet && !ldns_pkt_tc(reply.packet.get()) &&
         ldns_pkt_get_rcode(reply.packet.get()) == LDNS_RCODE_NOERROR &&
         ldns_pkt_ancount(reply.packet.get()) == 2;  // www has two A records
}

bool is_slipped(const Reply& reply) {
  return reply.packet && ldns_pkt_tc(reply.packet.get()) &&
         ldns_pkt_get_rcode(reply.packet.get()) == LDNS_RCODE_NOERROR &&
         ldns_pkt_qdcount(reply.packet.get()) == 1 && ldns_pkt_ancount(reply.packet.get()) == 0 &&
         ldns_pkt_nscount(reply.packet.get()) == 0 && ldns_pkt_arcount(reply.packet.get()) == 0;
}

// The value of one series in Prometheus text, or -1 when absent.
double sample(const std::string& text, const std::string& series) {
  const std::string prefix = "\n" + series + " ";
  const auto at = text.find(prefix);
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + prefix.size(), nullptr);
}

TEST_CASE("rrl limits a UDP burst from one prefix and spares TCP and other prefixes") {
  TempDir dir;
  const nlohmann::json config = {
      {"zones", {std::string(ROTOR_TEST_DATA) + "/query/example.test.zone"}},
      {"db", (dir.path() / "rotor.db").string()},
      {"threads", 2},  // one table shared by both workers
      {"rrl", {{"responses_per_second", kRate}, {"slip", 2}}}};
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump())});
  REQUIRE(rotor.ready());
  const int api_port = rotor.api_port();
  REQUIRE(api_port != 0);

  // 100 queries from 127.0.0.1 over four sockets (SO_REUSEPORT spreads them
  // over the workers), with every tenth slot one from 127.0.1.1, another /24
  // that never goes over the rate.
  constexpr int kBurst = 100;
  std::vector<std::unique_ptr<UdpClient>> limited;
  for (int i = 0; i < 4; ++i) {
    limited.push_back(std::make_unique<UdpClient>(rotor.endpoint(), "127.0.0.1"));
  }
  UdpClient other(rotor.endpoint(), "127.0.1.1");
  int other_sent = 0;
  for (int i = 0; i < kBurst; ++i) {
    QueryOptions options = resolver_options();
    options.id = static_cast<uint16_t>(i);
    REQUIRE(limited[i % limited.size()]->send(make_query("www.example.test.", "A", options)));
    if (i % 10 == 0) {
      options.id = static_cast<uint16_t>(1000 + i);
      REQUIRE(other.send(make_query("www.example.test.", "A", options)));
      ++other_sent;
    }
  }

  // Over TCP, from the same source and at once: more than two seconds' worth
  // of queries, all answered in full.
  const std::vector<std::vector<uint8_t>> tcp_queries(3 * kRate,
                                                      make_query("www.example.test.", "A", resolver_options()));
  const std::vector<Reply> tcp_replies = exchange_tcp(rotor.endpoint(), tcp_queries, 5s);
  CHECK(tcp_replies.size() == tcp_queries.size());
  int tcp_full = 0;
  for (const Reply& reply : tcp_replies) tcp_full += is_full(reply) ? 1 : 0;
  CHECK(tcp_full == static_cast<int>(tcp_queries.size()));

  int full = 0, slipped = 0, other_replies = 0;
  for (auto& client : limited) {
    for (const Reply& reply : client->collect(500ms, 5s)) {
      if (is_full(reply)) {
        ++full;
      } else if (is_slipped(reply)) {
        ++slipped;
      } else {
        FAIL_CHECK("unexpected reply of " << reply.wire.size() << " bytes");
      }
    }
  }
  for (const Reply& reply : other.collect(500ms, 5s)) {
    CHECK(is_full(reply));
    ++other_replies;
  }
  const int dropped = kBurst - full - slipped;
  CAPTURE(full);
  CAPTURE(slipped);
  CAPTURE(dropped);
  // The burst may straddle a second boundary: then two seconds' worth pass.
  CHECK(full >= kRate);
  CHECK(full <= 2 * kRate);
  CHECK(slipped > 0);
  CHECK(dropped > 0);
  // Within a second the limited replies alternate drop, slip, drop, slip.
  CHECK(std::abs(slipped - dropped) <= 2);
  CHECK(other_replies == other_sent);

  httplib::Client api("127.0.0.1", api_port);
  const auto metrics = api.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CAPTURE(metrics->body);
  CHECK(sample(metrics->body, R"(rotor_rrl_responses_total{action="dropped"})") == dropped);
  CHECK(sample(metrics->body, R"(rotor_rrl_responses_total{action="slipped"})") == slipped);
}

TEST_CASE("rrl is off by default") {
  TempDir dir;
  const nlohmann::json config = {
      {"zones", {std::string(ROTOR_TEST_DATA) + "/query/example.test.zone"}},
      {"db", (dir.path() / "rotor.db").string()},
      {"threads", 1}};
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump())});
  REQUIRE(rotor.ready());
  UdpClient client(rotor.endpoint(), "127.0.0.1");
  constexpr int kQueries = 5 * kRate;
  for (int i = 0; i < kQueries; ++i) {
    QueryOptions options = resolver_options();
    options.id = static_cast<uint16_t>(i);
    REQUIRE(client.send(make_query("www.example.test.", "A", options)));
  }
  int full = 0;
  for (const Reply& reply : client.collect(500ms, 5s)) full += is_full(reply) ? 1 : 0;
  CHECK(full == kQueries);
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
