// Hostile TCP clients: connections that send nothing, stop inside the length
// prefix, or pipeline queries and never read the replies. rotor must keep
// the connection cap, close them after the idle timeout, and keep answering
// UDP without delay meanwhile.

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

TEST_SUITE_BEGIN("integration/tcp_attack");

namespace rotor::itest {
namespace {

using Clock = std::chrono::steady_clock;

TEST_CASE("silent - half-framed and non-reading TCP clients are capped and timed out while UDP answers") {
  constexpr int kCap = 40;
  TempDir dir;
  const nlohmann::json config{
      {"zones", {std::string(ROTOR_TEST_DATA) + "/query/example.test.zone"}},
      {"threads", 1},
      {"tcp", {{"idle_timeout", "1s"}, {"max_connections", kCap}}}};
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump())});
  REQUIRE(rotor.ready());

  const std::vector<uint8_t> query = make_query("www.example.test.", "A", resolver_options());
  std::vector<uint8_t> pipelined;  // 500 framed queries in one write, never read back
  for (int i = 0; i < 500; ++i) {
    const std::vector<uint8_t> framed = tcp_frame(query);
    for (uint8_t byte : framed) pipelined.push_back(byte);
  }

  std::vector<std::unique_ptr<TcpClient>> attackers;
  for (int i = 0; i < 3 * kCap; ++i) {
    auto connection = std::make_unique<TcpClient>(rotor.endpoint());
    REQUIRE(connection->connected());
    switch (i % 3) {
      case 0: break;                                  // says nothing
      case 1: connection->send({0x00}); break;        // half a length prefix
      case 2: connection->send(pipelined); break;     // never reads
    }
    attackers.push_back(std::move(connection));
  }

  // UDP keeps answering at once while the attack holds its connections.
  std::chrono::microseconds slowest{0};
  int answered = 0;
  const auto attack_start = Clock::now();
  while (Clock::now() - attack_start < 500ms) {
    const auto sent = Clock::now();
    const auto reply = exchange_udp(rotor.endpoint(), query, 1s);
    slowest = std::max(slowest, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent));
    if (reply && reply->packet && ldns_pkt_ancount(reply->packet.get()) > 0) ++answered;
  }
  MESSAGE(answered << " UDP answers during the attack; slowest " << slowest.count() << " us");
  CHECK(answered >= 100);
  CHECK(slowest < 250ms);

  // The cap holds: at most kCap of them are still open (oldest idle closed first).
  int open = 0;
  for (auto& connection : attackers) {
    if (!connection->closed_within(1ms)) ++open;
  }
  MESSAGE(open << " of " << attackers.size() << " attacking connections still open");
  CHECK(open <= kCap);

  // And every one is closed once the idle timeout (1 s) has passed.
  int still_open = 0;
  for (auto& connection : attackers) {
    if (!connection->closed_within(3s)) ++still_open;
  }
  CHECK(still_open == 0);

  // A well-behaved TCP client is served afterwards.
  const auto reply = exchange_tcp(rotor.endpoint(), query, 2s);
  REQUIRE(reply);
  REQUIRE(reply->packet);
  CHECK(ldns_pkt_ancount(reply->packet.get()) > 0);
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
