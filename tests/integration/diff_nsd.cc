// Differential test: rotor and NSD serve the same zones (tests/data/diff) and
// must give the same answers to every query of tests/data/diff/queries.txt.
// NSD runs with `minimal-responses: yes`, which matches rotor's minimal
// answers (no NS RRset in the authority section of positive answers).
// The additional section is compared only when the authority section holds a
// delegation's NS RRset: glue is required there (RFC 9471). Elsewhere it is
// optional (RFC 2181 5.4.1) and NSD's choice depends on its own heuristics
// (with minimal-responses it adds the apex NS addresses to `NS` answers only).

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "tests/integration/harness.h"

TEST_SUITE_BEGIN("integration/diff_nsd");

namespace rotor::itest {
namespace {

constexpr const char* kNsdBinary = "/usr/sbin/nsd";
const std::string kDiffData = std::string(ROTOR_TEST_DATA) + "/diff";

struct ServedZone {
  const char* origin;
  const char* file;
};
constexpr ServedZone kZones[] = {
    {"example.test", "example.test.zone"},
    {"child.example.test", "child.example.test.zone"},
    {"example", "rfc4592.example.zone"},
    {"2.0.192.in-addr.arpa", "2.0.192.in-addr.arpa.zone"},
};

struct CorpusQuery {
  std::string name;
  std::string type;
  bool tcp = false;
  bool any = false;  // RFC 8482: the server picks the RRset; compare rcode and AA only
  bool rd = false;   // recursion desired: must be copied, and RA stays clear
  bool dnssec_ok = false;
  int line = 0;
};

// The parts of a response the differential test compares, normalized:
// owner and rdata names lower-cased, every section as a sorted list of RRs.
struct ResponseSummary {
  int rcode = -1;
  bool aa = false;
  bool tc = false;
  bool rd = false;  // copied from the query
  bool ra = false;  // never set by an authoritative-only server
  std::vector<std::string> answer;
  std::vector<std::string> authority;
  std::vector<std::string> additional;  // without OPT
  bool has_opt = false;
  bool dnssec_ok = false;       // DO in the reply's OPT (RFC 3225: copied from the query)
  uint16_t udp_payload = 0;     // the reply's advertised UDP size
};

ResponseSummary summarize(const ldns_pkt& packet) {
  ResponseSummary summary;
  summary.rcode = ldns_pkt_get_rcode(&packet);
  summary.aa = ldns_pkt_aa(&packet);
  summary.tc = ldns_pkt_tc(&packet);
  summary.rd = ldns_pkt_rd(&packet);
  summary.ra = ldns_pkt_ra(&packet);
  summary.answer = canonical_section_text(packet, LDNS_SECTION_ANSWER);
  summary.authority = canonical_section_text(packet, LDNS_SECTION_AUTHORITY);
  summary.additional = canonical_section_text(packet, LDNS_SECTION_ADDITIONAL);
  summary.has_opt = ldns_pkt_edns(&packet);
  if (summary.has_opt) {
    summary.dnssec_ok = ldns_pkt_edns_do(&packet);
    summary.udp_payload = ldns_pkt_edns_udp_size(&packet);
  }
  return summary;
}

std::string rcode_name(int rcode) {
  ldns_lookup_table* entry = ldns_lookup_by_id(ldns_rcodes, rcode);
  return entry != nullptr ? entry->name : std::to_string(rcode);
}

void append_section(std::ostringstream& out, const char* title, const std::vector<std::string>& rrs) {
  out << "  " << title << ":";
  if (rrs.empty()) out << " (empty)";
  out << "\n";
  for (const std::string& rr : rrs) out << "    " << rr << "\n";
}

void compare_section(std::ostringstream& out, const char* title, const std::vector<std::string>& expected,
                     const std::vector<std::string>& actual) {
  std::vector<std::string> missing;
  std::vector<std::string> extra;
  std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(),
                      std::back_inserter(missing));
  std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  for (const std::string& rr : missing) out << "  " << title << " - " << rr << "\n";
  for (const std::string& rr : extra) out << "  " << title << " + " << rr << "\n";
}

std::string to_string(const ResponseSummary& summary) {
  std::ostringstream out;
  out << "  rcode " << rcode_name(summary.rcode) << (summary.aa ? " aa" : "")
      << (summary.tc ? " tc" : "") << (summary.rd ? " rd" : "") << (summary.ra ? " ra" : "")
      << (summary.dnssec_ok ? " do" : "") << (summary.has_opt ? " opt" : "") << "\n";
  append_section(out, "answer", summary.answer);
  append_section(out, "authority", summary.authority);
  append_section(out, "additional", summary.additional);
  return out.str();
}

// Empty when the two agree on rcode, AA, TC, RD, RA, answer and authority (as sets),
// and on additional when `with_additional`; otherwise a readable description
// of every difference.
std::string compare_responses(const ResponseSummary& expected, const ResponseSummary& actual,
                              bool with_additional = false) {
  std::ostringstream out;
  if (expected.rcode != actual.rcode) {
    out << "  rcode: " << rcode_name(expected.rcode) << " vs " << rcode_name(actual.rcode) << "\n";
  }
  if (expected.aa != actual.aa) out << "  aa: " << expected.aa << " vs " << actual.aa << "\n";
  if (expected.tc != actual.tc) out << "  tc: " << expected.tc << " vs " << actual.tc << "\n";
  if (expected.rd != actual.rd) out << "  rd: " << expected.rd << " vs " << actual.rd << "\n";
  if (expected.ra != actual.ra) out << "  ra: " << expected.ra << " vs " << actual.ra << "\n";
  auto unique = [](std::vector<std::string> rrs) {
    rrs.erase(std::unique(rrs.begin(), rrs.end()), rrs.end());
    return rrs;
  };
  compare_section(out, "answer", unique(expected.answer), unique(actual.answer));
  compare_section(out, "authority", unique(expected.authority), unique(actual.authority));
  if (with_additional) {
    compare_section(out, "additional", unique(expected.additional), unique(actual.additional));
  }
  return out.str();
}

std::vector<CorpusQuery> load_corpus() {
  std::ifstream in(kDiffData + "/queries.txt");
  REQUIRE_MESSAGE(in, "cannot read queries.txt");
  std::vector<CorpusQuery> queries;
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (text.empty() || text[0] == '#') continue;
    std::istringstream words(text);
    CorpusQuery query;
    query.line = line;
    words >> query.name >> query.type;
    std::string flag;
    while (words >> flag) {
      if (flag == "tcp") query.tcp = true;
      else if (flag == "any") query.any = true;
      else if (flag == "rd") query.rd = true;
      else if (flag == "do") query.dnssec_ok = true;
      else FAIL("queries.txt:" << line << ": unknown flag " << flag);
    }
    queries.push_back(query);
  }
  return queries;
}

std::string nsd_config(const TempDir& dir, uint16_t port,
                       const std::vector<std::pair<std::string, std::string>>& zones) {
  const std::string base = dir.path().string();
  std::ostringstream conf;
  conf << "server:\n"
       << "  ip-address: 127.0.0.1@" << port << "\n"
       << "  username: \"\"\n"
       << "  chroot: \"\"\n"
       << "  pidfile: \"" << base << "/nsd.pid\"\n"
       << "  zonesdir: \"" << base << "\"\n"
       << "  database: \"\"\n"
       << "  zonelistfile: \"" << base << "/zone.list\"\n"
       << "  xfrdfile: \"" << base << "/xfrd.state\"\n"
       << "  xfrdir: \"" << base << "\"\n"
       << "  server-count: 1\n"
       << "  rrl-ratelimit: 0\n"
       << "  minimal-responses: yes\n"
       << "  verbosity: 1\n"
       << "remote-control:\n"
       << "  control-enable: no\n";
  for (const auto& [origin, file] : zones) {
    conf << "zone:\n  name: " << origin << "\n  zonefile: \"" << file << "\"\n";
  }
  return conf.str();
}

// NSD prints nothing when ready; it is ready once it answers.
bool wait_until_answering(const Endpoint& server, const std::string& origin = "example.test.") {
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (exchange_udp(server, make_query(origin, "SOA", resolver_options()), 200ms)) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

bool has_delegation(const ResponseSummary& summary) {
  return std::any_of(summary.authority.begin(), summary.authority.end(),
                     [](const std::string& rr) { return rr.find("\tNS\t") != std::string::npos; });
}

enum class Transport { udp_edns, udp_plain, tcp };

const char* transport_name(Transport transport) {
  switch (transport) {
    case Transport::udp_edns: return "udp+edns1232";
    case Transport::udp_plain: return "udp";
    case Transport::tcp: return "tcp+edns1232";
  }
  return "?";
}

std::optional<Reply> ask(const Endpoint& server, const CorpusQuery& query, Transport transport) {
  QueryOptions options = resolver_options();
  options.edns = transport != Transport::udp_plain;
  options.recursion_desired = query.rd;
  options.dnssec_ok = query.dnssec_ok && options.edns;
  std::vector<uint8_t> wire = make_query(query.name, query.type, options);
  if (transport == Transport::tcp) return exchange_tcp(server, wire);
  return exchange_udp(server, wire);
}

struct Comparison {
  int compared = 0;
  int differences = 0;
  std::string report;
};

// Asks both servers every query of `corpus` (UDP with and without EDNS, and
// TCP when the query says so) and describes every difference.
Comparison compare_corpus(const Endpoint& nsd_endpoint, const Endpoint& rotor_endpoint,
                          const std::vector<CorpusQuery>& corpus) {
  std::ostringstream report;
  int compared = 0;
  int differences = 0;
  for (const CorpusQuery& query : corpus) {
    std::vector<Transport> transports{Transport::udp_edns, Transport::udp_plain};
    if (query.tcp) transports.push_back(Transport::tcp);
    for (Transport transport : transports) {
      ++compared;
      std::optional<Reply> expected = ask(nsd_endpoint, query, transport);
      std::optional<Reply> actual = ask(rotor_endpoint, query, transport);
      std::string heading = (query.line > 0 ? "queries.txt:" + std::to_string(query.line) + ": " : "") +
                            query.name + " " + query.type + (query.dnssec_ok ? " +do" : "") + " over " +
                            transport_name(transport) + "\n";
      if (!expected || !expected->packet) {
        ++differences;
        report << heading << "  NSD gave no parsable answer\n";
        continue;
      }
      if (!actual || !actual->packet) {
        ++differences;
        report << heading << "  rotor gave " << (actual ? "an unparsable answer" : "no answer") << "\n";
        continue;
      }
      ResponseSummary nsd_summary = summarize(*expected->packet);
      ResponseSummary rotor_summary = summarize(*actual->packet);
      std::string diff;
      if (query.any) {
        if (nsd_summary.rcode != rotor_summary.rcode || nsd_summary.aa != rotor_summary.aa ||
            nsd_summary.answer.empty() != rotor_summary.answer.empty()) {
          diff = "  rcode/aa/answer presence differ\n";
        }
      } else {
        diff = compare_responses(nsd_summary, rotor_summary, has_delegation(nsd_summary));
      }
      if (nsd_summary.has_opt != rotor_summary.has_opt) {
        diff += "  OPT in reply: NSD " + std::to_string(nsd_summary.has_opt) + ", rotor " +
                std::to_string(rotor_summary.has_opt) + "\n";
      } else if (nsd_summary.dnssec_ok != rotor_summary.dnssec_ok ||
                 nsd_summary.udp_payload != rotor_summary.udp_payload) {
        diff += "  OPT DO/payload: NSD " + std::to_string(nsd_summary.dnssec_ok) + "/" +
                std::to_string(nsd_summary.udp_payload) + ", rotor " + std::to_string(rotor_summary.dnssec_ok) +
                "/" + std::to_string(rotor_summary.udp_payload) + "\n";
      }
      if (diff.empty()) continue;
      ++differences;
      report << heading << diff << " NSD:\n" << to_string(nsd_summary) << " rotor:\n"
             << to_string(rotor_summary) << "\n";
    }
  }
  return {compared, differences, report.str()};
}

TEST_CASE("rotor answers every corpus query like NSD") {
  if (::access(kNsdBinary, X_OK) != 0) {
    MESSAGE("NSD not installed at " << kNsdBinary << "; differential test skipped");
    return;
  }
  std::vector<CorpusQuery> corpus = load_corpus();
  REQUIRE(corpus.size() >= 200);

  TempDir dir;
  Endpoint nsd_endpoint{.host = "127.0.0.1", .port = free_port()};
  std::vector<std::pair<std::string, std::string>> nsd_zones;
  for (const ServedZone& zone : kZones) nsd_zones.emplace_back(zone.origin, kDiffData + "/" + zone.file);
  std::string conf = dir.write("nsd.conf", nsd_config(dir, nsd_endpoint.port, nsd_zones));
  Process nsd({kNsdBinary, "-d", "-c", conf});
  REQUIRE_MESSAGE(wait_until_answering(nsd_endpoint), "NSD does not answer; stderr:\n" << nsd.stderr_text());

  std::vector<std::string> rotor_args{"--threads", "1"};
  for (const ServedZone& zone : kZones) {
    rotor_args.push_back("--zone");
    rotor_args.push_back(std::string(zone.origin) + "=" + kDiffData + "/" + zone.file);
  }
  RotorServer rotor(rotor_args);
  REQUIRE(rotor.ready());

  const Comparison result = compare_corpus(nsd_endpoint, rotor.endpoint(), corpus);
  const int compared = result.compared;
  const int differences = result.differences;
  std::ostringstream report;
  report << result.report;
  // Guards against a comparison that sees nothing: two different answers
  // from NSD itself must differ, and a known answer must have its records.
  std::optional<Reply> www = ask(nsd_endpoint, {.name = "www.example.test.", .type = "A"}, Transport::udp_edns);
  std::optional<Reply> missing = ask(nsd_endpoint, {.name = "nothere.example.test.", .type = "A"}, Transport::udp_edns);
  REQUIRE((www && www->packet && missing && missing->packet));
  CHECK(summarize(*www->packet).answer.size() == 3);
  std::string self_diff = compare_responses(summarize(*www->packet), summarize(*missing->packet));
  CHECK(self_diff.find("rcode: NOERROR vs NXDOMAIN") != std::string::npos);
  CHECK(self_diff.find("answer - www.example.test.\t3600\tIN\tA\t192.0.2.80") != std::string::npos);

  MESSAGE("compared " << compared << " exchanges, " << differences << " differ");
  if (differences != 0) {
    FAIL_CHECK(differences << " of " << compared << " exchanges differ from NSD:\n" << report.str());
  }
  CHECK(rotor.process().stderr_text().find("error") == std::string::npos);
}

// The signed differential test: tests/data/diff/signed.zone.in signed at test
// time by ldns-signzone with a fresh ECDSA key, as an NSEC zone, an NSEC3
// zone (salt, iterations) and an NSEC3 opt-out zone, served by NSD and rotor
// from the same signed files, asked plain, EDNS and DO queries.
constexpr const char* kKeygen = "/usr/bin/ldns-keygen";
constexpr const char* kSignzone = "/usr/bin/ldns-signzone";

struct SignedVariant {
  const char* origin;
  std::vector<std::string> flags;  // ldns-signzone's denial options
};

std::string run_tool(const std::vector<std::string>& argv, const TempDir& dir) {
  Process tool(argv, dir.path().string());
  const std::optional<int> code = tool.wait_exit(20s);
  REQUIRE_MESSAGE((code && *code == 0), argv[0] << " failed: " << tool.stderr_text());
  return tool.stdout_text();
}

// Signs `origin`'s copy of the template; returns the signed file's path.
std::string sign_zone(const TempDir& dir, const SignedVariant& variant) {
  std::ifstream in(kDiffData + "/signed.zone.in");
  REQUIRE_MESSAGE(in, "cannot read signed.zone.in");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string origin = variant.origin;
  const std::string unsigned_path = dir.write(origin + ".zone", "$ORIGIN " + origin + ".\n" + text);
  run_tool({kKeygen, "-a", "ECDSAP256SHA256", "-k", origin}, dir);
  std::string key;  // ldns-keygen's K<origin>.+013+<tag>, without .private
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("K" + origin + ".+", 0) == 0 && entry.path().extension() == ".private") {
      key = (dir.path() / entry.path().stem()).string();
    }
  }
  REQUIRE_MESSAGE(!key.empty(), "ldns-keygen wrote no key for " << origin);
  const std::string signed_path = dir.path().string() + "/" + origin + ".signed";
  std::vector<std::string> argv{kSignzone};
  argv.insert(argv.end(), variant.flags.begin(), variant.flags.end());
  argv.insert(argv.end(), {"-f", signed_path, unsigned_path, key});
  run_tool(argv, dir);
  return signed_path;
}

// The first `count` NSEC3 owner names of a signed zone file.
std::vector<std::string> hashed_owners(const std::string& path, size_t count) {
  std::ifstream in(path);
  std::vector<std::string> owners;
  std::string line;
  while (owners.size() < count && std::getline(in, line)) {
    if (line.find("\tNSEC3\t") != std::string::npos) owners.push_back(line.substr(0, line.find('\t')));
  }
  return owners;
}

std::vector<CorpusQuery> signed_corpus(const std::string& origin, const std::vector<std::string>& hashed) {
  static const char* const kNames[] = {
      "@", "www", "nothere", "deep.nothere", "ent", "b.ent", "a.b.ent", "x.a.b.ent", "wild",
      "x.wild", "x.y.wild", "sub.wild", "*.wild", "alias", "chain", "dangling", "towild", "mail",
      "sec", "host.sec", "ns.sec", "insec", "host.insec", "ns.insec", "ent2", "insec.ent2",
      "deep.insec.ent2", "x.deep.insec.ent2", "short", "zzz", "0", "ns1", "big"};
  static const char* const kTypes[] = {"A", "AAAA", "MX", "TXT", "NS", "SOA", "DS", "DNSKEY",
                                       "NSEC", "NSEC3", "NSEC3PARAM", "RRSIG", "CNAME"};
  std::vector<std::string> names;
  for (const char* name : kNames) {
    names.push_back(std::string(name) == "@" ? origin + "." : std::string(name) + "." + origin + ".");
  }
  names.insert(names.end(), hashed.begin(), hashed.end());
  std::vector<CorpusQuery> corpus;
  for (const std::string& name : names) {
    for (const char* type : kTypes) {
      for (const bool dnssec_ok : {false, true}) {
        corpus.push_back({.name = name, .type = type, .tcp = dnssec_ok, .dnssec_ok = dnssec_ok});
      }
    }
  }
  return corpus;
}

TEST_CASE("rotor serves signed zones like NSD") {
  if (::access(kNsdBinary, X_OK) != 0 || ::access(kSignzone, X_OK) != 0) {
    MESSAGE("NSD or ldns-signzone not installed; signed differential test skipped");
    return;
  }
  const SignedVariant variants[] = {
      {"nsec.signed.test", {}},
      {"nsec3.signed.test", {"-n", "-s", "c0ffee", "-t", "2"}},
      {"optout.signed.test", {"-n", "-p", "-t", "0"}},
  };
  TempDir dir;
  std::vector<std::pair<std::string, std::string>> zones;
  std::vector<CorpusQuery> corpus;
  for (const SignedVariant& variant : variants) {
    const std::string path = sign_zone(dir, variant);
    zones.emplace_back(variant.origin, path);
    for (CorpusQuery& query : signed_corpus(variant.origin, hashed_owners(path, 3))) {
      corpus.push_back(std::move(query));
    }
  }
  Endpoint nsd_endpoint{.host = "127.0.0.1", .port = free_port()};
  std::string conf = dir.write("nsd.conf", nsd_config(dir, nsd_endpoint.port, zones));
  Process nsd({kNsdBinary, "-d", "-c", conf});
  REQUIRE_MESSAGE(wait_until_answering(nsd_endpoint, "nsec.signed.test."),
                  "NSD does not answer; stderr:\n" << nsd.stderr_text());
  std::vector<std::string> rotor_args{"--threads", "1"};
  for (const auto& [origin, path] : zones) {
    rotor_args.push_back("--zone");
    rotor_args.push_back(origin + "=" + path);
  }
  RotorServer rotor(rotor_args);
  REQUIRE(rotor.ready());

  // Guards: NSD signs with DO and proves NXDOMAIN, so the comparison sees DNSSEC.
  std::optional<Reply> signed_www = ask(
      nsd_endpoint, {.name = "www.nsec.signed.test.", .type = "A", .dnssec_ok = true}, Transport::udp_edns);
  std::optional<Reply> nxdomain = ask(
      nsd_endpoint, {.name = "nothere.nsec3.signed.test.", .type = "A", .dnssec_ok = true}, Transport::udp_edns);
  REQUIRE((signed_www && signed_www->packet && nxdomain && nxdomain->packet));
  CHECK(summarize(*signed_www->packet).answer.size() == 3);
  CHECK(summarize(*nxdomain->packet).authority.size() >= 6);

  const Comparison result = compare_corpus(nsd_endpoint, rotor.endpoint(), corpus);
  MESSAGE("signed zones: compared " << result.compared << " exchanges, " << result.differences << " differ");
  if (result.differences != 0) {
    FAIL_CHECK(result.differences << " of " << result.compared << " exchanges differ from NSD:\n"
                                  << result.report);
  }
  CHECK(rotor.process().stderr_text().find("error") == std::string::npos);
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
