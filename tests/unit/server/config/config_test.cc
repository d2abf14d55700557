#include "server/config/config.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "probes/check_spec.h"
#include "server/common/cpu_affinity.h"
#include "server/config/registry_sections.h"
#include "server/dnssec/online_signing.h"
#include "zones/zone.h"

TEST_SUITE_BEGIN("unit/server/config/config");

using rotor::config::Config;
using rotor::config::ConfigError;
using rotor::config::parse_config;

namespace {

// The error text parse_config gives for `document`, or "" when it parses.
std::string config_error_for(const std::string& document) {
  try {
    parse_config(document, "rotor.json");
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

// A directory removed with everything in it when the test ends.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("rotor-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
  static inline int counter = 0;
};

}  // namespace

TEST_CASE("an empty document gives the defaults") {
  Config config = parse_config("{}", "rotor.json");
  CHECK(config.listen == std::vector<std::string>{"127.0.0.1:5353", "[::1]:5353"});
  CHECK(config.zones.empty());
  CHECK(config.threads == 0);
  CHECK(config.log_level == "info");
  CHECK(config.nsid.empty());
  CHECK(config.tcp_idle_timeout == std::chrono::seconds(10));
  CHECK(config.tcp_max_connections == 1000);
}

TEST_CASE("a full document with comments") {
  Config config = parse_config(R"(
    // Every key rotor knows.
    {
      "listen": ["127.0.0.1:53", "[::1]:53"],  /* both families */
      "zones": [
        "lb.example.test.zone",
        "example.org=zones/org.zone",
        {"origin": "example.net.", "file": "net.zone"},
        {"file": "soa-named.zone"}
      ],
      "threads": 4,
      "log_level": "debug",
      "nsid": "ns1",
      "tcp": {"idle_timeout": "500ms", "max_connections": 64}
    })",
                               "rotor.json");
  CHECK(config.listen == std::vector<std::string>{"127.0.0.1:53", "[::1]:53"});
  REQUIRE(config.zones.size() == 4);
  CHECK(config.zones[0].origin == "");
  CHECK(config.zones[0].file == "lb.example.test.zone");
  CHECK(config.zones[1].origin == "example.org");
  CHECK(config.zones[1].file == "zones/org.zone");
  CHECK(config.zones[2].origin == "example.net.");
  CHECK(config.zones[2].file == "net.zone");
  CHECK(config.zones[3].origin == "");
  CHECK(config.zones[3].file == "soa-named.zone");
  CHECK(config.threads == 4);
  CHECK(config.log_level == "debug");
  CHECK(config.nsid == "ns1");
  CHECK(config.tcp_idle_timeout == std::chrono::milliseconds(500));
  CHECK(config.tcp_max_connections == 64);
}

TEST_CASE("bad documents name the key and the reason") {
  struct Case {
    std::string document;
    const char* error;
  };
  const Case cases[] = {
      // Unknown keys, at every level.
      {R"({"listne": []})", "listne: unknown key"},
      {R"({"tcp": {"idle_timeot": "10s"}})", "tcp.idle_timeot: unknown key"},
      {R"({"zones": [{"file": "a.zone", "orgin": "a."}]})", "zones[0].orgin: unknown key"},
      // Wrong types.
      {R"([])", "rotor.json: expected an object at the top level, got an array"},
      // Too large for a double: nlohmann throws out_of_range, not parse_error (found by fuzzing).
      {R"({"threads": 1e500})", "rotor.json: number overflow parsing '1e500'"},
      {R"({"listen": "127.0.0.1:53"})", "listen: expected an array, got a string"},
      {R"({"listen": [53]})", "listen[0]: expected a string, got an integer"},
      {R"({"threads": "4"})", "threads: expected an integer, got a string"},
      {R"({"threads": 2.5})", "threads: expected an integer, got a number with a fraction (2.5)"},
      {R"({"log_level": 3})", "log_level: expected a string, got an integer"},
      {R"({"nsid": null})", "nsid: expected a string, got null"},
      {R"({"tcp": true})", "tcp: expected an object, got a boolean"},
      {R"({"tcp": {"max_connections": "many"}})",
       "tcp.max_connections: expected an integer, got a string"},
      {R"({"zones": "a.zone"})", "zones: expected an array, got a string"},
      {R"({"zones": [7]})",
       "zones[0]: expected a string \"NAME=FILE\", an object {\"origin\", \"file\"} or an object "
       "{\"name\", \"name_servers\"}, got an integer"},
      {R"({"zones": [{"origin": 1, "file": "a.zone"}]})",
       "zones[0].origin: expected a string, got an integer"},
      // Values out of range.
      {R"({"threads": 0})", "threads: expected 1 to 256, got 0"},
      {R"({"threads": 257})", "threads: expected 1 to 256, got 257"},
      {R"({"threads": -1})", "threads: expected 1 to 256, got -1"},
      {R"({"log_level": "verbose"})",
       "log_level: expected one of trace, debug, info, warn, error, critical, off; got \"verbose\""},
      {R"({"tcp": {"max_connections": 0}})", "tcp.max_connections: expected at least 1, got 0"},
      {R"({"listen": []})", "listen: at least one address is needed"},
      // Durations carry their unit.
      {R"({"tcp": {"idle_timeout": 10}})",
       "tcp.idle_timeout: expected a duration with a unit, like \"10s\""},
      {R"({"tcp": {"idle_timeout": "10"}})",
       "tcp.idle_timeout: expected a duration with a unit, like \"10s\""},
      {R"({"tcp": {"idle_timeout": "10d"}})",
       "tcp.idle_timeout: unknown unit \"d\" in \"10d\"; use ms, s, m or h"},
      {R"({"tcp": {"idle_timeout": "soon"}})",
       "tcp.idle_timeout: expected a duration like \"10s\", got \"soon\""},
      {R"({"tcp": {"idle_timeout": "0s"}})", "tcp.idle_timeout: must be greater than zero"},
      {R"({"tcp": {"idle_timeout": []}})",
       "tcp.idle_timeout: expected a duration string like \"10s\", got an array"},
      // Zone entries.
      {R"({"zones": [""]})", "zones[0]: expected \"FILE\" or \"NAME=FILE\", got \"\""},
      {R"({"zones": ["=a.zone"]})", "zones[0]: empty zone name before '=' in \"=a.zone\""},
      {R"({"zones": ["a.test="]})", "zones[0]: empty file name after '=' in \"a.test=\""},
      {R"({"zones": ["a.zone", "a..test=b.zone"]})",
       "zones[1]: \"a..test\" is not a valid domain name"},
      {R"({"zones": [{"origin": "a.test."}]})", "zones[0].file: missing; every zone needs a file"},
      {R"({"zones": [{"file": ""}]})", "zones[0].file: empty file name"},
      // A zone rotor signs.
      {R"({"zones": ["a.zone", {"file": "b.zone", "dnssec": {"keys": ""}}]})",
       "zones[1].dnssec.keys: empty directory name"},
      {R"({"zones": [{"file": "b.zone", "dnssec": {}}]})",
       "zones[0].dnssec.keys: missing; the directory of the zone's key files"},
      {R"({"zones": [{"file": "b.zone", "dnssec": {"keys": "k", "algorithm": 13}}]})",
       "zones[0].dnssec.algorithm: unknown key"},
      {R"({"zones": [{"file": "b.zone", "dnssec": "keys"}]})",
       "zones[0].dnssec: expected an object, got a string"},
      {R"({"zones": [{"file": "b.zone", "dnssec": {"keys": 1}}]})",
       "zones[0].dnssec.keys: expected a string, got an integer"},
      // Declared zones.
      {R"({"zones": [{"name": "lb.test."}]})",
       "zones[0].name_servers: missing; a declared zone needs at least one name server"},
      {R"({"zones": [{"name": "lb..test", "name_servers": []}]})",
       "zones[0].name: \"lb..test\" is not a valid domain name"},
      {R"({"zones": [{"name": "lb.test", "name_servers": [{"name": "ns1.lb.test", "addresses": ["1.2.3"]}]}]})",
       "zones[0].name_servers[0].addresses[0]: \"1.2.3\" is not an IPv4 or IPv6 address"},
      {R"({"zones": [{"name": "lb.test", "name_servers": [{"name": "ns1.lb.test", "glue": []}]}]})",
       "zones[0].name_servers[0].glue: unknown key"},
      // Arrays.
      {R"({"arrays": [{"ttl": 30}]})", "arrays[0].name: missing; every array needs a name"},
      {R"({"arrays": [{"name": "web.lb.test", "polcy": "geo"}]})", "arrays[0].polcy: unknown key"},
      {R"({"arrays": [{"name": "web.lb.test", "policy": "random"}]})",
       "arrays[0].policy: expected one of round_robin, weighted, geo, sticky; got \"random\""},
      {R"({"arrays": [{"name": "web.lb.test", "ttl": "30s"}]})",
       "arrays[0].ttl: expected an integer, got a string"},
      {R"({"arrays": [{"name": "web.lb.test", "ttl": -1}]})",
       "arrays[0].ttl: expected 0 to 2147483647, got -1"},
      {R"({"arrays": [{"name": "web.lb.test", "max_answers": 9000}]})",
       "arrays[0].max_answers: expected 0 to 8192, got 9000"},
      {R"({"arrays": [{"name": "web.lb.test", "when_all_down": "some"}]})",
       "arrays[0].when_all_down: expected one of all, none; got \"some\""},
      {R"({"arrays": [{"name": "web.lb.test", "min_healthy": 1.5}]})",
       "arrays[0].min_healthy: expected a share from 0 to 1, got 1.5"},
      {R"({"arrays": [{"name": "web.lb.test", "min_healthy": -0.1}]})",
       "arrays[0].min_healthy: expected a share from 0 to 1, got -0.1"},
      {R"({"arrays": [{"name": "web.lb.test", "min_healthy": "50%"}]})",
       "arrays[0].min_healthy: expected a number, got a string"},
      {R"({"arrays": [{"name": "web.lb.test", "slow_start": 60}]})",
       "arrays[0].slow_start: expected a duration like \"60s\", got an integer"},
      {R"({"arrays": [{"name": "web.lb.test", "slow_start": "60"}]})",
       "arrays[0].slow_start: expected a duration with a unit, like \"10s\""},
      {R"({"arrays": [{"name": "web.lb.test", "slow_start": "1d"}]})",
       "arrays[0].slow_start: unknown unit \"d\" in \"1d\"; use ms, s, m or h"},
      {R"({"arrays": [{"name": "web.lb.test", "remove_after": 72}]})",
       "arrays[0].remove_after: expected a duration string like \"72h\", got an integer"},
      {R"({"arrays": [{"name": "web.lb.test", "remove_after": "3d"}]})",
       "arrays[0].remove_after: unknown unit \"d\" in \"3d\"; use ms, s, m or h"},
      {R"({"arrays": [{"name": "web.lb.test", "remove_after": "500ms"}]})",
       "arrays[0].remove_after: must be at least 1s (or 0s: off), got 500ms"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "10.0.0.1"}, {"address": "10.0.0.2", "weight": 0}]}]})",
       "arrays[0].instances[1].weight: expected 1 to 1000, got 0"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "10.0.0.300"}]}]})",
       "arrays[0].instances[0].address: \"10.0.0.300\" is not an IPv4 or IPv6 address"},
      // Addresses no client could reach a server at; an IPv4-mapped address is its IPv4 form.
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "0.0.0.0"}]}]})",
       "arrays[0].instances[0].address: \"0.0.0.0\" cannot be a server: unspecified (0.0.0.0/8 "
       "means this host, never a destination)"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "::"}]}]})",
       "arrays[0].instances[0].address: \"::\" cannot be a server: unspecified (::)"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "255.255.255.255"}]}]})",
       "arrays[0].instances[0].address: \"255.255.255.255\" cannot be a server: the broadcast address"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "239.1.2.3"}]}]})",
       "arrays[0].instances[0].address: \"239.1.2.3\" cannot be a server: multicast (224.0.0.0/4)"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "ff05::2"}]}]})",
       "arrays[0].instances[0].address: \"ff05::2\" cannot be a server: multicast (ff00::/8)"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "169.254.1.1"}]}]})",
       "arrays[0].instances[0].address: \"169.254.1.1\" cannot be a server: link-local (169.254.0.0/16)"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "fe80::1"}]}]})",
       "arrays[0].instances[0].address: \"fe80::1\" cannot be a server: link-local (fe80::/10)"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "::ffff:0.0.0.0"}]}]})",
       "arrays[0].instances[0].address: \"::ffff:0.0.0.0\" cannot be a server: unspecified (0.0.0.0/8 "
       "means this host, never a destination)"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "192.0.2.1"}, {"address": "::FFFF:192.0.2.1"}]}]})",
       "arrays[0].instances[1].address: duplicate of instances[0]"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"weight": 5}]}]})",
       "arrays[0].instances[0].address: missing; every instance needs an address"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "::1"}, {"address": "::1"}]}]})",
       "arrays[0].instances[1].address: duplicate of instances[0]"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "::1", "lat": 10}]}]})",
       "arrays[0].instances[0].lon: missing; give lat and lon together"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "::1", "lat": 91, "lon": 0}]}]})",
       "arrays[0].instances[0].lat: expected -90 to 90"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "::1", "state": "off"}]}]})",
       "arrays[0].instances[0].state: expected one of enabled, draining, disabled; got \"off\""},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "::1", "health": "ok"}]}]})",
       "arrays[0].instances[0].health: expected one of unknown, up, down; got \"ok\""},
      {R"({"arrays": [{"name": "a.lb.test"}, {"name": "A.lb.test."}]})",
       "arrays[1].name: duplicate of arrays[0]"},
      // Health checks: the array's, and an instance's keys merged over it.
      {R"({"arrays": [{"name": "web.lb.test", "check": "http"}]})",
       "arrays[0].check: expected an object, got a string"},
      {R"({"arrays": [{"name": "web.lb.test", "check": {"type": "icmp"}}]})",
       "arrays[0].check.type: expected \"http\", \"https\" or \"tcp\", got \"icmp\""},
      {R"({"arrays": [{"name": "web.lb.test", "check": {"interval": 5}}]})",
       "arrays[0].check.interval: expected a duration with a unit, like \"5s\""},
      {R"({"arrays": [{"name": "web.lb.test", "check": {"interval": "1s", "timeout": "1s"}}]})",
       "arrays[0].check.timeout: must be shorter than the interval (1s), got 1s"},
      {R"({"arrays": [{"name": "web.lb.test", "check": {"type": "tcp"}}]})",
       "arrays[0].check.port: required for tcp checks"},
      {R"({"arrays": [{"name": "web.lb.test", "check": {"prot": 80}}]})",
       "arrays[0].check.prot: unknown key"},
      {R"({"arrays": [{"name": "web.lb.test", "check": {"interval": "10s", "timeout": "4s"},
                       "instances": [{"address": "192.0.2.1", "check": {"interval": "3s"}}]}]})",
       "arrays[0].instances[0].check.timeout: must be shorter than the interval (3s), got 4s"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "192.0.2.1", "check": {"rise": 0}}]}]})",
       "arrays[0].instances[0].check.rise: expected 1 to 100, got 0"},
      {R"({"arrays": [{"name": "web.lb.test", "instances": [{"address": "192.0.2.1", "check": []}]}]})",
       "arrays[0].instances[0].check: expected an object, got an array"},
      // Regions and networks.
      {R"({"regions": [{"lat": 1, "lon": 2}]})", "regions[0].name: missing; every region needs a name"},
      {R"({"regions": [{"name": "eu", "prefer": [1]}]})",
       "regions[0].prefer[0]: expected a string, got an integer"},
      {R"({"networks": [{"cidr": "10.0.0.0", "region": "eu"}]})",
       "networks[0].cidr: \"10.0.0.0\" is not a network like \"192.0.2.0/24\""},
      {R"({"networks": [{"cidr": "10.0.0.0/33", "region": "eu"}]})",
       "networks[0].cidr: \"10.0.0.0/33\" is not a network like \"192.0.2.0/24\""},
      {R"({"networks": [{"cidr": "10.0.0.0/8"}]})", "networks[0].region: missing; every network needs a region"},
      // The prober.
      {R"({"probes": {"threads": 0}})", "probes.threads: expected 1 to 64, got 0"},
      {R"({"events": {"max_count": 10}})", "events.max_count: expected 1000 to 100000000, got 10"},
      {R"({"events": {"max_age": "5m"}})", "events.max_age: at least 1h, or 0s for no age bound"},
      {R"({"events": {"max_age": 3600}})", "events.max_age: expected a duration string like \"720h\", got an integer"},
      {R"({"events": {"keep": 1}})", "events.keep: unknown key"},
      {R"({"probes": {"max_in_flight": "many"}})", "probes.max_in_flight: expected an integer, got a string"},
      {R"({"probes": {"jitter": 0.1}})", "probes.jitter: unknown key"},
      {R"({"probes": {"source_address": "eth0"}})",
       "probes.source_address: expected an IPv4 or IPv6 address, got \"eth0\""},
      {R"({"probes": {"source_address": "127.0.0.2/8"}})",
       "probes.source_address: expected an IPv4 or IPv6 address, got \"127.0.0.2/8\""},
      {R"({"probes": {"source_address": 2130706434}})",
       "probes.source_address: expected a string, got an integer"},
      // Response rate limiting.
      {R"({"rrl": 10})", "rrl: expected an object, got an integer"},
      {R"({"rrl": {"rate": 10}})", "rrl.rate: unknown key"},
      {R"({"rrl": {"responses_per_second": -1}})",
       "rrl.responses_per_second: must be between 0 and 1000000, got -1"},
      {R"({"rrl": {"responses_per_second": "10"}})",
       "rrl.responses_per_second: expected an integer, got a string"},
      {R"({"rrl": {"slip": 11}})", "rrl.slip: must be between 0 and 10, got 11"},
      {R"({"rrl": {"ipv4_prefix": 7}})", "rrl.ipv4_prefix: must be between 8 and 32, got 7"},
      {R"({"rrl": {"ipv6_prefix": 129}})", "rrl.ipv6_prefix: must be between 16 and 128, got 129"},
      {R"({"rrl": {"table_size": 1000}})",
       "rrl.table_size: must be a power of two between 1024 and 16777216, got 1000"},
      {R"({"rrl": {"table_size": 512}})",
       "rrl.table_size: must be a power of two between 1024 and 16777216, got 512"},
      {R"({"rrl": {"table_size": 33554432}})",
       "rrl.table_size: must be a power of two between 1024 and 16777216, got 33554432"},
      {R"({"rrl": {"exempt": "10.0.0.0/8"}})", "rrl.exempt: expected an array, got a string"},
      {R"({"rrl": {"exempt": ["10.0.0.0/8", 7]}})",
       "rrl.exempt[1]: expected a string, got an integer"},
      {R"({"rrl": {"exempt": ["10.0.0.1"]}})",
       "rrl.exempt[0]: \"10.0.0.1\" is not a network like \"192.0.2.0/24\""},
      {R"({"rrl": {"exempt": ["10.0.0.0/33"]}})",
       "rrl.exempt[0]: \"10.0.0.0/33\" is not a network like \"192.0.2.0/24\""},
      {R"({"rrl": {"exempt": ["example.com/8"]}})",
       "rrl.exempt[0]: \"example.com/8\" is not a network like \"192.0.2.0/24\""},
      {R"({"rrl": {"exempt": ["10.0.0.0/x"]}})",
       "rrl.exempt[0]: \"10.0.0.0/x\" is not a network like \"192.0.2.0/24\""},
      {R"({"rrl": {"exempt": ["10.1.0.0/8"]}})",
       "rrl.exempt[0]: \"10.1.0.0/8\" has bits set past the /8 prefix"},
      {R"({"rrl": {"exempt": ["2001:db8::1/64"]}})",
       "rrl.exempt[0]: \"2001:db8::1/64\" has bits set past the /64 prefix"},
      {R"({"dnssec": []})", "dnssec: expected an object, got an array"},
      {R"({"dnssec": {"cache_mib": 1}})", "dnssec.cache_mib: unknown key"},
      {R"({"dnssec": {"signature_cache_mib": 0}})",
       "dnssec.signature_cache_mib: must be between 1 and 1048576, got 0"},
      {R"({"dnssec": {"denial_cache_mib": "32"}})", "dnssec.denial_cache_mib: expected an integer, got a string"},
      {R"({"dnssec": {"encoded_answers_mib": -1}})",
       "dnssec.encoded_answers_mib: must be between 0 and 1048576, got -1"},
      {R"({"dnssec": {"encoded_answers_mib": 1048577}})",
       "dnssec.encoded_answers_mib: must be between 0 and 1048576, got 1048577"},
      // CPU affinity (what depends on this machine's CPUs: the next test).
      {R"({"cpu_affinity": [0]})", "cpu_affinity: expected an object, got an array"},
      {R"({"cpu_affinity": {"io": [0]}})", "cpu_affinity.io: unknown key"},
      {R"({"cpu_affinity": {"workers": 0}})", "cpu_affinity.workers: expected an array, got an integer"},
      {R"({"cpu_affinity": {"workers": []}})",
       "cpu_affinity.workers: at least one CPU is needed; leave the key out to not pin these threads"},
      {R"({"cpu_affinity": {"control": []}})",
       "cpu_affinity.control: at least one CPU is needed; leave the key out to not pin these threads"},
      {R"({"cpu_affinity": {"workers": ["0"]}})", "cpu_affinity.workers[0]: expected an integer, got a string"},
      {R"({"cpu_affinity": {"control": [0.5]}})",
       "cpu_affinity.control[0]: expected an integer, got a number with a fraction (0.5)"},
      {R"({"cpu_affinity": {"workers": [-1]}})", "cpu_affinity.workers[0]: expected a CPU number from 0 to 1023, got -1"},
      {R"({"cpu_affinity": {"control": [1024]}})",
       "cpu_affinity.control[0]: expected a CPU number from 0 to 1023, got 1024"},
      // Registry settings.
      {R"({"db": ""})", "db: empty file name"},
      {R"({"publish_interval": 50})", "publish_interval: expected a duration string like \"50ms\", got an integer"},
      // NSID size.
      {R"({"nsid": ")" + std::string(129, 'x') + R"("})", "nsid: at most 128 bytes, got 129"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.document);
    CHECK(config_error_for(c.document) == c.error);
  }
}

// The allowed set is this process's, so the cases are built from it.
TEST_CASE("cpu_affinity takes distinct CPUs the process may run on") {
  const std::vector<int>& allowed = rotor::allowed_cpus_at_startup();
  REQUIRE_FALSE(allowed.empty());
  const std::string first = std::to_string(allowed.front());
  const std::string last = std::to_string(allowed.back());

  const Config unpinned = parse_config("{}", "rotor.json");
  CHECK(unpinned.cpu_affinity.workers.empty());
  CHECK(unpinned.cpu_affinity.control.empty());

  const Config both = parse_config(
      R"({"cpu_affinity": {"workers": [)" + first + R"(], "control": [)" + last + "]}}", "rotor.json");
  CHECK(both.cpu_affinity.workers == std::vector<int>{allowed.front()});
  CHECK(both.cpu_affinity.control == std::vector<int>{allowed.back()});
  // Either part alone; the order given is kept (worker i takes workers[i]).
  const Config every = parse_config(
      R"({"cpu_affinity": {"workers": [)" + last + (allowed.size() > 1 ? ", " + first : "") + "]}}",
      "rotor.json");
  CHECK(every.cpu_affinity.workers.front() == allowed.back());
  CHECK(every.cpu_affinity.workers.size() == std::min<size_t>(2, allowed.size()));
  CHECK(every.cpu_affinity.control.empty());

  CHECK(config_error_for(R"({"cpu_affinity": {"workers": [)" + first + ", " + first + "]}}") ==
        "cpu_affinity.workers[1]: duplicate of workers[0]");
  int outside = 0;
  while (std::find(allowed.begin(), allowed.end(), outside) != allowed.end()) ++outside;
  CHECK(config_error_for(R"({"cpu_affinity": {"control": [)" + first + ", " + std::to_string(outside) + "]}}") ==
        "cpu_affinity.control[1]: CPU " + std::to_string(outside) + " is not one rotor may run on (allowed: " +
            rotor::format_cpu_list(allowed) + ")");
}

TEST_CASE("the rrl section") {
  const Config defaults = parse_config("{}", "rotor.json");
  CHECK(defaults.rrl.responses_per_second == 0);  // off
  CHECK(defaults.rrl.slip == 2);
  CHECK(defaults.rrl.ipv4_prefix == 24);
  CHECK(defaults.rrl.ipv6_prefix == 56);
  CHECK(defaults.rrl.table_size == 65536);
  CHECK(defaults.rrl.exempt.empty());

  const Config config = parse_config(R"({"rrl": {
      "responses_per_second": 20, "slip": 0, "ipv4_prefix": 32, "ipv6_prefix": 64,
      "table_size": 1024, "exempt": ["192.0.2.0/24", "2001:db8::/32", "10.0.0.7/32"]}})",
                                     "rotor.json");
  CHECK(config.rrl.responses_per_second == 20);
  CHECK(config.rrl.slip == 0);
  CHECK(config.rrl.ipv4_prefix == 32);
  CHECK(config.rrl.ipv6_prefix == 64);
  CHECK(config.rrl.table_size == 1024);
  REQUIRE(config.rrl.exempt.size() == 3);
  CHECK(config.rrl.exempt[0].address.to_string() == "192.0.2.0");
  CHECK(config.rrl.exempt[0].length == 24);
  CHECK(config.rrl.exempt[1].address.family == 6);
  CHECK(config.rrl.exempt[1].length == 32);
  CHECK(config.rrl.exempt[2].length == 32);
  // The extremes are allowed.
  const Config edges = parse_config(R"({"rrl": {"responses_per_second": 1000000, "slip": 10,
      "ipv4_prefix": 8, "ipv6_prefix": 128, "table_size": 16777216, "exempt": ["0.0.0.0/0"]}})",
                                    "rotor.json");
  CHECK(edges.rrl.table_size == 16777216);
  CHECK(edges.rrl.exempt[0].length == 0);
}

TEST_CASE("the dnssec section") {
  // The defaults are the ones the signing code and the zone builder use
  // when nothing is configured (tests and benches build without a config).
  const Config defaults = parse_config("{}", "rotor.json");
  CHECK(defaults.dnssec.signature_cache_bytes == rotor::dnssec::kDefaultSignatureCacheBytes);
  CHECK(defaults.dnssec.denial_cache_bytes == rotor::dnssec::kDefaultDenialSignatureCacheBytes);
  CHECK(defaults.dnssec.encoded_answers_bytes == rotor::zones::kDefaultNegativeAnswerBudget);

  const Config config = parse_config(
      R"({"dnssec": {"signature_cache_mib": 1024, "denial_cache_mib": 1, "encoded_answers_mib": 0}})", "rotor.json");
  CHECK(config.dnssec.signature_cache_bytes == size_t{1024} << 20);
  CHECK(config.dnssec.denial_cache_bytes == size_t{1} << 20);
  CHECK(config.dnssec.encoded_answers_bytes == 0);
}

TEST_CASE("probes.source_address") {
  CHECK(parse_config("{}", "rotor.json").probe_source_address.family == 0);
  const Config v4 = parse_config(R"({"probes": {"source_address": "127.0.0.2"}})", "rotor.json");
  CHECK(v4.probe_source_address.to_string() == "127.0.0.2");
  const Config v6 = parse_config(R"({"probes": {"source_address": "::1"}})", "rotor.json");
  CHECK(v6.probe_source_address.family == 6);
}

TEST_CASE("a bad listen endpoint names its index") {
  // The reason comes from net::parse_endpoint; the path is ours.
  for (const char* document : {R"({"listen": ["127.0.0.1:53", "127.0.0.1"]})",
                               R"({"listen": ["127.0.0.1:53", "127.0.0.1:99999"]})",
                               R"({"listen": ["127.0.0.1:53", "::1:53"]})",
                               R"({"listen": ["127.0.0.1:53", "no.such.host:53"]})"}) {
    CAPTURE(document);
    const std::string error = config_error_for(document);
    CHECK(error.rfind("listen[1]: ", 0) == 0);
    CHECK(error.size() > std::string("listen[1]: ").size());
  }
  CHECK(config_error_for(R"({"listen": ["[::1]:0", "0.0.0.0:53"]})") == "");
}

TEST_CASE("JSON syntax errors name the file - line and column") {
  CHECK(config_error_for("{\n  \"threads\": 4,\n  oops\n}") ==
        "rotor.json: parse error at line 3, column 3: syntax error while parsing object key - "
        "invalid literal; last read: '4,<U+000A>  o'; expected string literal");
  CHECK(config_error_for("").rfind("rotor.json: parse error at line 1, column 1: ", 0) == 0);
}

TEST_CASE("durations") {
  struct Case {
    const char* text;
    long long milliseconds;
  };
  for (const Case& c : {Case{"1ms", 1}, Case{"500ms", 500}, Case{"10s", 10000}, Case{"1m", 60000},
                        Case{"2h", 7200000}, Case{"0s", 0}}) {
    CAPTURE(c.text);
    CHECK(rotor::config::parse_duration(c.text, "x").count() == c.milliseconds);
  }
  CHECK_THROWS_WITH_AS(rotor::config::parse_duration("9999999999999h", "x"),
                       "x: duration \"9999999999999h\" is too large", ConfigError);
  CHECK_THROWS_WITH_AS(rotor::config::parse_duration("1 s", "x"),
                       "x: unknown unit \" s\" in \"1 s\"; use ms, s, m or h", ConfigError);
}

TEST_CASE("relative zone files are resolved against the config file's directory") {
  TempDir dir;
  std::filesystem::create_directories(dir.path / "etc");
  const std::string file = dir.write("etc/rotor.json", R"({
    "zones": ["a.zone", "b.test=sub/b.zone", {"file": "/abs/c.zone", "dnssec": {"keys": "keys/c"}}]
  })");
  Config config = rotor::config::load_config_file(file);
  REQUIRE(config.zones.size() == 3);
  CHECK(config.zones[0].dnssec_keys == "");
  CHECK(config.zones[2].dnssec_keys == (dir.path / "etc" / "keys/c").string());
  CHECK(config.zones[2].key_path == "zones[2]");
  CHECK(config.zones[0].file == (dir.path / "etc" / "a.zone").string());
  CHECK(config.zones[1].file == (dir.path / "etc" / "sub/b.zone").string());
  CHECK(config.zones[1].origin == "b.test");
  CHECK(config.zones[2].file == "/abs/c.zone");
}

TEST_CASE("file errors name the file") {
  TempDir dir;
  const std::string missing = (dir.path / "missing.json").string();
  CHECK_THROWS_WITH_AS(rotor::config::load_config_file(missing),
                       (missing + ": cannot open: No such file or directory").c_str(), ConfigError);
  const std::string broken = dir.write("broken.json", "{\"threads\": }");
  try {
    rotor::config::load_config_file(broken);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    CHECK(error.path == broken);
    CHECK(error.reason.rfind("parse error at line 1, column 13: ", 0) == 0);
  }
}

TEST_CASE("command-line flags replace the file's values") {
  Config config = parse_config(
      R"({"listen": ["127.0.0.1:53"], "zones": ["a.zone"], "threads": 2, "nsid": "file"})", "f");
  rotor::config::Overrides overrides;
  overrides.listen = {"127.0.0.1:0", "[::1]:0"};
  overrides.zones = {"b.zone", "c.test=c.zone"};
  overrides.threads = 8;
  overrides.log_level = "warn";
  overrides.nsid = "flag";
  rotor::config::apply_overrides(config, overrides);
  CHECK(config.listen == overrides.listen);
  REQUIRE(config.zones.size() == 2);
  CHECK(config.zones[0].file == "b.zone");
  CHECK(config.zones[1].origin == "c.test");
  CHECK(config.zones[1].file == "c.zone");
  CHECK(config.threads == 8);
  CHECK(config.log_level == "warn");
  CHECK(config.nsid == "flag");

  // Flags left out keep the file's values.
  Config untouched = parse_config(R"({"zones": ["a.zone"], "threads": 2})", "f");
  rotor::config::apply_overrides(untouched, {});
  CHECK(untouched.zones.size() == 1);
  CHECK(untouched.threads == 2);
}

TEST_CASE("bad flags name the flag") {
  struct Case {
    rotor::config::Overrides overrides;
    const char* error;
  };
  Case cases[4];
  cases[0].overrides.threads = 0;
  cases[0].error = "--threads: expected 1 to 256, got 0";
  cases[1].overrides.zones = {"=x.zone"};
  cases[1].error = "--zone: empty zone name before '=' in \"=x.zone\"";
  cases[2].overrides.log_level = "loud";
  cases[2].error =
      "--log-level: expected one of trace, debug, info, warn, error, critical, off; got \"loud\"";
  cases[3].overrides.nsid = std::string(200, 'n');
  cases[3].error = "--nsid: at most 128 bytes, got 200";
  for (const Case& c : cases) {
    Config config;
    CHECK_THROWS_WITH_AS(rotor::config::apply_overrides(config, c.overrides), c.error, ConfigError);
  }
  Config config;
  rotor::config::Overrides bad_listen;
  bad_listen.listen = {"localhost"};
  try {
    rotor::config::apply_overrides(config, bad_listen);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    CHECK(error.path == "--listen");
  }
}

TEST_CASE("declared zones - regions - networks and arrays") {
  const Config config = parse_config(R"({
    "db": "/var/lib/rotor/rotor.db", "publish_interval": "0ms",
    "zones": [{"name": "lb.example.test", "name_servers": [
      {"name": "ns1.lb.example.test", "addresses": ["192.0.2.53", "2001:db8::53"]}]}],
    "regions": [{"name": "eu", "lat": 50.1, "lon": 8.7, "prefer": ["us"]}],
    "networks": [{"cidr": "10.1.0.0/16", "region": "eu"}],
    "arrays": [{"name": "web.lb.example.test", "ttl": 20, "degraded_ttl": 5, "policy": "geo",
                "max_answers": 2, "when_all_down": "none", "min_healthy": 0.25, "slow_start": "90s", "remove_after": "72h",
                "check": {"type": "http", "port": 8080, "path": "/healthz", "interval": "1s"},
                "instances": [{"address": "192.0.2.1", "weight": 300, "region": "eu",
                               "lat": 50.0, "lon": 8.0, "state": "draining", "health": "down",
                               "check": {"port": 8081}},
                              {"address": "2001:db8::1"}]}]
  })", "rotor.json");
  CHECK(config.db == "/var/lib/rotor/rotor.db");
  CHECK(config.publish_interval == std::chrono::milliseconds(0));
  REQUIRE(config.declared_zones.size() == 1);
  CHECK(config.declared_zones[0].name == "lb.example.test.");
  CHECK(config.declared_zones[0].name_servers[0].addresses.size() == 2);
  REQUIRE(config.regions.size() == 1);
  CHECK(config.regions[0].prefer == std::vector<std::string>{"us"});
  REQUIRE(config.networks.size() == 1);
  CHECK(config.networks[0].region == "eu");
  REQUIRE(config.arrays.size() == 1);
  const auto& array = config.arrays[0];
  CHECK(array.name == "web.lb.example.test.");
  CHECK(array.settings.ttl == 20);
  CHECK(array.settings.degraded_ttl == 5);
  CHECK(array.settings.policy == rotor::arrays::Policy::geo);
  CHECK(array.settings.max_answers == 2);
  CHECK(array.settings.when_all_down == rotor::arrays::WhenAllDown::none);
  CHECK(array.settings.min_healthy == 0.25);
  CHECK(array.settings.slow_start_ms == 90000);
  CHECK(array.settings.remove_after == std::chrono::hours(72));
  REQUIRE(array.instances.size() == 2);
  CHECK(array.instances[0].spec.weight == 300);
  CHECK(array.instances[0].spec.state == rotor::arrays::AdminState::draining);
  CHECK(array.instances[0].health == rotor::arrays::Health::down);
  CHECK(array.instances[1].spec.weight == 100);
  CHECK_FALSE(array.instances[1].health.has_value());
  CHECK(array.instances[1].spec.address.family == 6);
  // Checks are kept as given; the prober merges them.
  const auto check = rotor::probes::effective_check(array.settings.check, "", "check");
  REQUIRE(check);
  CHECK(check->port == 8080);
  CHECK(check->path == "/healthz");
  CHECK(check->interval == std::chrono::seconds(1));
  CHECK(check->timeout == std::chrono::milliseconds(500));
  const auto instance_check = rotor::probes::effective_check(
      array.settings.check, array.instances[0].spec.check, "check");
  REQUIRE(instance_check);
  CHECK(instance_check->port == 8081);
  CHECK(instance_check->path == "/healthz");
  CHECK(array.instances[1].spec.check.empty());
}

// Two SHA-256 digests in hex (of "a" and "b"), for api.tokens.
#define HASH_A "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define HASH_B "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"

TEST_CASE("the api section") {
  Config defaults = parse_config("{}", "rotor.json");
  CHECK(defaults.api_listen == "127.0.0.1:8053");
  CHECK(defaults.api_token.empty());
  CHECK(rotor::config::api_enabled(defaults));

  Config config = parse_config(R"({"api": {"listen": "[::1]:9000", "token": "t0ken"}})", "rotor.json");
  CHECK(config.api_listen == "[::1]:9000");
  CHECK(config.api_token == "t0ken");
  CHECK_FALSE(rotor::config::api_enabled(parse_config(R"({"api": {"listen": "off"}})", "rotor.json")));
  CHECK_FALSE(rotor::config::api_enabled(parse_config(R"({"api": {"listen": ""}})", "rotor.json")));

  const Config named = parse_config(R"({"log_format": "json", "api": {"tokens": [
      {"name": "ci", "scope": "write", "sha256": "CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB"},
      {"name": "grafana.read", "scope": "read", "sha256": ")" HASH_B R"("}]}})", "rotor.json");
  REQUIRE(named.api_tokens.size() == 2);
  CHECK(named.api_tokens[0].name == "ci");
  CHECK(named.api_tokens[0].scope == rotor::config::TokenScope::write);
  CHECK(named.api_tokens[0].sha256 == HASH_A);  // lower-cased
  CHECK(named.api_tokens[1].name == "grafana.read");
  CHECK(named.api_tokens[1].scope == rotor::config::TokenScope::read);
  CHECK(named.log_format == rotor::config::LogFormat::json);
  CHECK(defaults.log_format == rotor::config::LogFormat::text);
  CHECK_FALSE(defaults.api_tls.enabled());

  struct Case {
    const char* document;
    const char* error;
  };
  const Case cases[] = {
      {R"({"api": []})", "api: expected an object, got an array"},
      {R"({"api": {"listen": 8053}})", "api.listen: expected a string, got an integer"},
      {R"({"api": {"listen": "localhost:8053"}})", "api.listen: "},
      {R"({"api": {"token": 1}})", "api.token: expected a string, got an integer"},
      {R"({"api": {"tokn": "x"}})", "api.tokn: unknown key"},
      {R"({"api": {"tokens": {}}})", "api.tokens: expected an array, got an object"},
      {R"({"api": {"tokens": [1]}})", "api.tokens[0]: expected an object, got an integer"},
      {R"({"api": {"tokens": [{"scope": "read", "sha256": ")" HASH_A R"("}]}})", "api.tokens[0].name: missing"},
      {R"({"api": {"tokens": [{"name": "ci", "sha256": ")" HASH_A R"("}]}})",
       "api.tokens[0].scope: missing; \"read\" or \"write\""},
      {R"({"api": {"tokens": [{"name": "ci", "scope": "write"}]}})",
       "api.tokens[0].sha256: missing; the token's SHA-256 in hex"},
      {R"({"api": {"tokens": [{"name": "ci", "scope": "admin", "sha256": ")" HASH_A R"("}]}})",
       "api.tokens[0].scope: expected \"read\" or \"write\", got \"admin\""},
      {R"({"api": {"tokens": [{"name": "c i", "scope": "read", "sha256": ")" HASH_A R"("}]}})",
       "api.tokens[0].name: expected 1 to 64 letters, digits, '.', '_' or '-', got \"c i\""},
      {R"({"api": {"tokens": [{"name": "", "scope": "read", "sha256": ")" HASH_A R"("}]}})",
       "api.tokens[0].name: expected 1 to 64 letters"},
      {R"({"api": {"tokens": [{"name": "ci", "scope": "read", "sha256": "my-secret-token"}]}})",
       "api.tokens[0].sha256: expected the token's SHA-256 as 64 hex digits (rotor hash-token), got 15 characters"},
      {R"({"api": {"tokens": [{"name": "ci", "scope": "read", "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]}})",
       "api.tokens[0].sha256: is the SHA-256 of an empty token"},
      {R"({"api": {"tokens": [{"name": "ci", "scope": "read", "sha256": ")" HASH_A R"(", "secret": "x"}]}})",
       "api.tokens[0].secret: unknown key"},
      {R"({"api": {"tokens": [{"name": "ci", "scope": "read", "sha256": ")" HASH_A R"("},
                              {"name": "ci", "scope": "write", "sha256": ")" HASH_B R"("}]}})",
       "api.tokens[1].name: \"ci\" is already the name of api.tokens[0]"},
      {R"({"api": {"tokens": [{"name": "ci", "scope": "read", "sha256": ")" HASH_A R"("},
                              {"name": "cd", "scope": "write", "sha256": ")" HASH_A R"("}]}})",
       "api.tokens[1].sha256: the same token as api.tokens[0]"},
      {R"({"api": {"tls": {"cert": "a.pem"}}})", "api.tls.key: missing; TLS needs a cert and a key"},
      {R"({"api": {"tls": {"key": "a.pem"}}})", "api.tls.cert: missing; TLS needs a cert and a key"},
      {R"({"api": {"tls": {"cert": "", "key": "k.pem"}}})", "api.tls.cert: empty file name"},
      {R"({"api": {"tls": {"cert": "c.pem", "key": "k.pem", "ca": "x"}}})", "api.tls.ca: unknown key"},
      {R"({"api": {"tls": "on"}})", "api.tls: expected an object, got a string"},
      {R"({"log_format": "yaml"})", "log_format: expected \"text\" or \"json\", got \"yaml\""},
      {R"({"log_format": 1})", "log_format: expected a string, got an integer"},
  };
  for (const Case& bad : cases) {
    CAPTURE(bad.document);
    const std::string error = config_error_for(bad.document);
    CHECK(error.rfind(bad.error, 0) == 0);
  }
}

TEST_CASE("the api token - environment and loopback rule") {
  struct Case {
    const char* listen;
    const char* file_token;
    const char* env_token;  // null: unset
    const char* error;      // "": accepted
    const char* token;      // the token in force
  };
  const Case cases[] = {
      {"127.0.0.1:8053", "", nullptr, "", ""},
      {"[::1]:8053", "", nullptr, "", ""},
      {"127.0.0.2:0", "", nullptr, "", ""},
      {"off", "", nullptr, "", ""},
      {"0.0.0.0:8053", "", nullptr,
       "api.listen: \"0.0.0.0:8053\" is not a loopback address and needs api.token, api.tokens or ROTOR_API_TOKEN", ""},
      {"[::]:8053", "", "", "api.listen: \"[::]:8053\" is not a loopback address and needs api.token, api.tokens or ROTOR_API_TOKEN", ""},
      {"0.0.0.0:8053", "from-file", nullptr, "", "from-file"},
      {"0.0.0.0:8053", "", "from-env", "", "from-env"},
      {"127.0.0.1:8053", "from-file", "from-env", "", "from-env"},
  };
  for (const Case& test : cases) {
    CAPTURE(test.listen);
    CAPTURE(test.file_token);
    Config config;
    config.api_listen = test.listen;
    config.api_token = test.file_token;
    std::string error;
    try {
      rotor::config::resolve_api(config, test.env_token);
    } catch (const ConfigError& caught) {
      error = caught.what();
    }
    CHECK(error == test.error);
    if (error.empty()) CHECK(config.api_token == test.token);
  }
}

TEST_CASE("named tokens satisfy the loopback rule and leave the name default to api.token") {
  Config config = parse_config(R"({"api": {"listen": "0.0.0.0:8053", "tokens": [
      {"name": "default", "scope": "read", "sha256": ")" HASH_A R"("}]}})", "rotor.json");
  CHECK_NOTHROW(rotor::config::resolve_api(config, nullptr));
  CHECK_FALSE(rotor::config::api_on_loopback(config));
  CHECK_THROWS_WITH_AS(rotor::config::resolve_api(config, "env-secret"),
                       "api.tokens[0].name: \"default\" is the name of api.token (or ROTOR_API_TOKEN); "
                       "pick another",
                       ConfigError);
}

TEST_CASE("api.tls files are resolved against the config file's directory") {
  TempDir dir;
  const std::string file = dir.write("rotor.json", R"({
    "api": {"tls": {"cert": "tls/cert.pem", "key": "/etc/rotor/key.pem"}}
  })");
  const Config config = rotor::config::load_config_file(file);
  CHECK(config.api_tls.enabled());
  CHECK(config.api_tls.cert == (dir.path / "tls/cert.pem").string());
  CHECK(config.api_tls.key == "/etc/rotor/key.pem");
}

TEST_CASE("the --api flag replaces api.listen") {
  Config config = parse_config(R"({"api": {"listen": "127.0.0.1:9000"}})", "rotor.json");
  rotor::config::Overrides overrides;
  overrides.api_listen = "127.0.0.1:0";
  rotor::config::apply_overrides(config, overrides);
  CHECK(config.api_listen == "127.0.0.1:0");
  overrides.api_listen = "off";
  rotor::config::apply_overrides(config, overrides);
  CHECK_FALSE(rotor::config::api_enabled(config));
  overrides.api_listen = "nowhere";
  CHECK_THROWS_WITH_AS(rotor::config::apply_overrides(config, overrides),
                       doctest::Contains("--api: "), ConfigError);
}

TEST_CASE("the shared array and instance parsers") {
  using rotor::config::InstanceFields;
  const auto settings = rotor::config::parse_array_settings(
      nlohmann::json::parse(R"({"ttl": 60, "policy": "geo", "check": {"type": "tcp", "port": 22}})"), "");
  CHECK(settings.ttl == 60);
  CHECK(settings.policy == rotor::arrays::Policy::geo);
  CHECK_FALSE(settings.check.empty());

  struct Case {
    const char* body;
    const char* error;
  };
  const Case bad_settings[] = {
      {R"({"name": "x"})", "name: unknown key"},
      {R"({"instances": []})", "instances: unknown key"},
      {R"({"ttl": -1})", "ttl: expected 0 to 2147483647, got -1"},
      {R"({"check": {"interval": "1ms"}})", "check.interval: "},
  };
  for (const Case& bad : bad_settings) {
    CAPTURE(bad.body);
    CHECK_THROWS_WITH_AS(rotor::config::parse_array_settings(nlohmann::json::parse(bad.body), ""),
                         doctest::Contains(bad.error), ConfigError);
  }

  const auto with_health = rotor::config::parse_instance(
      nlohmann::json::parse(R"({"address": "192.0.2.1", "health": "up"})"), "i", InstanceFields::with_health);
  CHECK(with_health.health == rotor::arrays::Health::up);
  CHECK_THROWS_WITH_AS(
      rotor::config::parse_instance(nlohmann::json::parse(R"({"address": "192.0.2.1", "health": "up"})"), "",
                                    InstanceFields::without_health),
      "health: read-only; health is set by the health checks", ConfigError);
}

TEST_SUITE_END();
