// A validating resolver agrees (issue 17): Debian's Unbound, started by the
// test on loopback with the zones' trust anchors and stub zones pointing at
// rotor, sets AD on what validates and answers SERVFAIL when a signature does
// not verify, while the same question with CD set still gets rotor's answer,
// so the SERVFAIL is the validator's.
// - Pre-signed zones (ldns-signzone, keys from rotor keygen): positive
//   answers, NODATA, NXDOMAIN (NSEC and NSEC3), a wildcard answer, a DS at a
//   delegation and the signed child below it, the proof that an insecure
//   delegation has no DS; SERVFAIL for a zone whose trust anchor names another
//   key and for one RRSIG with a character changed.
// - Zones rotor signs online ("dnssec": {"keys": DIR}): positive answers,
//   NODATA and nonexistent names by compact denial (RFC 9824), DNSKEY,
//   delegations, wildcard answers (one and two labels below the wildcard's
//   parent, proven by a white lie signed late), a wildcard NODATA, a
//   wildcard CNAME to a missing name (two NSECs signed late for one query),
//   the white lie's edges (a next closer label "\000", proven by the
//   encloser's NSEC, a zone's or an array's, and one of 63 octets whose
//   successor exists), RRSIG queries at a static and an array name (which
//   Unbound passes on unvalidated);
//   SERVFAIL for a zone anchored at another key. Arrays in such a zone (API and probed
//   instances, a CNAME into one) before and after a health change, and the
//   names above arrays that the zone file does not have (NODATA there, no
//   wildcard answer at or below them).
//
// Unbound never leaves loopback: every address outside 127.0.0.0/8 (and all
// of IPv6) is in do-not-query-address, and only names under the stub zones
// are asked. It runs without root (no user change, no chroot), in the
// foreground, in a temp directory, and is stopped by its PID.

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/support/backends.h"

TEST_SUITE_BEGIN("integration/dnssec_unbound");

namespace rotor::itest {
namespace {

constexpr const char* kUnbound = "/usr/sbin/unbound";
constexpr const char* kUnboundSignzone = "/usr/bin/ldns-signzone";
// Unbound listens here (no other test uses 127.0.0.81).
constexpr const char* kUnboundAddress = "127.0.0.81";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `rotor keygen ZONE --dir DIR`: the key's base path (DIR/K<zone>.+013+<tag>,
// what ldns-signzone takes) and the DS record it printed.
struct GeneratedKey {
  std::string base;
  std::string ds;
};

GeneratedKey rotor_keygen(const std::string& zone, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  Process keygen({ROTOR_BINARY, "keygen", zone, "--dir", dir.string()});
  const std::optional<std::string> line = keygen.wait_for_stdout_line(zone + ".\t", 10s);
  REQUIRE_MESSAGE((line && keygen.wait_exit(5s) == 0), "rotor keygen " << zone << " failed: " << keygen.stderr_text());
  std::smatch match;
  const std::string ds = *line + "\n";
  REQUIRE_MESSAGE(std::regex_search(ds, match, std::regex("\\tDS\\t(\\d+) 13 2 ")), "no DS printed: " << ds);
  char base[128];
  std::snprintf(base, sizeof base, "K%s.+013+%05lu", zone.c_str(), std::stoul(match[1]));
  return {(dir / base).string(), ds};
}

// ldns-signzone `flags` ZONEFILE KEY -> ZONEFILE.signed (its path).
std::string sign_with_ldns(const std::string& zone_file, const std::string& key_base,
                           const std::vector<std::string>& flags = {}) {
  std::vector<std::string> argv{kUnboundSignzone};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {"-f", zone_file + ".signed", zone_file, key_base});
  std::string output;
  REQUIRE_MESSAGE(run_to_exit(argv, output, 20s) == 0, "ldns-signzone failed: " << output);
  return zone_file + ".signed";
}

// Changes one character in the middle of the signature of the RRSIG at
// `owner` that covers `type`: the record stays well formed, the signature
// no longer verifies.
void flip_signature(const std::string& signed_file, const std::string& owner, const std::string& type) {
  std::istringstream in(slurp(signed_file));
  std::ostringstream out;
  std::string line;
  bool flipped = false;
  while (std::getline(in, line)) {
    if (!flipped && line.rfind(owner + "\t", 0) == 0 && line.find("\tRRSIG\t" + type + " ") != std::string::npos) {
      const size_t signature = line.find_last_of(' ') + 1;
      char& victim = line[signature + (line.size() - signature) / 2];
      victim = victim == 'A' ? 'B' : 'A';
      flipped = true;
    }
    out << line << '\n';
  }
  REQUIRE_MESSAGE(flipped, "no RRSIG " << type << " at " << owner << " in " << signed_file);
  std::ofstream(signed_file) << out.str();
}

// Unbound as a validating resolver on kUnboundAddress:port, every stub zone
// at rotor, the given DS (or DNSKEY) records as trust anchors.
class Unbound {
 public:
  Unbound(const TempDir& dir, const Endpoint& rotor, const std::vector<std::string>& stub_zones,
          const std::string& trust_anchors)
      : endpoint_{.host = kUnboundAddress, .port = free_port()} {
    const std::string anchors = dir.write("unbound-anchors", trust_anchors);
    std::ostringstream conf;
    conf << "server:\n"
         << "  verbosity: 1\n  use-syslog: no\n  logfile: \"\"\n  val-log-level: 2\n"
         << "  username: \"\"\n  chroot: \"\"\n  do-daemonize: no\n"
         << "  directory: \"" << dir.path().string() << "\"\n"
         << "  pidfile: \"" << (dir.path() / "unbound.pid").string() << "\"\n"
         << "  num-threads: 1\n  interface: " << kUnboundAddress << "\n  port: " << endpoint_.port << "\n"
         << "  outgoing-interface: " << kUnboundAddress << "\n  outgoing-range: 64\n"
         << "  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n"
         << "  module-config: \"validator iterator\"\n  trust-anchor-file: \"" << anchors << "\"\n"
         // rotor is on 127.0.0.1; every address outside 127.0.0.0/8 is refused
         // (the compiled-in root hints included), so nothing leaves loopback.
         << "  trust-anchor-signaling: no\n  do-not-query-localhost: no\n"
         // Unbound answers test. itself (RFC 6761) unless told not to.
         << "  local-zone: \"test.\" nodefault\n";
    for (const char* range : {"0.0.0.0/2", "64.0.0.0/3", "96.0.0.0/4", "112.0.0.0/5", "120.0.0.0/6",
                              "124.0.0.0/7", "126.0.0.0/8", "128.0.0.0/1", "::/0"}) {
      conf << "  do-not-query-address: " << range << "\n";
    }
    for (const std::string& zone : stub_zones) {
      conf << "stub-zone:\n  name: \"" << zone << "\"\n  stub-addr: " << rotor.host << "@" << rotor.port << "\n";
    }
    const std::string conf_file = dir.write("unbound.conf", conf.str());
    process_ = std::make_unique<Process>(std::vector<std::string>{kUnbound, "-d", "-c", conf_file});
    // False at once when unbound exits (a bad config): its stderr says why.
    started_ = process_->wait_for_stderr("start of service", 10s);
  }
  ~Unbound() {
    if (process_->exited()) return;
    process_->signal(SIGTERM);
    process_->wait_exit(5s);  // Process's destructor kills what is still there
  }
  Unbound(const Unbound&) = delete;
  Unbound& operator=(const Unbound&) = delete;

  bool started() const { return started_; }
  std::string log() const { return process_->stderr_text(); }
  Process& process() { return *process_; }

  // A stub resolver's question with DO (so AD is reported, RFC 6840 5.7),
  // CD when asked; nullopt when no reply came within 5 s.
  std::optional<Reply> ask(const std::string& name, const std::string& type, bool checking_disabled = false) {
    QueryOptions options;
    options.id = static_cast<uint16_t>(++queries_ * 7919);
    options.recursion_desired = true;
    options.edns = true;
    options.dnssec_ok = true;
    Bytes query = make_query(name, type, options);
    if (checking_disabled) query[3] |= 0x10;  // CD (RFC 4035 3.2.2)
    return exchange_udp(endpoint_, query, 5s);
  }

 private:
  Endpoint endpoint_;
  std::unique_ptr<Process> process_;
  bool started_ = false;
  unsigned queries_ = 0;
};

// What the validator said about one question, for CHECKs and their messages.
struct Verdict {
  bool replied = false;
  int rcode = -1;
  bool ad = false;
  std::vector<std::string> answer;  // canonical, TTLs and RRSIGs left out ("owner\tIN\tA\t...")
};

Verdict verdict_of(const std::optional<Reply>& reply) {
  Verdict verdict;
  if (!reply || !reply->packet) return verdict;
  verdict.replied = true;
  verdict.rcode = ldns_pkt_get_rcode(reply->packet.get());
  verdict.ad = ldns_pkt_ad(reply->packet.get());
  for (const std::string& record : canonical_section_text(*reply->packet, LDNS_SECTION_ANSWER)) {
    if (record.find("\tRRSIG\t") != std::string::npos) continue;
    const size_t ttl = record.find('\t');  // the resolver's TTLs count down
    verdict.answer.push_back(record.substr(0, ttl) + record.substr(record.find('\t', ttl + 1)));
  }
  return verdict;
}

std::ostream& operator<<(std::ostream& out, const Verdict& verdict) {
  if (!verdict.replied) return out << "no reply";
  out << "rcode " << verdict.rcode << (verdict.ad ? " AD" : " no AD") << " answer [";
  for (const std::string& record : verdict.answer) out << record << "; ";
  return out << "]";
}

constexpr int kNoError = LDNS_RCODE_NOERROR;
constexpr int kNxDomain = LDNS_RCODE_NXDOMAIN;
constexpr int kServFail = LDNS_RCODE_SERVFAIL;

const char* const kParentZone =
    "$ORIGIN valid.test.\n$TTL 300\n"
    "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "  IN NS ns1\nns1 IN A 192.0.2.1\n"
    "www IN A 192.0.2.10\n"
    "*.wild IN TXT \"wildcard\"\n"
    "child IN NS ns.child\nns.child IN A 192.0.2.53\n"
    "plain IN NS ns.plain\nns.plain IN A 192.0.2.54\n";
const char* const kChildZone =
    "$ORIGIN child.valid.test.\n$TTL 300\n"
    "@ IN SOA ns hostmaster 1 7200 3600 1209600 300\n"
    "  IN NS ns\nns IN A 192.0.2.53\nhost IN A 192.0.2.60\n";

std::string small_zone(const std::string& origin) {
  return "$ORIGIN " + origin + ".\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
         "  IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A 192.0.2.20\n";
}

struct Expected {
  const char* name;
  const char* type;
  int rcode;
  bool ad;
  const char* answer;  // a record the answer must hold, TTL left out ("" for none)
};

// Asks Unbound each question; a reply must have the rcode and AD expected,
// and the record expected, or no answer records (but on SERVFAIL or DNSKEY).
template <size_t N>
void check_verdicts(Unbound& unbound, const Expected (&questions)[N]) {
  for (const Expected& expected : questions) {
    const std::string question = std::string(expected.name) + " " + expected.type;
    CAPTURE(question);
    const Verdict verdict = verdict_of(unbound.ask(expected.name, expected.type));
    INFO("unbound: " << verdict);
    REQUIRE(verdict.replied);
    CHECK(verdict.rcode == expected.rcode);
    CHECK(verdict.ad == expected.ad);
    if (*expected.answer != '\0') {
      bool found = false;
      for (const std::string& record : verdict.answer) found = found || record.find(expected.answer) == 0;
      CHECK_MESSAGE(found, "expected " << std::string(expected.answer));
    } else if (expected.rcode != kServFail) {
      CHECK(verdict.answer.empty());
    }
  }
}

TEST_CASE("Unbound validates pre-signed zones served by rotor and rejects bad signatures") {
  if (::access(kUnbound, X_OK) != 0 || ::access(kUnboundSignzone, X_OK) != 0) {
    FAIL("unbound or ldns-signzone not installed: run tests/deps.sh");
  }
  TempDir dir;
  const auto keys = dir.path() / "keys";

  // valid.test (NSEC) delegates securely to child.valid.test (NSEC3, served
  // by the same rotor) and insecurely to plain.valid.test.
  const GeneratedKey parent_key = rotor_keygen("valid.test", keys);
  const GeneratedKey child_key = rotor_keygen("child.valid.test", keys);
  dir.write("valid.test.zone", std::string(kParentZone) + child_key.ds);
  dir.write("child.valid.test.zone", kChildZone);
  const std::string parent_file = sign_with_ldns((dir.path() / "valid.test.zone").string(), parent_key.base);
  const std::string child_file =
      sign_with_ldns((dir.path() / "child.valid.test.zone").string(), child_key.base, {"-n", "-t", "0"});

  // bogus.test: signed with one key, anchored at another.
  const GeneratedKey bogus_key = rotor_keygen("bogus.test", keys);
  const GeneratedKey other_key = rotor_keygen("bogus.test", dir.path() / "other-keys");
  dir.write("bogus.test.zone", small_zone("bogus.test"));
  const std::string bogus_file = sign_with_ldns((dir.path() / "bogus.test.zone").string(), bogus_key.base);

  // flipped.test: its anchor is right, one signature (www A) is not.
  const GeneratedKey flipped_key = rotor_keygen("flipped.test", keys);
  dir.write("flipped.test.zone", small_zone("flipped.test"));
  const std::string flipped_file = sign_with_ldns((dir.path() / "flipped.test.zone").string(), flipped_key.base);
  flip_signature(flipped_file, "www.flipped.test.", "A");

  RotorServer rotor({"--threads", "1", "--zone", "valid.test=" + parent_file, "--zone",
                     "child.valid.test=" + child_file, "--zone", "bogus.test=" + bogus_file, "--zone",
                     "flipped.test=" + flipped_file});
  REQUIRE(rotor.ready());

  Unbound unbound(dir, rotor.endpoint(), {"valid.test", "child.valid.test", "bogus.test", "flipped.test"},
                  parent_key.ds + other_key.ds + flipped_key.ds);
  REQUIRE_MESSAGE(unbound.started(), "unbound did not start; stderr:\n" << unbound.log());

  const Expected questions[] = {
      {"www.valid.test.", "A", kNoError, true, "www.valid.test.\tIN\tA\t192.0.2.10"},
      {"www.valid.test.", "AAAA", kNoError, true, ""},                  // NODATA, NSEC
      {"nothere.valid.test.", "A", kNxDomain, true, ""},               // NXDOMAIN, NSEC
      {"x.wild.valid.test.", "TXT", kNoError, true, "x.wild.valid.test.\tIN\tTXT\t\"wildcard\""},
      {"valid.test.", "DNSKEY", kNoError, true, "valid.test.\tIN\tDNSKEY\t257 3 13 "},
      {"child.valid.test.", "DS", kNoError, true, "child.valid.test.\tIN\tDS\t"},  // a secure cut
      {"plain.valid.test.", "DS", kNoError, true, ""},                 // an insecure cut: no DS, proven
      {"host.child.valid.test.", "A", kNoError, true, "host.child.valid.test.\tIN\tA\t192.0.2.60"},
      {"nothere.child.valid.test.", "A", kNxDomain, true, ""},         // NXDOMAIN, NSEC3
      {"host.child.valid.test.", "AAAA", kNoError, true, ""},          // NODATA, NSEC3
      {"ns1.flipped.test.", "A", kNoError, true, "ns1.flipped.test.\tIN\tA\t192.0.2.1"},
      {"www.bogus.test.", "A", kServFail, false, ""},
      {"www.flipped.test.", "A", kServFail, false, ""},
  };
  check_verdicts(unbound, questions);

  // The SERVFAILs are the validator's: with CD, Unbound passes rotor's answer on.
  for (const std::string name : {"www.bogus.test.", "www.flipped.test."}) {
    CAPTURE(name);
    const Verdict unchecked = verdict_of(unbound.ask(name, "A", /*checking_disabled=*/true));
    INFO("unbound: " << unchecked);
    CHECK(unchecked.rcode == kNoError);
    CHECK_FALSE(unchecked.ad);
    CHECK(unchecked.answer.size() == 1);
  }
  const std::string log = unbound.log();
  CHECK_MESSAGE(unbound.process().wait_for_stderr("validation failure <www.bogus.test. A IN>", 5s), unbound.log());
  CHECK_MESSAGE(unbound.process().wait_for_stderr("validation failure <www.flipped.test. A IN>", 5s), unbound.log());
  CHECK_MESSAGE(log.find("validation failure <www.valid.test.") == std::string::npos, log);
  CHECK(rotor.process().stderr_text().find("error") == std::string::npos);
}


// The A addresses in a verdict's answer (the CNAME, if any, left out).
std::set<std::string> addresses_of(const Verdict& verdict) {
  std::set<std::string> addresses;
  for (const std::string& record : verdict.answer) {
    if (record.find("\tIN\tA\t") != std::string::npos) addresses.insert(record.substr(record.rfind('\t') + 1));
  }
  return addresses;
}

const char* const kOnlineStaticZone =
    "$ORIGIN online.test.\n$TTL 300\n"
    "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "  IN NS ns1\nns1 IN A 192.0.2.1\n"
    "www IN A 192.0.2.10\n"
    "mail IN MX 10 www\n"
    "plain IN NS ns.plain\nns.plain IN A 192.0.2.54\n"
    "child IN NS ns.child\nns.child IN A 192.0.2.53\n";

const char* const kOnlineZone =
    "$ORIGIN online.test.\n$TTL 300\n"
    "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "  IN NS ns1\nns1 IN A 192.0.2.1\n"
    "www IN A 192.0.2.10\n"
    "alias IN CNAME web\n"
    "*.wild IN TXT \"wildcard\"\n"
    "wild IN MX 10 www\n"
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbc.wild IN TXT \"successor\"\n"
    "*.dangling IN CNAME nothere\n"
    "*.farm IN TXT \"farm\"\n"
    "toent IN CNAME eu\n"
    "plain IN NS ns.plain\nns.plain IN A 192.0.2.54\n";

const char* const kOnlineChildZone =
    "$ORIGIN child.online.test.\n$TTL 300\n"
    "@ IN SOA ns hostmaster 1 7200 3600 1209600 300\n"
    "  IN NS ns\nns IN A 192.0.2.53\nhost IN A 192.0.2.60\n";

nlohmann::json online_zone(const std::string& origin, const std::string& file, const std::filesystem::path& keys) {
  return {{"origin", origin}, {"file", file}, {"dnssec", {{"keys", keys.string()}}}};
}

TEST_CASE("Unbound validates zones rotor signs online and rejects one anchored at another key") {
  if (::access(kUnbound, X_OK) != 0) FAIL("unbound not installed: run tests/deps.sh");
  TempDir dir;
  // online.test delegates securely to child.online.test (signed online by
  // the same rotor, its DS in the parent) and insecurely to plain.online.test.
  const GeneratedKey online_key = rotor_keygen("online.test", dir.path() / "online-keys");
  const GeneratedKey child_key = rotor_keygen("child.online.test", dir.path() / "child-keys");
  // wrongkey.test: signed online with its key, anchored at another one.
  rotor_keygen("wrongkey.test", dir.path() / "wrongkey-keys");
  const GeneratedKey other_key = rotor_keygen("wrongkey.test", dir.path() / "other-keys");
  const nlohmann::json config = {
      {"db", (dir.path() / "rotor.db").string()},
      {"zones",
       {online_zone("online.test", dir.write("online.test.zone", std::string(kOnlineStaticZone) + child_key.ds),
                    dir.path() / "online-keys"),
        online_zone("child.online.test", dir.write("child.online.test.zone", kOnlineChildZone),
                    dir.path() / "child-keys"),
        online_zone("wrongkey.test", dir.write("wrongkey.test.zone", small_zone("wrongkey.test")),
                    dir.path() / "wrongkey-keys")}}};
  RotorServer rotor({"--threads", "1", "--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());
  Unbound unbound(dir, rotor.endpoint(), {"online.test", "child.online.test", "wrongkey.test"},
                  online_key.ds + other_key.ds);
  REQUIRE_MESSAGE(unbound.started(), "unbound did not start; stderr:\n" << unbound.log());

  // Denial is compact (RFC 9824): NODATA proven by the name's own NSEC.
  const Expected questions[] = {
      {"www.online.test.", "A", kNoError, true, "www.online.test.\tIN\tA\t192.0.2.10"},
      {"www.online.test.", "AAAA", kNoError, true, ""},                  // NODATA
      {"online.test.", "TXT", kNoError, true, ""},                       // NODATA at the apex
      {"online.test.", "DNSKEY", kNoError, true, "online.test.\tIN\tDNSKEY\t257 3 13 "},
      {"mail.online.test.", "MX", kNoError, true, "mail.online.test.\tIN\tMX\t10 www.online.test."},
      {"child.online.test.", "DS", kNoError, true, "child.online.test.\tIN\tDS\t"},  // a secure cut
      {"plain.online.test.", "DS", kNoError, true, ""},                  // an insecure cut: no DS, proven
      {"host.child.online.test.", "A", kNoError, true, "host.child.online.test.\tIN\tA\t192.0.2.60"},
      {"host.child.online.test.", "AAAA", kNoError, true, ""},
      {"www.wrongkey.test.", "A", kServFail, false, ""},
  };
  check_verdicts(unbound, questions);
  const Verdict unchecked = verdict_of(unbound.ask("www.wrongkey.test.", "A", /*checking_disabled=*/true));
  INFO("unbound: " << unchecked);
  CHECK(unchecked.rcode == kNoError);
  CHECK(unchecked.answer.size() == 1);
  const std::string log = unbound.log();
  CHECK_MESSAGE(unbound.process().wait_for_stderr("validation failure <www.wrongkey.test. A IN>", 5s), unbound.log());
  CHECK_MESSAGE(log.find("validation failure <www.online.test.") == std::string::npos, log);
  CHECK_MESSAGE(log.find("validation failure <host.child.online.test.") == std::string::npos, log);
  CHECK(rotor.process().stderr_text().find("error") == std::string::npos);
}

TEST_CASE("Unbound validates zones rotor signs online with arrays before and after a change") {
  if (::access(kUnbound, X_OK) != 0) FAIL("unbound not installed: run tests/deps.sh");
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  const GeneratedKey online_key = rotor_keygen("online.test", dir.path() / "online-keys");
  // wrongkey.test: signed online with its key, anchored at another one.
  rotor_keygen("wrongkey.test", dir.path() / "wrongkey-keys");
  const GeneratedKey other_key = rotor_keygen("wrongkey.test", dir.path() / "other-keys");
  // probed.online.test: health from rotor's probes of two web backends.
  const probes::testing::HttpBackend::Reply ok{200, "ok", ""};
  auto backend_84 = std::make_unique<probes::testing::HttpBackend>(ok, "127.0.0.84");
  const uint16_t backend_port = backend_84->port();
  auto backend_85 = std::make_unique<probes::testing::HttpBackend>(ok, "127.0.0.85", backend_port);
  const nlohmann::json config = {
      {"db", (dir.path() / "rotor.db").string()},
      {"publish_interval", "0ms"},
      {"zones",
       {{{"origin", "online.test"},
         {"file", dir.write("online.test.zone", kOnlineZone)},
         {"dnssec", {{"keys", (dir.path() / "online-keys").string()}}}},
        {{"origin", "wrongkey.test"},
         {"file", dir.write("wrongkey.test.zone", small_zone("wrongkey.test"))},
         {"dnssec", {{"keys", (dir.path() / "wrongkey-keys").string()}}}}}},
      {"arrays",
       {{{"name", "probed.online.test"},
         {"ttl", 1},
         {"check", {{"type", "http"}, {"port", backend_port}, {"path", "/health"}, {"interval", "200ms"},
                    {"timeout", "100ms"}, {"rise", 1}, {"fall", 1}}},
         {"instances", {{{"address", "127.0.0.84"}}, {{"address", "127.0.0.85"}}}}},
        // An array at a wildcard's parent: its NSEC is the name's.
        {{"name", "farm.online.test"}, {"instances", {{{"address", "127.0.0.86"}}}}},
        // Arrays below names the zone file does not have: eu.online.test.
        // and ent.wild.online.test. exist only through them.
        {{"name", "web.eu.online.test"}, {"instances", {{{"address", "127.0.0.87"}}}}},
        {{"name", "foo.ent.wild.online.test"}, {"instances", {{{"address", "127.0.0.88"}}}}}}}};
  RotorServer rotor({"--threads", "1", "--config", dir.write("rotor.json", config.dump(2))});
  REQUIRE(rotor.ready());
  const int api_port = rotor.api_port();
  REQUIRE(api_port > 0);
  httplib::Client api("127.0.0.1", api_port);
  api.set_read_timeout(5s);

  // web.online.test: two IPv4 instances, no check (never probed: answered
  // until changed), a 1 s TTL so that Unbound asks rotor again soon.
  auto created = api.Put("/v1/arrays/web.online.test", R"({"ttl": 1})", "application/json");
  REQUIRE(created);
  REQUIRE_MESSAGE(created->status == 201, created->body);
  std::vector<int64_t> ids;
  for (const char* address : {"127.0.0.82", "127.0.0.83"}) {
    auto added = api.Post("/v1/arrays/web.online.test/instances", nlohmann::json{{"address", address}}.dump(),
                          "application/json");
    REQUIRE(added);
    REQUIRE_MESSAGE(added->status == 201, added->body);
    ids.push_back(nlohmann::json::parse(added->body)["id"].get<int64_t>());
  }
  // Published within the publish interval (0 ms here); the API has committed it.
  const std::set<std::string> both = {"127.0.0.82", "127.0.0.83"};
  bool published = false;
  for (int attempt = 0; attempt < 50 && !published; ++attempt) {
    published = answered_addresses(rotor.endpoint(), "web.online.test.") == both;
    if (!published) std::this_thread::sleep_for(20ms);
  }
  REQUIRE(published);

  Unbound unbound(dir, rotor.endpoint(), {"online.test", "wrongkey.test"}, online_key.ds + other_key.ds);
  REQUIRE_MESSAGE(unbound.started(), "unbound did not start; stderr:\n" << unbound.log());

  const std::string kLongLabel = std::string(63, 'b') + ".wild.online.test.";
  const std::string kLongLabelAnswer = kLongLabel + "\tIN\tTXT\t\"wildcard\"";
  const std::string kSuccessor = std::string(62, 'b') + "c.wild.online.test.";
  const std::string kSuccessorAnswer = kSuccessor + "\tIN\tTXT\t\"successor\"";
  // Compact denial (RFC 9824): a missing name is NODATA (NOERROR) proven by
  // one NSEC with NXNAME, which a validator takes without the CO flag.
  const Expected questions[] = {
      {"www.online.test.", "A", kNoError, true, "www.online.test.\tIN\tA\t192.0.2.10"},
      {"www.online.test.", "AAAA", kNoError, true, ""},                  // NODATA
      {"nothere.online.test.", "A", kNoError, true, ""},                 // compact denial
      {"deep.nothere.online.test.", "AAAA", kNoError, true, ""},
      // Wildcard expansions: the answer with the wildcard's RRSIG and the
      // NSEC covering the next closer name, signed late (RFC 4470 style).
      {"x.wild.online.test.", "TXT", kNoError, true, "x.wild.online.test.\tIN\tTXT\t\"wildcard\""},
      {"y.x.wild.online.test.", "TXT", kNoError, true, "y.x.wild.online.test.\tIN\tTXT\t\"wildcard\""},
      {"x.wild.online.test.", "A", kNoError, true, ""},                  // a wildcard NODATA
      // The white lie's edges: a next closer label "\000", proven by the
      // one NSEC of wild.online.test. (its MX in the bitmap), which its
      // NODATA, asked first so that Unbound has it cached, carries too; one
      // of 63 octets (up to the label's successor, a name of the zone).
      {"wild.online.test.", "A", kNoError, true, ""},
      {"\\000.wild.online.test.", "TXT", kNoError, true, "\\000.wild.online.test.\tIN\tTXT\t\"wildcard\""},
      {"x.\\000.wild.online.test.", "TXT", kNoError, true, "x.\\000.wild.online.test.\tIN\tTXT\t\"wildcard\""},
      // The same at an array name: the array's NSEC.
      {"farm.online.test.", "AAAA", kNoError, true, ""},
      {"\\000.farm.online.test.", "TXT", kNoError, true, "\\000.farm.online.test.\tIN\tTXT\t\"farm\""},
      {kLongLabel.c_str(), "TXT", kNoError, true, kLongLabelAnswer.c_str()},
      {kSuccessor.c_str(), "TXT", kNoError, true, kSuccessorAnswer.c_str()},
      {"q.dangling.online.test.", "A", kNoError, true, "q.dangling.online.test.\tIN\tCNAME\tnothere.online.test."},
      {"online.test.", "DNSKEY", kNoError, true, "online.test.\tIN\tDNSKEY\t257 3 13 "},
      {"plain.online.test.", "DS", kNoError, true, ""},                  // an insecure cut: no DS
      {"web.online.test.", "A", kNoError, true, "web.online.test.\tIN\tA\t127.0.0.8"},
      {"web.online.test.", "AAAA", kNoError, true, ""},                  // an array's NODATA
      {"alias.online.test.", "A", kNoError, true, "alias.online.test.\tIN\tCNAME\tweb.online.test."},
      // Names above arrays exist (empty non-terminals the zone file does
      // not have): a NODATA proven by the name's NSEC without NXNAME, asked
      // before the array below it; no wildcard answer at or below ent.wild,
      // the closest encloser of what is below it (a compact denial there).
      {"eu.online.test.", "A", kNoError, true, ""},
      {"web.eu.online.test.", "A", kNoError, true, "web.eu.online.test.\tIN\tA\t127.0.0.87"},
      {"toent.online.test.", "A", kNoError, true, "toent.online.test.\tIN\tCNAME\teu.online.test."},
      {"ent.wild.online.test.", "TXT", kNoError, true, ""},
      {"bar.ent.wild.online.test.", "TXT", kNoError, true, ""},
      {"foo.ent.wild.online.test.", "A", kNoError, true, "foo.ent.wild.online.test.\tIN\tA\t127.0.0.88"},
      {"www.wrongkey.test.", "A", kServFail, false, ""},
  };
  check_verdicts(unbound, questions);
  // RRSIG queries: Unbound passes the answer on without validating it (no
  // AD, at a static name too), so this checks that it is an answer, with the
  // signature of the A RRset: at an array name, that of its current answer.
  for (const char* name : {"www.online.test.", "web.online.test.", "farm.online.test."}) {
    CAPTURE(name);
    const std::optional<Reply> reply = unbound.ask(name, "RRSIG");
    REQUIRE(reply);
    REQUIRE(reply->packet);
    CHECK(ldns_pkt_get_rcode(reply->packet.get()) == LDNS_RCODE_NOERROR);
    size_t covering_a = 0;
    ldns_rr_list* answer = ldns_pkt_answer(reply->packet.get());
    for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
      ldns_rr* rr = ldns_rr_list_rr(answer, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG &&
          ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == LDNS_RR_TYPE_A) {
        ++covering_a;
      }
    }
    CHECK(covering_a == 1);
  }
  const Verdict web = verdict_of(unbound.ask("web.online.test.", "A"));
  CHECK(addresses_of(web) == both);
  const Verdict alias = verdict_of(unbound.ask("alias.online.test.", "A"));
  CHECK(alias.ad);
  CHECK(addresses_of(alias) == both);

  // A change: 127.0.0.83 disabled. Unbound asks again once the 1 s TTL has
  // run out; the new answer, signed by rotor since the change, validates.
  auto disabled = api.Patch("/v1/arrays/web.online.test/instances/" + std::to_string(ids[1]),
                            R"({"state": "disabled"})", "application/json");
  REQUIRE(disabled);
  REQUIRE_MESSAGE(disabled->status == 200, disabled->body);
  const std::set<std::string> one = {"127.0.0.82"};
  Verdict after;
  for (int attempt = 0; attempt < 50; ++attempt) {
    after = verdict_of(unbound.ask("web.online.test.", "A"));
    if (!after.replied || after.rcode != kNoError || addresses_of(after) == one) break;
    std::this_thread::sleep_for(100ms);
  }
  INFO("unbound: " << after);
  CHECK(after.rcode == kNoError);
  CHECK(after.ad);
  CHECK(addresses_of(after) == one);
  const Verdict alias_after = verdict_of(unbound.ask("alias.online.test.", "A"));
  CHECK(alias_after.ad);
  CHECK(addresses_of(alias_after) == one);

  // And back: the set signed before is served again.
  auto enabled = api.Patch("/v1/arrays/web.online.test/instances/" + std::to_string(ids[1]),
                           R"({"state": "enabled"})", "application/json");
  REQUIRE(enabled);
  REQUIRE(enabled->status == 200);
  Verdict back;
  for (int attempt = 0; attempt < 50; ++attempt) {
    back = verdict_of(unbound.ask("web.online.test.", "A"));
    if (!back.replied || back.rcode != kNoError || addresses_of(back) == both) break;
    std::this_thread::sleep_for(100ms);
  }
  INFO("unbound: " << back);
  CHECK(back.ad);
  CHECK(addresses_of(back) == both);

  // A health change from the probes: 127.0.0.85's backend stops, the probe
  // takes it down, rotor signs the new answer, Unbound validates it.
  const std::set<std::string> probed_both = {"127.0.0.84", "127.0.0.85"};
  const auto probed_until = [&](const std::set<std::string>& wanted) {
    Verdict verdict;
    for (int attempt = 0; attempt < 50; ++attempt) {
      verdict = verdict_of(unbound.ask("probed.online.test.", "A"));
      if (!verdict.replied || verdict.rcode != kNoError || addresses_of(verdict) == wanted) break;
      std::this_thread::sleep_for(100ms);
    }
    return verdict;
  };
  const Verdict probed_up = probed_until(probed_both);
  INFO("unbound: " << probed_up);
  CHECK(probed_up.ad);
  CHECK(addresses_of(probed_up) == probed_both);
  backend_85.reset();
  const Verdict probed_down = probed_until({"127.0.0.84"});
  INFO("unbound: " << probed_down);
  CHECK(probed_down.ad);
  CHECK(addresses_of(probed_down) == std::set<std::string>{"127.0.0.84"});

  const std::string log = unbound.log();
  CHECK_MESSAGE(unbound.process().wait_for_stderr("validation failure <www.wrongkey.test. A IN>", 5s), unbound.log());
  CHECK_MESSAGE(log.find("validation failure <www.online.test.") == std::string::npos, log);
  CHECK_MESSAGE(log.find("validation failure <web.online.test.") == std::string::npos, log);
  CHECK_MESSAGE(log.find("validation failure <probed.online.test.") == std::string::npos, log);
  CHECK(rotor.process().stderr_text().find("error") == std::string::npos);
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
