// A corpus of hostile packets sent to the rotor binary over UDP and TCP: short
// headers, counts that lie, compression loops and forward pointers, labels and
// names over their limits, bad OPT and ECS options, responses, oversized
// datagrams. (Bytes after the counted records are ignored, as NSD does; the
// responder's unit tests hold that.)
// Each must get FORMERR or no reply at all, and the server must answer a
// normal query right after each one.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/integration/harness.h"

TEST_SUITE_BEGIN("integration/hostile_packets");

namespace rotor::itest {
namespace {

using Bytes = std::vector<uint8_t>;

enum class Expect { formerr, dropped };

// A query header: id 0xBEEF, flags, counts.
Bytes header(uint16_t flags, uint16_t qd, uint16_t an = 0, uint16_t ns = 0, uint16_t ar = 0) {
  return {0xBE, 0xEF, uint8_t(flags >> 8), uint8_t(flags), uint8_t(qd >> 8), uint8_t(qd),
          uint8_t(an >> 8), uint8_t(an), uint8_t(ns >> 8), uint8_t(ns), uint8_t(ar >> 8), uint8_t(ar)};
}

// Byte by byte: GCC 12 at -O3 warns falsely on vector range inserts here.
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& part : parts) {
    for (uint8_t byte : part) out.push_back(byte);
  }
  return out;
}

// www.example.test. as wire labels, then type A, class IN.
const Bytes kName{3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0};
const Bytes kTypeA{0, 1, 0, 1};

// An OPT record: root owner, type 41, payload 1232, no extended flags, `rdata`.
Bytes opt(const Bytes& rdata) {
  return cat({{0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, uint8_t(rdata.size() >> 8), uint8_t(rdata.size())}, rdata});
}

// An EDNS Client Subnet option (code 8).
Bytes ecs(uint16_t family, uint8_t source, uint8_t scope, const Bytes& address) {
  return cat({{0, 8, 0, uint8_t(4 + address.size()), uint8_t(family >> 8), uint8_t(family), source, scope},
              address});
}

struct Case {
  const char* name;
  Bytes packet;
  Expect expect;
};

std::vector<Case> hostile_corpus() {
  const Bytes long_label = cat({{64}, Bytes(64, 'a'), {0}});
  Bytes long_name;  // 5 labels of 63 = 320 bytes > 255
  for (int i = 0; i < 5; ++i) long_name = cat({long_name, {63}, Bytes(63, 'b')});
  long_name.push_back(0);
  const Bytes query = cat({header(0, 1), kName, kTypeA});
  Bytes oversized = cat({header(0, 1, 0, 0, 1), kName, kTypeA, opt({})});
  oversized.resize(8000, 0xFF);  // over the 4096-byte receive buffer: truncated by the kernel

  return {
      {"empty datagram", {}, Expect::dropped},
      {"five bytes: shorter than a header", {0xBE, 0xEF, 0, 0, 0}, Expect::dropped},
      {"a header and nothing else", header(0, 1), Expect::formerr},
      {"qdcount 0", header(0, 0), Expect::formerr},
      {"qdcount 2 with one question", cat({header(0, 2), kName, kTypeA}), Expect::formerr},
      {"ancount says 5 and there are none", cat({header(0, 1, 5), kName, kTypeA}), Expect::formerr},
      {"arcount says 3 and there are none", cat({header(0, 1, 0, 0, 3), kName, kTypeA}), Expect::formerr},
      {"question cut inside the name", cat({header(0, 1), Bytes(kName.begin(), kName.begin() + 6)}), Expect::formerr},
      {"question without type and class", cat({header(0, 1), kName}), Expect::formerr},
      {"compression pointer to itself", cat({header(0, 1), {0xC0, 12}, kTypeA}), Expect::formerr},
      {"compression pointers in a loop",
       cat({header(0, 1), {1, 'a', 0xC0, 14, 1, 'b', 0xC0, 12}, kTypeA}), Expect::formerr},
      {"forward compression pointer", cat({header(0, 1), {0xC0, 20}, kTypeA, kName}), Expect::formerr},
      {"pointer past the end", cat({header(0, 1), {0xC3, 0xFF}, kTypeA}), Expect::formerr},
      {"reserved label type 0x40", cat({header(0, 1), {0x41, 'a', 0}, kTypeA}), Expect::formerr},
      {"label of 64 bytes", cat({header(0, 1), long_label, kTypeA}), Expect::formerr},
      {"name of 320 bytes", cat({header(0, 1), long_name, kTypeA}), Expect::formerr},
      {"two OPT records", cat({header(0, 1, 0, 0, 2), kName, kTypeA, opt({}), opt({})}), Expect::formerr},
      {"OPT with a non-root owner",
       cat({header(0, 1, 0, 0, 1), kName, kTypeA, {1, 'x', 0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0}}),
       Expect::formerr},
      {"OPT rdlength past the end",
       cat({header(0, 1, 0, 0, 1), kName, kTypeA, {0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 50}}), Expect::formerr},
      {"OPT option length past the rdata", cat({header(0, 1, 0, 0, 1), kName, kTypeA, opt({0, 10, 0, 9, 1})}),
       Expect::formerr},
      {"ECS with an IPv4 prefix of 33",
       cat({header(0, 1, 0, 0, 1), kName, kTypeA, opt(ecs(1, 33, 0, {10, 0, 0, 0, 0}))}), Expect::formerr},
      {"ECS with a scope in a query",
       cat({header(0, 1, 0, 0, 1), kName, kTypeA, opt(ecs(1, 24, 16, {10, 0, 0}))}), Expect::formerr},
      {"ECS with more address bytes than the prefix needs",
       cat({header(0, 1, 0, 0, 1), kName, kTypeA, opt(ecs(1, 8, 0, {10, 0, 0, 0}))}), Expect::formerr},
      {"ECS with bits set beyond the prefix",
       cat({header(0, 1, 0, 0, 1), kName, kTypeA, opt(ecs(1, 20, 0, {10, 1, 0xFF}))}), Expect::formerr},
      {"ECS with an unknown family",
       cat({header(0, 1, 0, 0, 1), kName, kTypeA, opt(ecs(9, 8, 0, {10}))}), Expect::formerr},
      {"a response (QR set)", cat({header(0x8000, 1), kName, kTypeA}), Expect::dropped},
      {"a response with lying counts", cat({header(0x8400, 9, 9, 9, 9)}), Expect::dropped},
      {"an 8000-byte datagram", oversized, Expect::dropped},
      {"a valid query cut after the class", Bytes(query.begin(), query.end() - 1), Expect::formerr},
  };
}

// What the reply says about the case: FORMERR, dropped, or something else.
std::string outcome(const std::optional<Reply>& reply) {
  if (!reply) return "dropped";
  if (reply->wire.size() < 12) return "short reply";
  const unsigned rcode = reply->wire[3] & 0x0F;
  if (rcode == 1) return "FORMERR";
  return "rcode " + std::to_string(rcode);
}

bool answers_normally(const Endpoint& server) {
  const auto normal = exchange_udp(server, make_query("www.example.test.", "A", resolver_options()), 2s);
  return normal && normal->packet && ldns_pkt_get_rcode(normal->packet.get()) == LDNS_RCODE_NOERROR &&
         ldns_pkt_ancount(normal->packet.get()) > 0;
}

TEST_CASE("hostile packets get FORMERR or no reply and the server keeps answering") {
  RotorServer rotor({"--zone", std::string(ROTOR_TEST_DATA) + "/query/example.test.zone", "--threads", "1"});
  REQUIRE(rotor.ready());
  REQUIRE(answers_normally(rotor.endpoint()));
  for (const Case& c : hostile_corpus()) {
    const std::string name = c.name;
    CAPTURE(name);
    // A dropped packet is waited for only briefly; FORMERR comes at once.
    const auto reply = exchange_udp(rotor.endpoint(), c.packet, c.expect == Expect::dropped ? 300ms : 2s);
    CHECK(outcome(reply) == (c.expect == Expect::formerr ? "FORMERR" : "dropped"));
    if (reply && reply->wire.size() >= 2) {
      CHECK(reply->wire[0] == 0xBE);  // the ID is echoed even in FORMERR
      CHECK(reply->wire[1] == 0xEF);
    }
    CHECK(answers_normally(rotor.endpoint()));
  }
}

TEST_CASE("hostile packets over TCP get FORMERR or a close and the server keeps answering") {
  RotorServer rotor({"--zone", std::string(ROTOR_TEST_DATA) + "/query/example.test.zone", "--threads", "1"});
  REQUIRE(rotor.ready());
  for (const Case& c : hostile_corpus()) {
    // Over TCP a message may be as long as 65535 bytes, so the oversized case
    // is a query with junk after it there: answered, like NSD does.
    if (c.packet.empty() || c.packet.size() > 4096) continue;
    const std::string name = c.name;
    CAPTURE(name);
    const auto reply = exchange_tcp(rotor.endpoint(), c.packet, 2s);
    const std::string got = outcome(reply);
    CHECK((got == "FORMERR" || got == "dropped"));
    if (c.expect == Expect::formerr) CHECK(got == "FORMERR");
    CHECK(answers_normally(rotor.endpoint()));
  }
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
