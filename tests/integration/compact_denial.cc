// Compact denial answered late, end to end: rotor serves a zone it signs
// (key from `rotor keygen`); a DO query for a name that does not exist is
// answered within a second with the SOA and the name's NSEC (\000.<name>,
// NXNAME), signed and verified by ldns, NXDOMAIN with the CO flag; a burst of
// random names far beyond the rings crashes nothing, rotor keeps answering,
// and /metrics counts the drops.

#include <chrono>
#include <cstring>
#include <string>

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/dns_client.h"

namespace rotor::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct RrListFree {
  void operator()(ldns_rr_list* list) const { ldns_rr_list_deep_free(list); }
};
using RrList = std::unique_ptr<ldns_rr_list, RrListFree>;

test::Bytes nx_query(const std::string& label, uint16_t id, bool compact_ok = false) {
  test::QueryOptions options = test::resolver_options(id);
  options.dnssec_ok = true;
  test::Bytes query = test::make_query(label + ".deny.test.", LDNS_RR_TYPE_A, options);
  if (compact_ok) query[query.size() - 4] |= 0x40;  // CO, beside DO in the OPT flags
  return query;
}

RrList dnskey_of(const TempDir& dir) {
  std::string path;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "keys")) {
    if (entry.path().extension() == ".key") path = entry.path().string();
  }
  std::string text = "\n" + read_file(path);
  const size_t line = text.find("\ndeny.test.");
  REQUIRE(line != std::string::npos);
  ldns_rr* rr = nullptr;
  REQUIRE(ldns_rr_new_frm_str(&rr, text.substr(line + 1).c_str(), 0, nullptr, nullptr) ==
          LDNS_STATUS_OK);
  RrList keys(ldns_rr_list_new());
  ldns_rr_list_push_rr(keys.get(), rr);
  return keys;
}

// "All OK" when the reply's NSEC has NXNAME and its one RRSIG verifies.
std::string verify_denial(const test::Bytes& wire, const ldns_rr_list* keys) {
  test::LdnsPacket reply = test::parse_reply(wire);
  if (!reply) return "unparsable";
  ldns_rr_list* authority = ldns_pkt_authority(reply.get());
  RrList nsec(ldns_rr_list_new());
  ldns_rr* signature = nullptr;
  for (size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(authority, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NSEC) ldns_rr_list_push_rr(nsec.get(), ldns_rr_clone(rr));
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG &&
        ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == LDNS_RR_TYPE_NSEC) {
      signature = rr;
    }
  }
  if (ldns_rr_list_rr_count(nsec.get()) != 1 || signature == nullptr) return "no signed NSEC";
  if (!ldns_nsec_bitmap_covers_type(ldns_rr_rdf(ldns_rr_list_rr(nsec.get(), 0), 1),
                                    static_cast<ldns_rr_type>(128))) {
    return "no NXNAME";
  }
  ldns_rr_list* good = ldns_rr_list_new();
  const ldns_status status = ldns_verify_rrsig_keylist(nsec.get(), signature, keys, good);
  ldns_rr_list_free(good);
  return ldns_get_errorstr_by_id(status);
}

double metric(const std::string& body, const std::string& line_start) {
  const size_t at = body.find("\n" + line_start + " ");
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + line_start.size() + 2));
}

TEST_SUITE_BEGIN("integration/compact_denial");

TEST_CASE("a missing name is denied late and signed and a random-name burst is counted") {
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "keys");
  Process keygen({ROTOR_BINARY, "keygen", "deny.test", "--dir", (dir.path() / "keys").string()});
  REQUIRE(keygen.wait_exit(10s) == 0);
  const RrList keys = dnskey_of(dir);
  dir.write("deny.zone",
            "$ORIGIN deny.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 120\n"
            "  IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A 192.0.2.80\n");
  const json config = {{"db", (dir.path() / "rotor.db").string()},
                       {"zones", {{{"file", "deny.zone"}, {"dnssec", {{"keys", "keys"}}}}}}};
  RotorServer rotor({"--threads", "1", "--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());

  test::UdpClient udp(rotor.endpoint());
  const auto start = std::chrono::steady_clock::now();
  const auto first = udp.exchange(nx_query("nope", 0x0101), 1s);
  REQUIRE(first);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK(verify_denial(first->wire, keys.get()) == "All OK");
  CHECK((first->wire[3] & 0x0f) == 0);  // NOERROR
  const auto compact = udp.exchange(nx_query("nope", 0x0102, true), 1s);
  REQUIRE(compact);
  CHECK((compact->wire[3] & 0x0f) == 3);  // NXDOMAIN with CO
  CHECK(verify_denial(compact->wire, keys.get()) == "All OK");

  for (int i = 0; i < 3000; ++i) udp.send(nx_query("burst" + std::to_string(i), static_cast<uint16_t>(i)));
  udp.collect(500ms, 10s);
  const auto after = udp.exchange(nx_query("after", 0x0103), 2s);
  REQUIRE(after);
  CHECK(verify_denial(after->wire, keys.get()) == "All OK");

  const int port = rotor.api_port();
  REQUIRE(port > 0);
  httplib::Client api("127.0.0.1", port);
  auto metrics = api.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metric(metrics->body, "rotor_dnssec_denial_total{outcome=\"dropped\"}") > 0);
  CHECK(metric(metrics->body, "rotor_dnssec_denial_total{outcome=\"answered_late\"}") >= 2);
  CHECK(metric(metrics->body, "rotor_dnssec_denial_total{outcome=\"hit\"}") >= 3);
}

TEST_SUITE_END();

}  // namespace
}  // namespace rotor::itest
