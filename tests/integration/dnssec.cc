// A zone rotor signs, as an operator sets it up: `rotor keygen` writes the
// key, the config names the key directory (`"dnssec": {"keys": DIR}`), and
// `rotor serve` answers DO queries with RRSIGs that ldns verifies against the
// DNSKEY in the key file, NODATA with the name's compact NSEC, and plain
// queries without either; /metrics has the signature cache's counters. A
// reload signs the changed zone; a reload whose
// key directory is broken is refused, naming the key path and the file. The
// manual key rollover, step by step, keeps every answer verifying.

#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/dns_client.h"

namespace rotor::itest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kZone =
    "$ORIGIN signed.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 120\n"
    "  IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A 192.0.2.80\n";

struct DnssecRrListFree {
  void operator()(ldns_rr_list* list) const { ldns_rr_list_deep_free(list); }
};
using DnssecRrList = std::unique_ptr<ldns_rr_list, DnssecRrListFree>;

test::LdnsPacket ask(const Endpoint& server, const std::string& name, ldns_rr_type type, bool dnssec_ok) {
  test::QueryOptions options = test::resolver_options();
  options.dnssec_ok = dnssec_ok;
  const auto reply = test::exchange_tcp(server, test::make_query(name, type, options));
  REQUIRE(reply.has_value());
  REQUIRE(reply->packet);
  return test::parse_reply(reply->wire);
}

// The records of `type` in `section` and the RRSIGs covering them.
struct Split {
  DnssecRrList rrset{ldns_rr_list_new()};
  std::vector<ldns_rr*> signatures;
};
Split split(ldns_rr_list* section, ldns_rr_type type) {
  Split out;
  for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(section, i);
    if (ldns_rr_get_type(rr) == type) ldns_rr_list_push_rr(out.rrset.get(), ldns_rr_clone(rr));
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG &&
        ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == type) {
      out.signatures.push_back(rr);
    }
  }
  return out;
}

// "All OK" when the one RRSIG over `type` in `section` verifies with `keys`.
std::string verify(ldns_rr_list* section, ldns_rr_type type, const ldns_rr_list* keys) {
  Split parts = split(section, type);
  if (ldns_rr_list_rr_count(parts.rrset.get()) == 0) return "no records";
  if (parts.signatures.size() != 1) return std::to_string(parts.signatures.size()) + " signatures";
  ldns_rr_list* good = ldns_rr_list_new();
  const ldns_status status =
      ldns_verify_rrsig_keylist(parts.rrset.get(), parts.signatures[0], keys, good);
  ldns_rr_list_free(good);
  return ldns_get_errorstr_by_id(status);
}

// The DNSKEY record of the .key file `rotor keygen` wrote.
DnssecRrList key_from_file(const std::string& path) {
  std::string text = "\n" + read_file(path);
  const size_t line = text.find("\nsigned.test.");  // after the comment lines
  REQUIRE(line != std::string::npos);
  ldns_rr* rr = nullptr;
  REQUIRE(ldns_rr_new_frm_str(&rr, text.substr(line + 1).c_str(), 0, nullptr, nullptr) == LDNS_STATUS_OK);
  DnssecRrList keys(ldns_rr_list_new());
  ldns_rr_list_push_rr(keys.get(), rr);
  return keys;
}

std::string key_file_in(const TempDir& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "keys")) {
    if (entry.path().extension() == ".key") return entry.path().string();
  }
  return "";
}

TEST_SUITE_BEGIN("integration/dnssec");

TEST_CASE("a zone signed by rotor with a key from rotor keygen verifies and reloads") {
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "keys");
  Process keygen({ROTOR_BINARY, "keygen", "signed.test", "--dir", (dir.path() / "keys").string()});
  REQUIRE(keygen.wait_exit(10s) == 0);
  const DnssecRrList keys = key_from_file(key_file_in(dir));
  dir.write("signed.zone", kZone);
  const json config = {{"db", (dir.path() / "rotor.db").string()},
                       {"publish_interval", "0ms"},
                       {"zones", {{{"file", "signed.zone"}, {"dnssec", {{"keys", "keys"}}}}}}};
  const std::string config_file = dir.write("rotor.json", config.dump(2));
  RotorServer rotor({"--config", config_file});
  REQUIRE(rotor.ready());

  // The DNSKEY rotor publishes is the key file's, self-signed.
  test::LdnsPacket dnskey = ask(rotor.endpoint(), "signed.test.", LDNS_RR_TYPE_DNSKEY, true);
  CHECK(verify(ldns_pkt_answer(dnskey.get()), LDNS_RR_TYPE_DNSKEY, keys.get()) == "All OK");
  for (const ldns_rr_type type : {LDNS_RR_TYPE_SOA, LDNS_RR_TYPE_NS, LDNS_RR_TYPE_CDS}) {
    test::LdnsPacket reply = ask(rotor.endpoint(), "signed.test.", type, true);
    CHECK(verify(ldns_pkt_answer(reply.get()), type, keys.get()) == "All OK");
  }
  test::LdnsPacket www = ask(rotor.endpoint(), "www.signed.test.", LDNS_RR_TYPE_A, true);
  CHECK(ldns_pkt_edns_do(www.get()));
  CHECK(verify(ldns_pkt_answer(www.get()), LDNS_RR_TYPE_A, keys.get()) == "All OK");

  // NODATA: the SOA and the name's own NSEC (\000.www), both signed.
  test::LdnsPacket nodata = ask(rotor.endpoint(), "www.signed.test.", LDNS_RR_TYPE_AAAA, true);
  CHECK(ldns_pkt_get_rcode(nodata.get()) == LDNS_RCODE_NOERROR);
  ldns_rr_list* authority = ldns_pkt_authority(nodata.get());
  CHECK(verify(authority, LDNS_RR_TYPE_SOA, keys.get()) == "All OK");
  CHECK(verify(authority, LDNS_RR_TYPE_NSEC, keys.get()) == "All OK");
  const Split nsec = split(authority, LDNS_RR_TYPE_NSEC);
  REQUIRE(ldns_rr_list_rr_count(nsec.rrset.get()) == 1);
  char* next = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(nsec.rrset.get(), 0), 0));
  CHECK(std::string(next) == "\\000.www.signed.test.");
  free(next);

  // Without DO: the same answers, no DNSSEC records.
  test::LdnsPacket plain = ask(rotor.endpoint(), "www.signed.test.", LDNS_RR_TYPE_AAAA, false);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_authority(plain.get())) == 1);
  test::LdnsPacket plain_www = ask(rotor.endpoint(), "www.signed.test.", LDNS_RR_TYPE_A, false);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(plain_www.get())) == 1);

  // A reload signs the changed zone.
  const int port = rotor.api_port();
  REQUIRE(port > 0);
  httplib::Client api("127.0.0.1", port);
  api.set_read_timeout(10s);
  // The signature cache's counters are in /metrics.
  auto metrics = api.Get("/metrics");
  REQUIRE(metrics);
  for (const char* name : {"\nrotor_dnssec_signatures_total ", "\nrotor_dnssec_signature_cache_entries ",
                           "\nrotor_dnssec_signature_cache_bytes "}) {
    CAPTURE(name);
    const size_t at = metrics->body.find(name);
    REQUIRE(at != std::string::npos);
    CHECK(std::stod(metrics->body.substr(at + std::strlen(name))) > 0);
  }
  CHECK(metrics->body.find("\nrotor_dnssec_signing_failures_total 0") != std::string::npos);
  dir.write("signed.zone", kZone + "new IN TXT \"added\"\n");
  auto reloaded = api.Post("/v1/reload");
  REQUIRE(reloaded);
  CHECK(reloaded->status == 200);
  // The composer publishes the new zones on its own thread, soon after.
  test::LdnsPacket added = ask(rotor.endpoint(), "new.signed.test.", LDNS_RR_TYPE_TXT, true);
  for (int attempt = 0; attempt < 50 && ldns_pkt_ancount(added.get()) == 0; ++attempt) {
    std::this_thread::sleep_for(100ms);
    added = ask(rotor.endpoint(), "new.signed.test.", LDNS_RR_TYPE_TXT, true);
  }
  CHECK(verify(ldns_pkt_answer(added.get()), LDNS_RR_TYPE_TXT, keys.get()) == "All OK");

  // A broken key directory refuses the reload and names the key and the file.
  const std::string bad = dir.write("keys/Ksigned.test.+013+00001.private", "Private-key-format: v1.3\n");
  dir.write("keys/Ksigned.test.+013+00001.key", "signed.test. IN DNSKEY 257 3 13 AAAA\n");
  auto refused = api.Post("/v1/reload");
  REQUIRE(refused);
  CHECK(refused->status == 400);
  CHECK(refused->body.find("zones[0].dnssec.keys: " + bad) != std::string::npos);
  test::LdnsPacket still = ask(rotor.endpoint(), "new.signed.test.", LDNS_RR_TYPE_TXT, true);
  CHECK(verify(ldns_pkt_answer(still.get()), LDNS_RR_TYPE_TXT, keys.get()) == "All OK");
}

// The .key files in DIR/keys other than `except`.
std::vector<std::string> key_files_in(const TempDir& dir, const std::string& except = "") {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "keys")) {
    if (entry.path().extension() == ".key" && entry.path().string() != except) out.push_back(entry.path().string());
  }
  return out;
}

// The answer's records of `type` at `name` with DO, asked until `done` holds
// for the reply (a reload publishes on the composer's thread, soon after).
test::LdnsPacket ask_until(const Endpoint& server, const std::string& name, ldns_rr_type type,
                           const std::function<bool(ldns_pkt*)>& done) {
  test::LdnsPacket reply = ask(server, name, type, true);
  for (int attempt = 0; attempt < 50 && !done(reply.get()); ++attempt) {
    std::this_thread::sleep_for(100ms);
    reply = ask(server, name, type, true);
  }
  return reply;
}

// The key tag of the one RRSIG over `type` in the answer, 0 when none.
uint16_t signing_tag(ldns_pkt* reply, ldns_rr_type type) {
  Split parts = split(ldns_pkt_answer(reply), type);
  return parts.signatures.empty() ? 0 : ldns_rdf2native_int16(ldns_rr_rrsig_keytag(parts.signatures[0]));
}

// The manual rollover of server/dnssec/README.md, step by step, checked as a
// validator that holds the parent's DS set of each step would check it: the
// DNSKEY RRset, the SOA and an A record verify against the keys that DS set
// names (only the old key's, then both, then only the new one's).
TEST_CASE("the manual key rollover keeps every answer verifying at each step") {
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "keys");
  Process first({ROTOR_BINARY, "keygen", "signed.test", "--dir", (dir.path() / "keys").string()});
  REQUIRE(first.wait_exit(10s) == 0);
  const std::string old_file = key_file_in(dir);
  const DnssecRrList old_key = key_from_file(old_file);
  const uint16_t old_tag = static_cast<uint16_t>(ldns_calc_keytag(ldns_rr_list_rr(old_key.get(), 0)));
  dir.write("signed.zone", kZone);
  const json config = {{"db", (dir.path() / "rotor.db").string()},
                       {"publish_interval", "0ms"},
                       {"zones", {{{"file", "signed.zone"}, {"dnssec", {{"keys", "keys"}}}}}}};
  RotorServer rotor({"--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());
  httplib::Client api("127.0.0.1", rotor.api_port());
  api.set_read_timeout(10s);
  const auto reload = [&] {
    auto reply = api.Post("/v1/reload");
    REQUIRE(reply);
    REQUIRE(reply->status == 200);
  };
  const auto all_verify = [&](const ldns_rr_list* trusted, const char* step) {
    CAPTURE(step);
    for (const auto& [name, type] : {std::pair{"signed.test.", LDNS_RR_TYPE_DNSKEY},
                                     std::pair{"signed.test.", LDNS_RR_TYPE_SOA},
                                     std::pair{"www.signed.test.", LDNS_RR_TYPE_A}}) {
      CAPTURE(name);
      test::LdnsPacket reply = ask(rotor.endpoint(), name, type, true);
      CHECK(verify(ldns_pkt_answer(reply.get()), type, trusted) == "All OK");
    }
  };
  all_verify(old_key.get(), "before");

  // 1. A second key, published beside the old one, which still signs.
  Process second({ROTOR_BINARY, "keygen", "signed.test", "--dir", (dir.path() / "keys").string(),
                  "--activate", "none"});
  REQUIRE(second.wait_exit(10s) == 0);
  const std::vector<std::string> new_files = key_files_in(dir, old_file);
  REQUIRE(new_files.size() == 1);
  const DnssecRrList new_key = key_from_file(new_files[0]);
  const uint16_t new_tag = static_cast<uint16_t>(ldns_calc_keytag(ldns_rr_list_rr(new_key.get(), 0)));
  REQUIRE(new_tag != old_tag);
  reload();
  test::LdnsPacket published = ask_until(rotor.endpoint(), "signed.test.", LDNS_RR_TYPE_DNSKEY,
                                         [](ldns_pkt* p) { return ldns_pkt_ancount(p) == 3; });
  CHECK(ldns_pkt_ancount(published.get()) == 3);  // two DNSKEYs and one RRSIG
  CHECK(signing_tag(published.get(), LDNS_RR_TYPE_DNSKEY) == old_tag);
  test::LdnsPacket cds = ask(rotor.endpoint(), "signed.test.", LDNS_RR_TYPE_CDS, true);
  CHECK(ldns_pkt_ancount(cds.get()) == 3);  // the parent may scan the new DS already
  all_verify(old_key.get(), "new key published, only the old DS at the parent");

  // 3. Both DS at the parent; the new key activated (now, after the old one's).
  std::this_thread::sleep_for(1100ms);
  const std::time_t now = std::time(nullptr);
  char activate[32];
  std::strftime(activate, sizeof activate, "Activate: %Y%m%d%H%M%S\n", std::gmtime(&now));
  std::string private_file = new_files[0];
  private_file.replace(private_file.size() - 4, 4, ".private");
  dir.write(std::filesystem::relative(private_file, dir.path()).string(), read_file(private_file) + activate);
  reload();
  test::LdnsPacket switched = ask_until(rotor.endpoint(), "www.signed.test.", LDNS_RR_TYPE_A, [&](ldns_pkt* p) {
    return signing_tag(p, LDNS_RR_TYPE_A) == new_tag;
  });
  CHECK(signing_tag(switched.get(), LDNS_RR_TYPE_A) == new_tag);
  DnssecRrList both(ldns_rr_list_new());
  ldns_rr_list_push_rr(both.get(), ldns_rr_clone(ldns_rr_list_rr(old_key.get(), 0)));
  ldns_rr_list_push_rr(both.get(), ldns_rr_clone(ldns_rr_list_rr(new_key.get(), 0)));
  all_verify(both.get(), "new key signs, both DS at the parent");
  all_verify(new_key.get(), "new key signs, checked against the new key alone");

  // 4. The old key removed: only the new one is published and signs.
  std::string old_private = old_file;
  old_private.replace(old_private.size() - 4, 4, ".private");
  std::filesystem::remove(old_file);
  std::filesystem::remove(old_private);
  reload();
  test::LdnsPacket retired = ask_until(rotor.endpoint(), "signed.test.", LDNS_RR_TYPE_DNSKEY,
                                       [](ldns_pkt* p) { return ldns_pkt_ancount(p) == 2; });
  CHECK(ldns_pkt_ancount(retired.get()) == 2);  // the new DNSKEY and its RRSIG
  all_verify(new_key.get(), "old key removed, only the new DS at the parent");
}

TEST_CASE("a zone whose negative answers outgrow dnssec.encoded_answers_mib is named by rotor check") {
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "keys");
  Process keygen({ROTOR_BINARY, "keygen", "signed.test", "--dir", (dir.path() / "keys").string()});
  REQUIRE(keygen.wait_exit(10s) == 0);
  // ~350 bytes of encoded NODATA a name: 6,000 names need about 2 MiB.
  std::string zone = kZone;
  for (int i = 0; i < 6000; ++i) zone += "h" + std::to_string(i) + " IN A 192.0.2.7\n";
  dir.write("signed.zone", zone);
  const auto check_with = [&](const json& dnssec, std::string& output) {
    json config = {{"db", (dir.path() / "rotor.db").string()},
                   {"zones", {{{"file", "signed.zone"}, {"dnssec", {{"keys", "keys"}}}}}}};
    if (!dnssec.is_null()) config["dnssec"] = dnssec;
    return run_to_exit({ROTOR_BINARY, "check", "--config", dir.write("rotor.json", config.dump(2))}, output,
                       60s);
  };
  std::string output;
  CHECK(check_with(json{{"encoded_answers_mib", 1}}, output) == 0);
  CAPTURE(output);
  CHECK(output.find("warning: zone signed.test.: the negative answers of ") != std::string::npos);
  CHECK(output.find("more than dnssec.encoded_answers_mib (1 MiB)") != std::string::npos);
  for (const json& enough : {json(), json{{"encoded_answers_mib", 0}}, json{{"encoded_answers_mib", 8}}}) {
    CAPTURE(enough.dump());
    std::string quiet;
    CHECK(check_with(enough, quiet) == 0);
    CAPTURE(quiet);
    CHECK(quiet.find("negative answers") == std::string::npos);
  }
}

TEST_SUITE_END();

}  // namespace
}  // namespace rotor::itest
