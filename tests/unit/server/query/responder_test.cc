// The query path, bytes in and bytes out, against tests/data/query/example.test.zone.
#include "server/query/responder.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>

#include "tests/support/dns_client.h"
#include "tests/unit/support/allocation_counter.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/server/query/responder");

namespace rotor {
namespace {

using test::QueryOptions;

std::shared_ptr<const Snapshot> test_snapshot(const std::string& nsid = "") {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->zones.add(zones::load_zone_file(
      std::string(ROTOR_TEST_DATA) + "/query/example.test.zone", "example.test."));
  snapshot->options.nsid = nsid;
  return snapshot;
}

struct Reply {
  std::vector<uint8_t> bytes;
  test::LdnsPacket packet;
};

Reply ask(const Snapshot& snapshot, const std::vector<uint8_t>& query,
          Transport transport = Transport::udp) {
  std::vector<uint8_t> out(kReplyBufferSize);
  WorkerState state;
  const size_t size = answer_query(snapshot, query, ClientInfo{nullptr, transport}, out, state);
  out.resize(size);
  Reply reply{out, nullptr};
  if (size > 0) reply.packet = test::parse_reply(out);
  return reply;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

struct Case {
  const char* what;
  const char* name;
  ldns_rr_type type;
  ldns_pkt_rcode rcode;
  bool aa;
  std::vector<std::string> answer;
  std::vector<std::string> authority;
  std::vector<std::string> additional;
};

const std::string kSoaNegative =
    "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112201 7200 3600 "
    "1209600 300";

TEST_CASE("authoritative answers follow the zone") {
  const auto snapshot = test_snapshot();
  const std::vector<Case> cases = {
      {"A with two records", "www.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, true,
       {"www.example.test. 3600 IN A 192.0.2.80", "www.example.test. 3600 IN A 192.0.2.81"},
       {}, {}},
      {"NODATA carries the SOA with the negative TTL", "www.example.test.", LDNS_RR_TYPE_MX,
       LDNS_RCODE_NOERROR, true, {}, {kSoaNegative}, {}},
      {"NXDOMAIN carries the SOA", "nope.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN,
       true, {}, {kSoaNegative}, {}},
      {"CNAME then its target", "alias.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, true,
       {"alias.example.test. 3600 IN CNAME www.example.test.",
        "www.example.test. 3600 IN A 192.0.2.80", "www.example.test. 3600 IN A 192.0.2.81"},
       {}, {}},
      {"CNAME chain", "chain.example.test.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, true,
       {"chain.example.test. 3600 IN CNAME alias.example.test.",
        "alias.example.test. 3600 IN CNAME www.example.test.",
        "www.example.test. 3600 IN AAAA 2001:db8::80"},
       {}, {}},
      {"CNAME to a missing name is NXDOMAIN (RFC 6604)", "dangling.example.test.",
       LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, true,
       {"dangling.example.test. 3600 IN CNAME nothere.example.test."}, {kSoaNegative}, {}},
      {"CNAME out of our zones stops there", "outside.example.test.", LDNS_RR_TYPE_A,
       LDNS_RCODE_NOERROR, true, {"outside.example.test. 3600 IN CNAME www.example.org."}, {},
       {}},
      {"CNAME query returns the CNAME only", "alias.example.test.", LDNS_RR_TYPE_CNAME,
       LDNS_RCODE_NOERROR, true, {"alias.example.test. 3600 IN CNAME www.example.test."}, {},
       {}},
      {"wildcard synthesises the query name", "host.wild.example.test.", LDNS_RR_TYPE_A,
       LDNS_RCODE_NOERROR, true, {"host.wild.example.test. 3600 IN A 192.0.2.99"}, {}, {}},
      {"wildcard NODATA", "host.wild.example.test.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR,
       true, {}, {kSoaNegative}, {}},
      {"existing name blocks the wildcard below it", "x.sub.wild.example.test.",
       LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, true, {}, {kSoaNegative}, {}},
      {"existing name is not wildcard-matched", "sub.wild.example.test.", LDNS_RR_TYPE_A,
       LDNS_RCODE_NOERROR, true, {}, {kSoaNegative}, {}},
      {"empty non-terminal is NODATA", "b.ent.example.test.", LDNS_RR_TYPE_A,
       LDNS_RCODE_NOERROR, true, {}, {kSoaNegative}, {}},
      {"referral below a delegation", "www.child.example.test.", LDNS_RR_TYPE_A,
       LDNS_RCODE_NOERROR, false, {},
       {"child.example.test. 3600 IN NS ns.child.example.test.",
        "child.example.test. 3600 IN NS ns.example.net."},
       {"ns.child.example.test. 3600 IN A 192.0.2.53"}},
      {"referral at the cut", "child.example.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, false,
       {},
       {"child.example.test. 3600 IN NS ns.child.example.test.",
        "child.example.test. 3600 IN NS ns.example.net."},
       {"ns.child.example.test. 3600 IN A 192.0.2.53"}},
      {"DS at the cut is answered by the parent", "child.example.test.", LDNS_RR_TYPE_DS,
       LDNS_RCODE_NOERROR, true, {}, {kSoaNegative}, {}},
      {"MX gets the exchange's addresses", "example.test.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR,
       true, {"example.test. 3600 IN MX 10 mail.example.test."}, {},
       {"mail.example.test. 3600 IN A 192.0.2.25", "mail.example.test. 3600 IN AAAA 2001:db8::25"}},
      {"NS at the apex gets in-zone addresses", "example.test.", LDNS_RR_TYPE_NS,
       LDNS_RCODE_NOERROR, true,
       {"example.test. 3600 IN NS ns1.example.test.", "example.test. 3600 IN NS ns2.example.net."},
       {}, {"ns1.example.test. 3600 IN A 192.0.2.1"}},
      {"SRV gets the target's addresses", "_sip._udp.example.test.", LDNS_RR_TYPE_SRV,
       LDNS_RCODE_NOERROR, true, {"_sip._udp.example.test. 3600 IN SRV 0 5 5060 mail.example.test."},
       {},
       {"mail.example.test. 3600 IN A 192.0.2.25", "mail.example.test. 3600 IN AAAA 2001:db8::25"}},
      {"outside every zone is REFUSED", "www.example.org.", LDNS_RR_TYPE_A, LDNS_RCODE_REFUSED,
       false, {}, {}, {}},
      {"zone transfer is REFUSED", "example.test.", LDNS_RR_TYPE_AXFR, LDNS_RCODE_REFUSED, false,
       {}, {}, {}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const Reply reply = ask(*snapshot, test::make_query(c.name, c.type));
    REQUIRE(reply.packet);
    const ldns_pkt* p = reply.packet.get();
    CHECK(ldns_pkt_get_rcode(p) == c.rcode);
    CHECK(ldns_pkt_qr(p));
    CHECK(ldns_pkt_aa(p) == c.aa);
    CHECK_FALSE(ldns_pkt_tc(p));
    CHECK(ldns_pkt_rd(p));
    CHECK_FALSE(ldns_pkt_ra(p));
    CHECK(ldns_pkt_id(p) == 0x4242);
    CHECK(sorted(test::section_text(*p, LDNS_SECTION_ANSWER)) == sorted(c.answer));
    CHECK(sorted(test::section_text(*p, LDNS_SECTION_AUTHORITY)) == sorted(c.authority));
    CHECK(sorted(test::section_text(*p, LDNS_SECTION_ADDITIONAL)) == sorted(c.additional));
  }
}

TEST_CASE("a CNAME loop ends with a bounded answer") {
  const auto snapshot = test_snapshot();
  const Reply reply = ask(*snapshot, test::make_query("loop1.example.test.", LDNS_RR_TYPE_A));
  REQUIRE(reply.packet);
  CHECK(ldns_pkt_get_rcode(reply.packet.get()) == LDNS_RCODE_NOERROR);
  const size_t answers = ldns_pkt_ancount(reply.packet.get());
  CHECK(answers >= 2);
  CHECK(answers <= 8);
}

TEST_CASE("the question keeps the client's case and the answer points at it") {
  const auto snapshot = test_snapshot();
  const Reply reply = ask(*snapshot, test::make_query("WwW.ExAmPlE.TeSt.", LDNS_RR_TYPE_A));
  REQUIRE(reply.packet);
  ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(reply.packet.get()), 0);
  char* text = ldns_rdf2str(ldns_rr_owner(question));
  CHECK(std::string(text) == "WwW.ExAmPlE.TeSt.");
  free(text);
  ldns_rr* first = ldns_rr_list_rr(ldns_pkt_answer(reply.packet.get()), 0);
  text = ldns_rdf2str(ldns_rr_owner(first));
  CHECK(std::string(text) == "WwW.ExAmPlE.TeSt.");
  free(text);
  // The owner is a pointer to the question at offset 12.
  const size_t question_end = 12 + 18 + 4;
  CHECK(reply.bytes[question_end] == 0xC0);
  CHECK(reply.bytes[question_end + 1] == 12);
}

TEST_CASE("RD clear is echoed clear") {
  const auto snapshot = test_snapshot();
  QueryOptions options;
  options.recursion_desired = false;
  const Reply reply =
      ask(*snapshot, test::make_query("www.example.test.", LDNS_RR_TYPE_A, options));
  REQUIRE(reply.packet);
  CHECK_FALSE(ldns_pkt_rd(reply.packet.get()));
}

TEST_CASE("EDNS") {
  const auto snapshot = test_snapshot("rotor-test-1");
  QueryOptions edns;
  edns.edns = true;
  edns.udp_size = 4096;

  SUBCASE("OPT echoed with our payload size") {
    const Reply reply = ask(*snapshot, test::make_query("www.example.test.", LDNS_RR_TYPE_A, edns));
    REQUIRE(reply.packet);
    CHECK(ldns_pkt_edns(reply.packet.get()));
    CHECK(ldns_pkt_edns_udp_size(reply.packet.get()) == 1232);
    CHECK(reply.bytes[11] == 1);  // ldns folds the OPT away, so count it on the wire
  }
  SUBCASE("no OPT in the reply when the query had none") {
    const Reply reply = ask(*snapshot, test::make_query("www.example.test.", LDNS_RR_TYPE_A));
    REQUIRE(reply.packet);
    CHECK(reply.bytes[11] == 0);
  }
  SUBCASE("version 1 gets BADVERS") {
    edns.edns_version = 1;
    const Reply reply = ask(*snapshot, test::make_query("www.example.test.", LDNS_RR_TYPE_A, edns));
    REQUIRE(reply.packet);
    CHECK(ldns_pkt_edns_extended_rcode(reply.packet.get()) == 1);  // 16 >> 4
    CHECK(ldns_pkt_get_rcode(reply.packet.get()) == 0);
    CHECK(ldns_pkt_ancount(reply.packet.get()) == 0);
    CHECK(ldns_pkt_edns_version(reply.packet.get()) == 0);
  }
  SUBCASE("DO is copied back") {
    edns.dnssec_ok = true;
    const Reply reply = ask(*snapshot, test::make_query("www.example.test.", LDNS_RR_TYPE_A, edns));
    REQUIRE(reply.packet);
    CHECK(ldns_pkt_edns_do(reply.packet.get()));
  }
  SUBCASE("NSID when asked") {
    edns.nsid = true;
    const Reply reply = ask(*snapshot, test::make_query("www.example.test.", LDNS_RR_TYPE_A, edns));
    REQUIRE(reply.packet);
    const std::string raw(reply.bytes.begin(), reply.bytes.end());
    CHECK(raw.find(std::string("\x00\x03\x00\x0crotor-test-1", 16)) != std::string::npos);
  }
  SUBCASE("no NSID unless asked") {
    const Reply reply = ask(*snapshot, test::make_query("www.example.test.", LDNS_RR_TYPE_A, edns));
    const std::string raw(reply.bytes.begin(), reply.bytes.end());
    CHECK(raw.find("rotor-test-1") == std::string::npos);
  }
}

TEST_CASE("truncation over UDP - whole over TCP") {
  const auto snapshot = test_snapshot();
  const auto query = test::make_query("big.example.test.", LDNS_RR_TYPE_TXT);

  const Reply udp = ask(*snapshot, query, Transport::udp);
  REQUIRE(udp.packet);
  CHECK(udp.bytes.size() <= 512);
  CHECK(ldns_pkt_tc(udp.packet.get()));
  CHECK(ldns_pkt_ancount(udp.packet.get()) == 0);  // no partial RRset

  QueryOptions edns;
  edns.edns = true;
  edns.udp_size = 1232;
  const Reply bigger = ask(*snapshot, test::make_query("big.example.test.", LDNS_RR_TYPE_TXT, edns));
  REQUIRE(bigger.packet);
  CHECK(bigger.bytes.size() <= 1232);
  CHECK(ldns_pkt_tc(bigger.packet.get()));
  CHECK(ldns_pkt_edns(bigger.packet.get()));  // the OPT always fits

  const Reply tcp = ask(*snapshot, query, Transport::tcp);
  REQUIRE(tcp.packet);
  CHECK_FALSE(ldns_pkt_tc(tcp.packet.get()));
  CHECK(ldns_pkt_ancount(tcp.packet.get()) == 40);
}

TEST_CASE("ANY is minimal over UDP (RFC 8482) and whole over TCP") {
  const auto snapshot = test_snapshot();
  const auto query = test::make_query("example.test.", LDNS_RR_TYPE_ANY);
  const Reply udp = ask(*snapshot, query, Transport::udp);
  REQUIRE(udp.packet);
  CHECK(ldns_pkt_ancount(udp.packet.get()) >= 1);
  CHECK(ldns_pkt_ancount(udp.packet.get()) <= 2);  // one RRset: the two NS at most
  const Reply tcp = ask(*snapshot, query, Transport::tcp);
  REQUIRE(tcp.packet);
  CHECK(ldns_pkt_ancount(tcp.packet.get()) == 4);  // SOA, 2 NS, MX
}

// Raw packets for what ldns would refuse to build.
std::vector<uint8_t> header(uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
  return {0x12, 0x34, static_cast<uint8_t>(flags >> 8), static_cast<uint8_t>(flags),
          0, static_cast<uint8_t>(qd), 0, static_cast<uint8_t>(an),
          0, static_cast<uint8_t>(ns), 0, static_cast<uint8_t>(ar)};
}
std::vector<uint8_t> operator+(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
const std::vector<uint8_t> kQuestionWww = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
                                           4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
const std::vector<uint8_t> kOpt = {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0};

struct RawCase {
  const char* what;
  std::vector<uint8_t> query;
  int rcode;  // -1: dropped
};

TEST_CASE("malformed and unusual messages") {
  const auto snapshot = test_snapshot();
  const std::vector<RawCase> cases = {
      {"empty", {}, -1},
      {"short header", {0x12, 0x34, 0x01}, -1},
      {"QR set: a response is never answered", header(0x8000, 1, 0, 0, 0) + kQuestionWww, -1},
      {"no question", header(0x0100, 0, 0, 0, 0), LDNS_RCODE_FORMERR},
      {"two questions", header(0x0100, 2, 0, 0, 0) + kQuestionWww + kQuestionWww,
       LDNS_RCODE_FORMERR},
      {"question cut short", header(0x0100, 1, 0, 0, 0) + std::vector<uint8_t>{3, 'w', 'w'},
       LDNS_RCODE_FORMERR},
      {"question without type", header(0x0100, 1, 0, 0, 0) + std::vector<uint8_t>{0, 0},
       LDNS_RCODE_FORMERR},
      {"pointer loop in the question",
       header(0x0100, 1, 0, 0, 0) + std::vector<uint8_t>{0xC0, 12, 0, 1, 0, 1},
       LDNS_RCODE_FORMERR},
      {"forward pointer", header(0x0100, 1, 0, 0, 0) + std::vector<uint8_t>{0xC0, 20, 0, 1, 0, 1},
       LDNS_RCODE_FORMERR},
      {"label over 63 bytes", header(0x0100, 1, 0, 0, 0) + std::vector<uint8_t>{64, 'a', 0, 0, 1},
       LDNS_RCODE_FORMERR},
      {"reserved label type", header(0x0100, 1, 0, 0, 0) + std::vector<uint8_t>{0x41, 0, 0, 1, 0, 1},
       LDNS_RCODE_FORMERR},
      {"opcode STATUS is not implemented", header(0x1100, 1, 0, 0, 0) + kQuestionWww,
       LDNS_RCODE_NOTIMPL},
      {"opcode NOTIFY is not implemented", header(0x2000, 1, 0, 0, 0) + kQuestionWww,
       LDNS_RCODE_NOTIMPL},
      {"additional count lies", header(0x0100, 1, 0, 0, 3) + kQuestionWww + kOpt,
       LDNS_RCODE_FORMERR},
      {"two OPT records", header(0x0100, 1, 0, 0, 2) + kQuestionWww + kOpt + kOpt,
       LDNS_RCODE_FORMERR},
      {"OPT in the answer section", header(0x0100, 1, 1, 0, 0) + kQuestionWww + kOpt,
       LDNS_RCODE_FORMERR},
      {"OPT option overruns its record",
       header(0x0100, 1, 0, 0, 1) + kQuestionWww +
           std::vector<uint8_t>{0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 9},
       LDNS_RCODE_FORMERR},
      {"client subnet with an impossible prefix",
       header(0x0100, 1, 0, 0, 1) + kQuestionWww +
           std::vector<uint8_t>{0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 8, 0, 8, 0, 4, 0, 1, 40, 0},
       LDNS_RCODE_FORMERR},
      {"unknown EDNS option is ignored",
       header(0x0100, 1, 0, 0, 1) + kQuestionWww +
           std::vector<uint8_t>{0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 6, 0xFD, 0xE9, 0, 2, 1, 2},
       LDNS_RCODE_NOERROR},
      {"trailing bytes are ignored", header(0x0100, 1, 0, 0, 0) + kQuestionWww +
                                         std::vector<uint8_t>{1, 2, 3},
       LDNS_RCODE_NOERROR},
      {"class CH is refused", header(0x0100, 1, 0, 0, 0) +
                                  std::vector<uint8_t>{3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p',
                                                       'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 16, 0, 3},
       LDNS_RCODE_REFUSED},
      {"qtype OPT is a format error", header(0x0100, 1, 0, 0, 0) +
                                          std::vector<uint8_t>{0, 0, 41, 0, 1},
       LDNS_RCODE_FORMERR},
  };
  for (const RawCase& c : cases) {
    CAPTURE(c.what);
    std::vector<uint8_t> out(kReplyBufferSize);
    WorkerState state;
    const size_t size = answer_query(*snapshot, c.query, ClientInfo{}, out, state);
    if (c.rcode < 0) {
      CHECK(size == 0);
      continue;
    }
    REQUIRE(size >= 12);
    CHECK(out[0] == 0x12);
    CHECK(out[1] == 0x34);
    CHECK((out[2] & 0x80) != 0);
    CHECK((out[3] & 0x0F) == c.rcode);
    // Whatever we send must itself be a well-formed message.
    out.resize(size);
    CHECK(test::parse_reply(out) != nullptr);
  }
}

TEST_CASE("a reply never exceeds the buffer or the client's limit") {
  const auto snapshot = test_snapshot();
  for (uint16_t size : {512, 600, 1000, 1232, 4096}) {
    QueryOptions edns;
    edns.edns = true;
    edns.udp_size = size;
    const Reply reply = ask(*snapshot, test::make_query("big.example.test.", LDNS_RR_TYPE_TXT, edns));
    CAPTURE(size);
    CHECK(reply.bytes.size() <= std::min<size_t>(size, 1232));
  }
}

TEST_CASE("answering allocates nothing") {
  const auto snapshot = test_snapshot("nsid");
  QueryOptions edns;
  edns.edns = true;
  edns.nsid = true;
  const std::vector<std::vector<uint8_t>> queries = {
      test::make_query("www.example.test.", LDNS_RR_TYPE_A),
      test::make_query("chain.example.test.", LDNS_RR_TYPE_AAAA, edns),
      test::make_query("nope.example.test.", LDNS_RR_TYPE_A),
      test::make_query("host.wild.example.test.", LDNS_RR_TYPE_A),
      test::make_query("www.child.example.test.", LDNS_RR_TYPE_A),
      test::make_query("example.test.", LDNS_RR_TYPE_MX, edns),
      test::make_query("big.example.test.", LDNS_RR_TYPE_TXT),
      test::make_query("www.example.org.", LDNS_RR_TYPE_A),
  };
  std::vector<uint8_t> out(kReplyBufferSize);
  WorkerState state;
  size_t answered = 0;
  test::AllocationCounter counter;
  for (int round = 0; round < 100; ++round) {
    for (const auto& query : queries) {
      answered += answer_query(*snapshot, query, ClientInfo{}, out, state) > 0;
    }
  }
  CHECK(counter.allocations() == 0);
  CHECK(answered == 800);
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
