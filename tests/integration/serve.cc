// The rotor binary end to end: transports, truncation, EDNS, reloads,
// startup errors and shutdown, all on loopback with port 0.

#include <signal.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "tests/integration/harness.h"

TEST_SUITE_BEGIN("integration/serve");

namespace rotor::itest {
namespace {

const std::string kQueryZone = std::string(ROTOR_TEST_DATA) + "/query/example.test.zone";
const std::string kZonesDir = std::string(ROTOR_TEST_DATA) + "/zones";

std::vector<std::string> query_zone_args() { return {"--threads", "2", "--zone", kQueryZone}; }

size_t answer_count(const Reply& response) {
  return response.packet ? ldns_pkt_ancount(response.packet.get()) : 0;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_CASE("answers over UDP and TCP") {
  RotorServer rotor(query_zone_args());
  REQUIRE(rotor.ready());
  for (bool tcp : {false, true}) {
    CAPTURE(tcp);
    std::vector<uint8_t> query = make_query("www.example.test.", "A", resolver_options());
    std::optional<Reply> response =
        tcp ? exchange_tcp(rotor.endpoint(), query) : exchange_udp(rotor.endpoint(), query);
    REQUIRE(response);
    REQUIRE(response->packet);
    const ldns_pkt& packet = *response->packet;
    CHECK(ldns_pkt_qr(&packet));
    CHECK(ldns_pkt_aa(&packet));
    CHECK(ldns_pkt_id(&packet) == 0x1234);
    CHECK(ldns_pkt_get_rcode(&packet) == LDNS_RCODE_NOERROR);
    CHECK(canonical_section_text(packet, LDNS_SECTION_ANSWER) ==
          std::vector<std::string>{"www.example.test.\t3600\tIN\tA\t192.0.2.80",
                                   "www.example.test.\t3600\tIN\tA\t192.0.2.81"});
  }
}

TEST_CASE("negative answers carry the SOA") {
  RotorServer rotor(query_zone_args());
  REQUIRE(rotor.ready());
  struct Case {
    const char* name;
    const char* type;
    ldns_pkt_rcode rcode;
  };
  for (const Case& c : {Case{"nothere.example.test.", "A", LDNS_RCODE_NXDOMAIN},
                        Case{"www.example.test.", "MX", LDNS_RCODE_NOERROR}}) {
    CAPTURE(c.name);
    std::optional<Reply> response = exchange_udp(rotor.endpoint(), make_query(c.name, c.type, resolver_options()));
    REQUIRE(response);
    REQUIRE(response->packet);
    CHECK(ldns_pkt_get_rcode(response->packet.get()) == c.rcode);
    CHECK(ldns_pkt_ancount(response->packet.get()) == 0);
    std::vector<std::string> authority = canonical_section_text(*response->packet, LDNS_SECTION_AUTHORITY);
    REQUIRE(authority.size() == 1);
    CHECK(contains(authority[0], "\tSOA\t"));
  }
}

TEST_CASE("pipelined TCP queries in one write are all answered - in order") {
  RotorServer rotor(query_zone_args());
  REQUIRE(rotor.ready());
  const std::vector<std::pair<std::string, std::string>> questions{
      {"www.example.test.", "A"},     {"mail.example.test.", "AAAA"}, {"nothere.example.test.", "A"},
      {"example.test.", "SOA"},       {"alias.example.test.", "A"},   {"x.wild.example.test.", "TXT"},
      {"big.example.test.", "TXT"},   {"example.test.", "NS"},
  };
  std::vector<std::vector<uint8_t>> queries;
  for (size_t index = 0; index < questions.size(); ++index) {
    QueryOptions options = resolver_options();
    options.id = static_cast<uint16_t>(100 + index);
    queries.push_back(make_query(questions[index].first, questions[index].second, options));
  }
  std::vector<Reply> responses = exchange_tcp(rotor.endpoint(), queries, 5s);
  REQUIRE(responses.size() == questions.size());
  for (size_t index = 0; index < responses.size(); ++index) {
    CAPTURE(questions[index].first);
    REQUIRE(responses[index].packet);
    // Answers may be sent in any order by the RFC 7766 letter, but rotor
    // promises order; the IDs say which query each answers.
    CHECK(ldns_pkt_id(responses[index].packet.get()) == 100 + index);
    ldns_rr_list* question = ldns_pkt_question(responses[index].packet.get());
    REQUIRE(ldns_rr_list_rr_count(question) == 1);
    char* owner = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(question, 0)));
    CHECK(std::string(owner) == questions[index].first);
    std::free(owner);
  }
  CHECK(answer_count(responses[6]) == 40);
}

TEST_CASE("a large RRset is truncated over UDP and whole over TCP") {
  RotorServer rotor(query_zone_args());
  REQUIRE(rotor.ready());
  QueryOptions plain = resolver_options();
  plain.edns = false;
  std::optional<Reply> udp = exchange_udp(rotor.endpoint(), make_query("big.example.test.", "TXT", plain));
  REQUIRE(udp);
  REQUIRE(udp->packet);
  CHECK(ldns_pkt_tc(udp->packet.get()));
  CHECK(udp->wire.size() <= 512);

  std::optional<Reply> edns = exchange_udp(rotor.endpoint(), make_query("big.example.test.", "TXT", resolver_options()));
  REQUIRE(edns);
  REQUIRE(edns->packet);
  CHECK(edns->wire.size() <= 1232);
  CHECK(ldns_pkt_tc(edns->packet.get()) == (answer_count(*edns) < 40));

  std::optional<Reply> tcp = exchange_tcp(rotor.endpoint(), make_query("big.example.test.", "TXT", plain));
  REQUIRE(tcp);
  REQUIRE(tcp->packet);
  CHECK_FALSE(ldns_pkt_tc(tcp->packet.get()));
  CHECK(answer_count(*tcp) == 40);
}

TEST_CASE("EDNS: OPT in the reply - BADVERS - NSID") {
  RotorServer rotor({"--zone", kQueryZone, "--nsid", "rotor-itest"});
  REQUIRE(rotor.ready());

  SUBCASE("the reply carries OPT with payload 1232") {
    QueryOptions options = resolver_options();
    options.udp_size = 4096;
    std::optional<Reply> response = exchange_udp(rotor.endpoint(), make_query("www.example.test.", "A", options));
    REQUIRE(response);
    REQUIRE(response->packet);
    CHECK(ldns_pkt_edns(response->packet.get()));
    CHECK(ldns_pkt_edns_udp_size(response->packet.get()) == 1232);
    CHECK(ldns_pkt_edns_version(response->packet.get()) == 0);
  }
  SUBCASE("no OPT in the reply to a query without one") {
    QueryOptions options = resolver_options();
    options.edns = false;
    std::optional<Reply> response = exchange_udp(rotor.endpoint(), make_query("www.example.test.", "A", options));
    REQUIRE(response);
    REQUIRE(response->packet);
    CHECK_FALSE(ldns_pkt_edns(response->packet.get()));
  }
  SUBCASE("EDNS version 1 gets BADVERS") {
    QueryOptions options = resolver_options();
    options.edns_version = 1;
    std::optional<Reply> response = exchange_udp(rotor.endpoint(), make_query("www.example.test.", "A", options));
    REQUIRE(response);
    REQUIRE(response->packet);
    // BADVERS is 16: the low four bits in the header, the high eight in OPT.
    CHECK(ldns_pkt_get_rcode(response->packet.get()) == 0);
    CHECK(ldns_pkt_edns(response->packet.get()));
    CHECK(ldns_pkt_edns_extended_rcode(response->packet.get()) == 1);
    CHECK(ldns_pkt_edns_version(response->packet.get()) == 0);
    CHECK(ldns_pkt_ancount(response->packet.get()) == 0);
  }
  SUBCASE("NSID is returned when asked for") {
    QueryOptions options = resolver_options();
    options.nsid = true;
    std::optional<Reply> response = exchange_udp(rotor.endpoint(), make_query("www.example.test.", "A", options));
    REQUIRE(response);
    const std::string nsid_option = std::string("\x00\x03\x00\x0b", 4) + "rotor-itest";
    CHECK(contains(std::string(response->wire.begin(), response->wire.end()), nsid_option));
  }
  SUBCASE("NSID is not returned unasked") {
    std::optional<Reply> response = exchange_udp(rotor.endpoint(), make_query("www.example.test.", "A", resolver_options()));
    REQUIRE(response);
    CHECK_FALSE(contains(std::string(response->wire.begin(), response->wire.end()), "rotor-itest"));
  }
}

TEST_CASE("a packet with QR=1 gets no reply - and the server keeps answering") {
  RotorServer rotor(query_zone_args());
  REQUIRE(rotor.ready());
  QueryOptions response_flagged = resolver_options();
  response_flagged.qr = true;
  CHECK_FALSE(exchange_udp(rotor.endpoint(), make_query("www.example.test.", "A", response_flagged), 500ms));
  CHECK_FALSE(exchange_udp(rotor.endpoint(), std::vector<uint8_t>{0x12, 0x34, 0x01}, 300ms));
  std::optional<Reply> normal = exchange_udp(rotor.endpoint(), make_query("www.example.test.", "A", resolver_options()));
  REQUIRE(normal);
  CHECK(answer_count(*normal) == 2);
}

TEST_CASE("TCP: a query split over several writes - idle connections are closed") {
  TempDir dir;
  std::string config = dir.write(
      "rotor.json", R"({"zones": [{"file": ")" + kQueryZone + R"("}], "tcp": {"idle_timeout": "300ms"}})");
  RotorServer rotor({"--config", config});
  REQUIRE(rotor.ready());

  TcpClient connection(rotor.endpoint());
  REQUIRE(connection.connected());
  std::vector<uint8_t> framed = tcp_frame(make_query("www.example.test.", "A", resolver_options()));
  // First one byte of the length, then the rest in two pieces.
  const size_t cuts[] = {0, 1, 7, framed.size()};
  for (size_t piece = 0; piece + 1 < std::size(cuts); ++piece) {
    REQUIRE(connection.send(std::vector<uint8_t>(framed.begin() + static_cast<std::ptrdiff_t>(cuts[piece]),
                                                       framed.begin() + static_cast<std::ptrdiff_t>(cuts[piece + 1]))));
    std::this_thread::sleep_for(50ms);
  }
  std::optional<Reply> response = connection.receive();
  REQUIRE(response);
  CHECK(answer_count(*response) == 2);
  // The connection stays usable for the next query.
  REQUIRE(connection.send(tcp_frame(make_query("mail.example.test.", "AAAA", resolver_options()))));
  response = connection.receive();
  REQUIRE(response);
  CHECK(answer_count(*response) == 1);

  auto idle_since = std::chrono::steady_clock::now();
  CHECK(connection.closed_within(3s));
  CHECK(std::chrono::steady_clock::now() - idle_since >= 200ms);
}

const char* const kReloadZoneHead =
    "$ORIGIN reload.test.\n"
    "$TTL 300\n"
    "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "  IN NS ns1\n"
    "ns1 IN A 192.0.2.1\n";

// Polls until `name A` answers with `want` records (0: NXDOMAIN or empty).
bool wait_for_answer_count(const Endpoint& server, const std::string& name, size_t want) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::optional<Reply> response = exchange_udp(server, make_query(name, "A", resolver_options()), 200ms);
    if (response && answer_count(*response) == want) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST_CASE("SIGHUP reloads zones - a broken zone keeps the old data") {
  TempDir dir;
  std::string zone = dir.write("reload.zone", kReloadZoneHead);
  RotorServer rotor({"--zone", "reload.test=" + zone});
  REQUIRE(rotor.ready());
  CHECK(wait_for_answer_count(rotor.endpoint(), "new.reload.test.", 0));

  dir.write("reload.zone", std::string(kReloadZoneHead) + "new IN A 192.0.2.7\n");
  rotor.process().signal(SIGHUP);
  CHECK_MESSAGE(wait_for_answer_count(rotor.endpoint(), "new.reload.test.", 1),
                "new record not served after SIGHUP; stderr:\n" << rotor.process().stderr_text());

  std::string log_before = rotor.process().stderr_text();
  dir.write("reload.zone", std::string(kReloadZoneHead) + "new IN A 192.0.2.7\nbroken IN A 192.0.2.300\n");
  rotor.process().signal(SIGHUP);
  // The failed reload is logged naming the file; wait for that, then look.
  CHECK_MESSAGE(rotor.process().wait_for_stderr("reload.zone:", 5s),
                "failed reload not logged with the file name; stderr:\n" << rotor.process().stderr_text());
  CHECK(wait_for_answer_count(rotor.endpoint(), "new.reload.test.", 1));
  CHECK_FALSE(rotor.process().exited());
  (void)log_before;
}

TEST_CASE("SIGTERM and SIGINT exit 0") {
  for (int signo : {SIGTERM, SIGINT}) {
    CAPTURE(signo);
    RotorServer rotor(query_zone_args());
    REQUIRE(rotor.ready());
    rotor.process().signal(signo);
    std::optional<int> code = rotor.process().wait_exit(5s);
    REQUIRE(code);
    CHECK_MESSAGE(*code == 0, "stderr:\n" << rotor.process().stderr_text());
  }
}

TEST_CASE("startup errors exit 1 naming the file - line or key") {
  TempDir dir;
  std::string bad_key_config = dir.write("bad_key.json", R"({"listen": ["127.0.0.1:0"], "bogus_key": 1})");
  std::string bad_duration_config = dir.write(
      "bad_duration.json", R"({"zones": [{"file": ")" + kQueryZone + R"("}], "tcp": {"idle_timeout": 5}})");
  std::string good_config = dir.write(
      "good.json", R"({"listen": ["127.0.0.1:0"], "zones": [{"file": ")" + kQueryZone + R"("}]})");
  struct Case {
    std::string label;
    std::vector<std::string> args;
    int exit_code;
    std::string expected_text;
  };
  const std::vector<Case> cases{
      {"zone with a bad address", {"serve", "--listen", "127.0.0.1:0", "--zone", kZonesDir + "/syntax_error.zone"}, 1,
       "syntax_error.zone:7"},
      {"missing zone file", {"serve", "--listen", "127.0.0.1:0", "--zone", dir.path().string() + "/absent.zone"}, 1,
       "absent.zone"},
      {"unknown config key", {"serve", "--config", bad_key_config}, 1, "bogus_key"},
      {"check: unknown config key", {"check", "--config", bad_key_config}, 1, "bogus_key"},
      {"check: good config", {"check", "--config", good_config}, 0, ""},
      {"check: duration without unit", {"check", "--config", bad_duration_config}, 1, "tcp.idle_timeout"},
      // A bad flag value is a usage error: exit 2, by main.cc's contract.
      {"unknown log level", {"serve", "--listen", "127.0.0.1:0", "--zone", kQueryZone, "--log-level", "loud"}, 2,
       "loud"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.label);
    std::vector<std::string> argv{ROTOR_BINARY};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::string output;
    int code = run_to_exit(argv, output);
    CHECK_MESSAGE(code == c.exit_code, "output:\n" << output);
    CHECK_MESSAGE(contains(output, c.expected_text), "output:\n" << output);
  }
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
