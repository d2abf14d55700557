// Response rate limiting: the per-prefix count, the drop/slip pattern, the
// second boundary, prefixes, exemptions, concurrent workers, and the slipped
// reply's wire form.
#include "server/query/rate_limiter.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "server/query/responder.h"
#include "tests/support/dns_client.h"
#include "tests/unit/support/allocation_counter.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/server/query/rate_limiter");

namespace rotor {
namespace {

using Verdict = RateLimiter::Verdict;

// A client address of either family (port 53000).
struct Client {
  sockaddr_storage storage{};
  explicit Client(const std::string& text) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(53000);
    } else {
      REQUIRE(inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1);
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(53000);
    }
  }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

RateLimiterOptions options(uint32_t rate, uint32_t slip) {
  RateLimiterOptions out;
  out.responses_per_second = rate;
  out.slip = slip;
  out.table_size = 1024;
  out.hash_seed = 0x5eed;  // fixed, so that no two test prefixes collide by chance
  return out;
}

// The verdicts of `count` replies to `client` within second `now`, as a string
// of p (pass), d (drop) and s (slip).
std::string pattern(RateLimiter& limiter, const Client& client, int count, uint32_t now = 100) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    switch (limiter.admit(client.get(), now)) {
      case Verdict::pass: out += 'p'; break;
      case Verdict::drop: out += 'd'; break;
      case Verdict::slip: out += 's'; break;
    }
  }
  return out;
}

RateLimitExempt network(const std::string& address, uint8_t length) {
  return {*arrays::IpAddress::parse(address), length};
}

TEST_CASE("the drop and slip pattern per slip setting") {
  struct Case {
    uint32_t rate;
    uint32_t slip;
    const char* expected;  // 12 replies in one second
  };
  const Case cases[] = {
      {12, 2, "pppppppppppp"},  // at the rate: all pass
      {3, 0, "pppddddddddd"},   // slip 0: every limited reply dropped
      {3, 1, "pppsssssssss"},   // slip 1: every limited reply truncated
      {3, 2, "pppdsdsdsdsd"},   // slip 2: every second one, as NSD and Knot
      {3, 3, "pppddsddsdds"},
      {1, 2, "pdsdsdsdsdsd"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.rate);
    CAPTURE(c.slip);
    RateLimiter limiter(options(c.rate, c.slip));
    CHECK(pattern(limiter, Client("192.0.2.1"), 12) == c.expected);
  }
}

TEST_CASE("a new second starts a new count") {
  RateLimiter limiter(options(2, 2));
  const Client client("192.0.2.1");
  CHECK(pattern(limiter, client, 5, 100) == "ppdsd");
  CHECK(pattern(limiter, client, 5, 101) == "ppdsd");
  CHECK(pattern(limiter, client, 3, 105) == "ppd");
  // A worker whose clock lags a little counts into the second already begun.
  CHECK(pattern(limiter, client, 2, 104) == "sd");
  // A second before the slot's, beyond the skew allowed: a fresh count.
  CHECK(pattern(limiter, client, 3, 50) == "ppd");
  CHECK(pattern(limiter, client, 3, 60) == "ppd");
}

TEST_CASE("prefixes are counted apart") {
  RateLimiter limiter(options(2, 0));
  CHECK(pattern(limiter, Client("192.0.2.1"), 3) == "ppd");
  // The same /24: the same bucket.
  CHECK(pattern(limiter, Client("192.0.2.200"), 1) == "d");
  // Another /24, and the first prefix limited meanwhile.
  CHECK(pattern(limiter, Client("192.0.3.1"), 2) == "pp");
  CHECK(pattern(limiter, Client("192.0.2.1"), 1) == "d");
  CHECK(pattern(limiter, Client("198.51.100.7"), 3) == "ppd");
  CHECK(pattern(limiter, Client("192.0.3.9"), 1) == "d");
}

TEST_CASE("IPv6 clients are counted per /56") {
  RateLimiter limiter(options(2, 0));
  CHECK(pattern(limiter, Client("2001:db8:0:100::1"), 2) == "pp");
  CHECK(pattern(limiter, Client("2001:db8:0:1ff:ffff::9"), 1) == "d");  // same /56
  CHECK(pattern(limiter, Client("2001:db8:0:200::1"), 2) == "pp");      // next /56
  CHECK(pattern(limiter, Client("2001:db8:1:100::1"), 2) == "pp");
}

TEST_CASE("prefix lengths are configurable") {
  RateLimiterOptions narrow = options(1, 0);
  narrow.ipv4_prefix = 32;
  narrow.ipv6_prefix = 128;
  RateLimiter limiter(narrow);
  CHECK(pattern(limiter, Client("192.0.2.1"), 2) == "pd");
  CHECK(pattern(limiter, Client("192.0.2.2"), 2) == "pd");
  CHECK(pattern(limiter, Client("2001:db8::1"), 2) == "pd");
  CHECK(pattern(limiter, Client("2001:db8::2"), 2) == "pd");

  RateLimiterOptions wide = options(1, 0);
  wide.ipv4_prefix = 8;
  RateLimiter wide_limiter(wide);
  CHECK(pattern(wide_limiter, Client("10.1.2.3"), 1) == "p");
  CHECK(pattern(wide_limiter, Client("10.200.0.1"), 1) == "d");
}

TEST_CASE("an IPv4-mapped address counts as its IPv4 address") {
  RateLimiter limiter(options(1, 0));
  CHECK(pattern(limiter, Client("192.0.2.1"), 1) == "p");
  CHECK(pattern(limiter, Client("::ffff:192.0.2.77"), 1) == "d");
}

TEST_CASE("exempt networks are never limited") {
  RateLimiterOptions with_exempt = options(1, 0);
  with_exempt.exempt = {network("192.0.2.0", 25), network("2001:db8::", 32),
                        network("::ffff:198.51.100.0", 120)};
  RateLimiter limiter(with_exempt);
  CHECK(pattern(limiter, Client("192.0.2.1"), 5) == "ppppp");
  CHECK(pattern(limiter, Client("192.0.2.127"), 5) == "ppppp");
  CHECK(pattern(limiter, Client("192.0.2.128"), 2) == "pd");  // same /24, outside the /25
  CHECK(pattern(limiter, Client("2001:db8:ffff::1"), 5) == "ppppp");
  CHECK(pattern(limiter, Client("2001:db9::1"), 2) == "pd");
  CHECK(pattern(limiter, Client("198.51.100.9"), 5) == "ppppp");  // the mapped form, as IPv4
  // Loopback is limited like anyone else unless exempted.
  CHECK(pattern(limiter, Client("127.0.0.1"), 2) == "pd");
}

TEST_CASE("clients of no known family pass") {
  RateLimiter limiter(options(1, 0));
  CHECK(limiter.admit(nullptr, 1) == Verdict::pass);
  sockaddr_storage unix_client{};
  unix_client.ss_family = AF_UNIX;
  for (int i = 0; i < 3; ++i) {
    CHECK(limiter.admit(reinterpret_cast<const sockaddr*>(&unix_client), 1) == Verdict::pass);
  }
}

TEST_CASE("bad options are refused") {
  CHECK_THROWS_AS(RateLimiter{options(0, 2)}, std::invalid_argument);
  RateLimiterOptions bad = options(10, 2);
  bad.table_size = 1000;
  CHECK_THROWS_AS(RateLimiter{bad}, std::invalid_argument);
  bad = options(10, 2);
  bad.ipv4_prefix = 33;
  CHECK_THROWS_AS(RateLimiter{bad}, std::invalid_argument);
}

TEST_CASE("admit allocates nothing") {
  RateLimiterOptions with_exempt = options(5, 2);
  with_exempt.exempt = {network("10.0.0.0", 8)};
  RateLimiter limiter(with_exempt);
  const Client v4("192.0.2.1"), v6("2001:db8::1"), exempt("10.1.1.1");
  size_t allocations = 0;
  int passed = 0;
  {
    test::AllocationCounter counter;
    for (uint32_t i = 0; i < 1000; ++i) {
      passed += limiter.admit(v4.get(), i / 100) == Verdict::pass;
      passed += limiter.admit(v6.get(), i / 100) == Verdict::pass;
      passed += limiter.admit(exempt.get(), i / 100) == Verdict::pass;
    }
    allocations = counter.allocations();
  }
  CHECK(allocations == 0);
  CHECK(passed == 10 * 5 * 2 + 1000);
}

TEST_CASE("two threads share one count exactly") {
  constexpr uint32_t kRate = 1000;
  constexpr int kPerThread = 20000;
  RateLimiter limiter(options(kRate, 3));
  const Client client("203.0.113.5");
  std::atomic<int> passed{0}, slipped{0}, dropped{0};
  std::atomic<bool> go{false};
  auto hammer = [&] {
    int p = 0, s = 0, d = 0;
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < kPerThread; ++i) {
      switch (limiter.admit(client.get(), 7)) {
        case Verdict::pass: ++p; break;
        case Verdict::slip: ++s; break;
        case Verdict::drop: ++d; break;
      }
    }
    passed += p;
    slipped += s;
    dropped += d;
  };
  std::thread first(hammer), second(hammer);
  go = true;
  first.join();
  second.join();
  // Every reply got its own count: exactly the rate passed, and every third
  // limited one slipped.
  constexpr int kLimited = 2 * kPerThread - static_cast<int>(kRate);
  CHECK(passed.load() == static_cast<int>(kRate));
  CHECK(slipped.load() == kLimited / 3);
  CHECK(dropped.load() == kLimited - kLimited / 3);
}

// ---------------------------------------------------------------------------
// The slipped reply.

std::vector<uint8_t> udp_reply(const std::vector<uint8_t>& query) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->zones.add(zones::load_zone_file(
      std::string(ROTOR_TEST_DATA) + "/query/example.test.zone", "example.test."));
  std::vector<uint8_t> out(kReplyBufferSize);
  WorkerState state;
  out.resize(answer_query(*snapshot, query, ClientInfo{}, out, state));
  return out;
}

TEST_CASE("a slipped reply is the header and question with TC") {
  test::QueryOptions edns;
  edns.edns = true;
  edns.id = 0xBEEF;
  std::vector<uint8_t> reply =
      udp_reply(test::make_query("WWW.example.test.", LDNS_RR_TYPE_A, edns));
  REQUIRE(reply.size() > 12);
  const test::LdnsPacket full = test::parse_reply(reply);
  REQUIRE(full);
  REQUIRE(ldns_pkt_ancount(full.get()) == 2);

  size_t allocations = 0;
  size_t length = 0;
  {
    test::AllocationCounter counter;
    length = truncate_to_question(reply.data(), reply.size());
    allocations = counter.allocations();
  }
  CHECK(allocations == 0);
  // Header, then www.example.test. (18 bytes), type and class.
  CHECK(length == 12 + 18 + 4);
  reply.resize(length);
  const test::LdnsPacket slipped = test::parse_reply(reply);
  REQUIRE(slipped);
  CHECK(ldns_pkt_id(slipped.get()) == 0xBEEF);
  CHECK(ldns_pkt_qr(slipped.get()));
  CHECK(ldns_pkt_aa(slipped.get()));
  CHECK(ldns_pkt_tc(slipped.get()));
  CHECK(ldns_pkt_get_rcode(slipped.get()) == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_qdcount(slipped.get()) == 1);
  CHECK(ldns_pkt_ancount(slipped.get()) == 0);
  CHECK(ldns_pkt_nscount(slipped.get()) == 0);
  CHECK(ldns_pkt_arcount(slipped.get()) == 0);
  CHECK(ldns_pkt_edns(slipped.get()) == false);
  const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(slipped.get()), 0);
  char* owner = ldns_rdf2str(ldns_rr_owner(question));
  CHECK(std::string(owner) == "WWW.example.test.");  // the client's case, as answered
  free(owner);
  CHECK(ldns_rr_get_type(question) == LDNS_RR_TYPE_A);
}

TEST_CASE("slipping keeps the rcode and copes with odd replies") {
  // NXDOMAIN: the SOA in authority goes, the rcode stays.
  std::vector<uint8_t> reply = udp_reply(test::make_query("nothere.example.test.", LDNS_RR_TYPE_A));
  reply.resize(truncate_to_question(reply.data(), reply.size()));
  const test::LdnsPacket nxdomain = test::parse_reply(reply);
  REQUIRE(nxdomain);
  CHECK(ldns_pkt_get_rcode(nxdomain.get()) == LDNS_RCODE_NXDOMAIN);
  CHECK(ldns_pkt_tc(nxdomain.get()));
  CHECK(ldns_pkt_nscount(nxdomain.get()) == 0);

  // A FORMERR to a message without a question: the header alone.
  std::vector<uint8_t> header_only = udp_reply({0xAB, 0xCD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  REQUIRE(header_only.size() >= 12);
  CHECK(truncate_to_question(header_only.data(), header_only.size()) == 12);
  CHECK((header_only[2] & 0x02) != 0);
  CHECK(header_only[3] == 0x01);  // FORMERR kept

  // A question that runs past the end: dropped, counts zero.
  std::vector<uint8_t> cut{0, 1, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0, 3, 'w', 'w'};
  CHECK(truncate_to_question(cut.data(), cut.size()) == 12);
  CHECK(cut[5] == 0);
  CHECK(cut[7] == 0);
  // Shorter than a header: nothing to send.
  std::vector<uint8_t> tiny{0, 1, 0x84};
  CHECK(truncate_to_question(tiny.data(), tiny.size()) == 0);
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
