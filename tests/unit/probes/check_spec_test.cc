#include "probes/check_spec.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server/config/config.h"

TEST_SUITE_BEGIN("unit/probes/check_spec");

namespace rotor::probes {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

CheckSpec parse(const std::string& text) {
  return parse_check(json::parse(text), "arrays[0].check");
}

// The error text parse_check gives for `text`, or "" when it parses.
std::string error_for(const std::string& text) {
  try {
    parse(text);
  } catch (const config::ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST_CASE("probes/check spec defaults") {
  const CheckSpec spec = parse("{}");
  CHECK(spec == CheckSpec{});
  CHECK(spec.type == CheckSpec::Type::http);
  CHECK(spec.effective_port() == 80);
  CHECK(spec.path == "/");
  CHECK(spec.expect_status_min == 200);
  CHECK(spec.expect_status_max == 399);
  CHECK(spec.interval == 5000ms);
  CHECK(spec.timeout == 2000ms);
  CHECK(spec.rise == 2);
  CHECK(spec.fall == 3);
  CHECK_FALSE(spec.tls_verify);
}

TEST_CASE("probes/check spec parses every key") {
  const CheckSpec spec = parse(R"({
      "type": "https", "port": 8443, "path": "/healthz?full=1", "host": "api.example.com",
      "expect_status": "200-299", "expect_body": "\"ok\"", "interval": "10s",
      "timeout": "1500ms", "rise": 1, "fall": 5, "tls_verify": true})");
  CHECK(spec.type == CheckSpec::Type::https);
  CHECK(spec.port == 8443);
  CHECK(spec.effective_port() == 8443);
  CHECK(spec.path == "/healthz?full=1");
  CHECK(spec.host == "api.example.com");
  CHECK(spec.expect_status_min == 200);
  CHECK(spec.expect_status_max == 299);
  CHECK(spec.expect_body == "\"ok\"");
  CHECK(spec.interval == 10s);
  CHECK(spec.timeout == 1500ms);
  CHECK(spec.rise == 1);
  CHECK(spec.fall == 5);
  CHECK(spec.tls_verify);
}

TEST_CASE("probes/check spec good documents") {
  struct Good {
    std::string document;
    CheckSpec expected;
  };
  auto with = [](auto change) {
    CheckSpec spec;
    change(spec);
    return spec;
  };
  const std::vector<Good> cases = {
      {R"({"type": "https"})", with([](CheckSpec& s) { s.type = CheckSpec::Type::https; })},
      {R"({"type": "tcp", "port": 5432})", with([](CheckSpec& s) {
         s.type = CheckSpec::Type::tcp;
         s.port = 5432;
       })},
      {R"({"expect_status": 204})", with([](CheckSpec& s) { s.expect_status_min = s.expect_status_max = 204; })},
      {R"({"expect_status": "100-599"})", with([](CheckSpec& s) {
         s.expect_status_min = 100;
         s.expect_status_max = 599;
       })},
      {R"({"expect_status": "301-301"})", with([](CheckSpec& s) { s.expect_status_min = s.expect_status_max = 301; })},
      // An omitted timeout is 2s or half a shorter interval.
      {R"({"interval": "1s"})", with([](CheckSpec& s) {
         s.interval = 1s;
         s.timeout = 500ms;
       })},
      {R"({"interval": "100ms"})", with([](CheckSpec& s) {
         s.interval = 100ms;
         s.timeout = 50ms;
       })},
      {R"({"interval": "1m"})", with([](CheckSpec& s) { s.interval = 1min; })},
      {R"({"interval": "1s", "timeout": "999ms"})", with([](CheckSpec& s) {
         s.interval = 1s;
         s.timeout = 999ms;
       })},
      {R"({"rise": 100, "fall": 1})", with([](CheckSpec& s) {
         s.rise = 100;
         s.fall = 1;
       })},
      {R"({"port": 1, "host": ""})", with([](CheckSpec& s) { s.port = 1; })},
      {R"({"port": 65535, "expect_body": ""})", with([](CheckSpec& s) { s.port = 65535; })},
      {R"({"type": "https", "tls_verify": false})", with([](CheckSpec& s) { s.type = CheckSpec::Type::https; })},
      {R"({"weight_from_response": true})", with([](CheckSpec& s) { s.weight_from_response = true; })},
      {R"({"type": "https", "weight_from_response": false})",
       with([](CheckSpec& s) { s.type = CheckSpec::Type::https; })},
      {R"({"reuse_connection": true})", with([](CheckSpec& s) { s.reuse_connection = true; })},
      {R"({"type": "https", "reuse_connection": false})",
       with([](CheckSpec& s) { s.type = CheckSpec::Type::https; })},
  };
  for (const auto& c : cases) {
    CAPTURE(c.document);
    CHECK(parse(c.document) == c.expected);
  }
}

TEST_CASE("probes/check spec bad documents name the key") {
  struct Bad {
    std::string document;
    std::string error;
  };
  const std::string long_body = std::string(kBodyScanBytes + 1, 'x');
  const std::vector<Bad> cases = {
      {R"([])", "arrays[0].check: expected an object, got an array"},
      {R"({"kind": "http"})", "arrays[0].check.kind: unknown key"},
      {R"({"type": "ftp"})", "arrays[0].check.type: expected \"http\", \"https\" or \"tcp\", got \"ftp\""},
      {R"({"type": 1})", "arrays[0].check.type: expected a string, got an integer"},
      {R"({"port": 0})", "arrays[0].check.port: expected 1 to 65535, got 0"},
      {R"({"port": 65536})", "arrays[0].check.port: expected 1 to 65535, got 65536"},
      {R"({"port": -1})", "arrays[0].check.port: expected 1 to 65535, got -1"},
      {R"({"port": "80"})", "arrays[0].check.port: expected an integer, got a string"},
      {R"({"port": 80.5})", "arrays[0].check.port: expected an integer, got a number with a fraction (80.5)"},
      {R"({"path": "healthz"})", "arrays[0].check.path: must start with \"/\", got \"healthz\""},
      {R"({"path": ""})", "arrays[0].check.path: must start with \"/\", got \"\""},
      {R"({"path": "/a b"})", "arrays[0].check.path: must not contain spaces, control or non-ASCII characters"},
      {R"({"path": "/a\r\nX-Evil: 1"})",
       "arrays[0].check.path: must not contain spaces, control or non-ASCII characters"},
      {R"({"host": "a.example\n"})",
       "arrays[0].check.host: must not contain spaces, control or non-ASCII characters"},
      {R"({"host": ")" + std::string(256, 'a') + R"("})", "arrays[0].check.host: longer than 255 characters"},
      {R"({"address": "web1"})", "arrays[0].check.address: \"web1\" is not an IPv4 or IPv6 address"},
      {R"({"address": "0.0.0.0"})", "arrays[0].check.address: \"0.0.0.0\" cannot be a server: unspecified (0.0.0.0/8 means this host, never a destination)"},
      {R"({"address": "224.0.0.1"})", "arrays[0].check.address: \"224.0.0.1\" cannot be a server: multicast (224.0.0.0/4)"},
      {R"({"address": 10})", "arrays[0].check.address: expected a string, got an integer"},
      {R"({"host": null})", "arrays[0].check.host: expected a string, got null"},
      {R"({"expect_status": 99})", "arrays[0].check.expect_status: expected a status from 100 to 599, got 99"},
      {R"({"expect_status": 600})", "arrays[0].check.expect_status: expected a status from 100 to 599, got 600"},
      {R"({"expect_status": "200"})",
       "arrays[0].check.expect_status: expected a status like 200 or a range like \"200-399\", got \"200\""},
      {R"({"expect_status": "200-"})",
       "arrays[0].check.expect_status: expected a status like 200 or a range like \"200-399\", got \"200-\""},
      {R"({"expect_status": "2xx"})",
       "arrays[0].check.expect_status: expected a status like 200 or a range like \"200-399\", got \"2xx\""},
      {R"({"expect_status": "200 - 399"})",
       "arrays[0].check.expect_status: expected a status like 200 or a range like \"200-399\", got \"200 - 399\""},
      {R"({"expect_status": "200-1000"})",
       "arrays[0].check.expect_status: expected a status like 200 or a range like \"200-399\", got \"200-1000\""},
      {R"({"expect_status": "200-600"})",
       "arrays[0].check.expect_status: expected a status from 100 to 599, got 600"},
      {R"({"expect_status": "399-200"})", "arrays[0].check.expect_status: the range \"399-200\" is backwards"},
      {R"({"expect_status": [200]})",
       "arrays[0].check.expect_status: expected a status like 200 or a range like \"200-399\", got an array"},
      {R"({"expect_body": ")" + long_body + R"("})",
       "arrays[0].check.expect_body: longer than the 65536 bytes of body that are read"},
      {R"({"interval": 5})", "arrays[0].check.interval: expected a duration with a unit, like \"5s\""},
      {R"({"interval": true})", "arrays[0].check.interval: expected a duration string like \"5s\", got a boolean"},
      {R"({"interval": "5"})", "arrays[0].check.interval: expected a duration with a unit, like \"10s\""},
      {R"({"interval": "5 s"})",
       "arrays[0].check.interval: unknown unit \" s\" in \"5 s\"; use ms, s, m or h"},
      {R"({"interval": "99ms"})", "arrays[0].check.interval: must be at least 100ms, got 99ms"},
      {R"({"interval": "0s"})", "arrays[0].check.interval: must be at least 100ms, got 0ms"},
      {R"({"timeout": "0ms"})", "arrays[0].check.timeout: must be greater than zero"},
      {R"({"timeout": "5s"})", "arrays[0].check.timeout: must be shorter than the interval (5s), got 5s"},
      {R"({"interval": "1s", "timeout": "2s"})",
       "arrays[0].check.timeout: must be shorter than the interval (1s), got 2s"},
      {R"({"rise": 0})", "arrays[0].check.rise: expected 1 to 100, got 0"},
      {R"({"fall": 101})", "arrays[0].check.fall: expected 1 to 100, got 101"},
      {R"({"fall": "3"})", "arrays[0].check.fall: expected an integer, got a string"},
      {R"({"tls_verify": "yes", "type": "https"})",
       "arrays[0].check.tls_verify: expected a boolean, got a string"},
      {R"({"tls_verify": true})", "arrays[0].check.tls_verify: only for https checks"},
      {R"({"type": "tcp", "tls_verify": false, "port": 1})", "arrays[0].check.tls_verify: only for https checks"},
      {R"({"type": "tcp"})", "arrays[0].check.port: required for tcp checks"},
      {R"({"type": "tcp", "port": 22, "path": "/"})", "arrays[0].check.path: only for http and https checks"},
      {R"({"type": "tcp", "port": 22, "host": "a"})", "arrays[0].check.host: only for http and https checks"},
      {R"({"type": "tcp", "port": 22, "expect_status": 200})",
       "arrays[0].check.expect_status: only for http and https checks"},
      {R"({"type": "tcp", "port": 22, "expect_body": "ok"})",
       "arrays[0].check.expect_body: only for http and https checks"},
      {R"({"type": "tcp", "port": 22, "weight_from_response": true})",
       "arrays[0].check.weight_from_response: only for http and https checks"},
      {R"({"weight_from_response": "yes"})",
       "arrays[0].check.weight_from_response: expected a boolean, got a string"},
      {R"({"type": "tcp", "port": 22, "reuse_connection": true})",
       "arrays[0].check.reuse_connection: only for http and https checks"},
      {R"({"reuse_connection": 1})", "arrays[0].check.reuse_connection: expected a boolean, got an integer"},
      {R"({"reuse_connections": true})", "arrays[0].check.reuse_connections: unknown key"},
      {R"({"quorum": "most"})",
       "arrays[0].check.quorum: expected \"majority\", \"any\", \"all\" or a number of nodes, got \"most\""},
      {R"({"quorum": 0})", "arrays[0].check.quorum: expected 1 to 1000 nodes, got 0"},
      {R"({"quorum": -2})", "arrays[0].check.quorum: expected 1 to 1000 nodes, got -2"},
      {R"({"quorum": 1.5})", "arrays[0].check.quorum: expected an integer, got a number with a fraction (1.5)"},
      {R"({"quorum": true})",
       "arrays[0].check.quorum: expected \"majority\", \"any\", \"all\" or a number of nodes, got a boolean"},
      {R"({"observers": 0})", "arrays[0].check.observers: expected 1 to 1000 nodes, got 0"},
      {R"({"observers": 1001})", "arrays[0].check.observers: expected 1 to 1000 nodes, got 1001"},
      {R"({"observers": "2"})", "arrays[0].check.observers: expected an integer, got a string"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.document.substr(0, 120));
    CHECK(error_for(c.document) == c.error);
  }
}

TEST_CASE("probes/check spec at the top level names bare keys") {
  try {
    parse_check(json::parse(R"({"rise": 0})"), "");
    FAIL("expected a ConfigError");
  } catch (const config::ConfigError& error) {
    CHECK(error.path == "rise");
    CHECK(error.reason == "expected 1 to 100, got 0");
  }
}

TEST_CASE("probes/check spec round trips through json") {
  const std::vector<std::string> documents = {
      "{}",
      R"({"type": "https", "port": 8443, "path": "/healthz", "host": "api.example.com",
          "expect_status": "200-299", "expect_body": "ok", "interval": "10s",
          "timeout": "1500ms", "rise": 1, "fall": 5, "tls_verify": true})",
      R"({"type": "tcp", "port": 5432, "interval": "1m", "timeout": "30s"})",
      R"({"expect_status": 204, "interval": "100ms"})",
      R"({"interval": "2h", "timeout": "90s", "path": "/a/b?c=d&e"})",
      R"({"quorum": "all", "observers": 3})",
      R"({"quorum": 2})",
      R"({"quorum": "any", "type": "tcp", "port": 22})",
      R"({"quorum": "majority"})",
      R"({"address": "127.0.0.9", "port": 8081})",
      R"({"address": "::1", "type": "tcp", "port": 22})",
      R"({"weight_from_response": true, "path": "/load"})",
      R"({"reuse_connection": true, "type": "https", "port": 8443})",
  };
  for (const auto& document : documents) {
    CAPTURE(document);
    const CheckSpec spec = parse(document);
    const json written = to_json(spec);
    CHECK(parse_check(written, "check") == spec);
    // Written once more it is the same text: the form is canonical.
    CHECK(to_json(parse_check(written, "check")).dump() == written.dump());
  }
}

TEST_CASE("probes/check spec cluster keys") {
  const CheckSpec defaults = parse("{}");
  CHECK(defaults.quorum.rule == Quorum::Rule::majority);
  CHECK(defaults.observers == 0);
  CHECK(parse(R"({"quorum": "majority"})") == defaults);
  CHECK(parse(R"({"quorum": "any"})").quorum.rule == Quorum::Rule::any);
  CHECK(parse(R"({"quorum": "all"})").quorum.rule == Quorum::Rule::all);
  const CheckSpec counted = parse(R"({"quorum": 2, "observers": 3})");
  CHECK(counted.quorum == Quorum{Quorum::Rule::count, 2});
  CHECK(counted.observers == 3);
  CHECK(to_string(counted.quorum) == "2");
  CHECK(to_json(counted)["quorum"] == 2);
  CHECK(to_json(counted)["observers"] == 3);
  CHECK(to_json(parse(R"({"quorum": "all"})"))["quorum"] == "all");
  // Left out at their defaults, so single-node checks read as before.
  CHECK_FALSE(to_json(defaults).contains("quorum"));
  CHECK_FALSE(to_json(defaults).contains("observers"));
}

TEST_CASE("probes/check spec json form") {
  CHECK(to_json(CheckSpec{}) == json::parse(R"({"type": "http", "path": "/", "expect_status": "200-399",
                                                "interval": "5s", "timeout": "2s", "rise": 2, "fall": 3})"));
  CHECK(to_json(parse(R"({"type": "tcp", "port": 22, "timeout": "500ms"})")) ==
        json::parse(R"({"type": "tcp", "port": 22, "interval": "5s", "timeout": "500ms",
                        "rise": 2, "fall": 3})"));
  CHECK(to_json(parse(R"({"type": "https", "expect_status": 200})")) ==
        json::parse(R"({"type": "https", "path": "/", "expect_status": 200, "interval": "5s",
                        "timeout": "2s", "rise": 2, "fall": 3, "tls_verify": false})"));
}

TEST_CASE("probes/format duration uses the largest exact unit") {
  struct Case {
    std::chrono::milliseconds duration;
    std::string text;
  };
  const std::vector<Case> cases = {
      {0ms, "0ms"},   {1ms, "1ms"}, {500ms, "500ms"}, {1500ms, "1500ms"}, {1000ms, "1s"},
      {90s, "90s"},   {60s, "1m"},  {61min, "61m"},   {2h, "2h"},
  };
  for (const auto& c : cases) {
    CHECK(format_duration(c.duration) == c.text);
    CHECK(config::parse_duration(c.text, "x") == c.duration);
  }
}

TEST_CASE("probes/describe a check") {
  struct Case {
    std::string document;
    std::string description;
  };
  const std::vector<Case> cases = {
      {"{}", "http :80/ every 5s"},
      {R"({"port": 8080, "path": "/healthz"})", "http :8080/healthz every 5s"},
      {R"({"type": "https", "host": "api.example.com", "interval": "10s", "expect_status": 204})",
       "https api.example.com:443/ every 10s expecting 204"},
      {R"({"expect_status": "200-299", "expect_body": "ok", "interval": "500ms"})",
       "http :80/ every 500ms expecting 200-299 containing \"ok\""},
      {R"({"expect_body": "0123456789012345678901234567890123456789"})",
       "http :80/ every 5s containing \"01234567890123456789012345678901...\""},
      {R"({"type": "tcp", "port": 5432})", "tcp :5432 every 5s"},
      {R"({"port": 8081, "path": "/up", "address": "10.0.0.9"})", "http :8081/up at 10.0.0.9 every 5s"},
      {R"({"reuse_connection": true})", "http :80/ every 5s on a kept connection"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.document);
    CHECK(describe(parse(c.document)) == c.description);
  }
}

TEST_CASE("probes/health policy takes rise and fall from the check") {
  const HealthPolicy policy = health_policy(parse(R"({"rise": 4, "fall": 7})"));
  CHECK(policy.rise == 4);
  CHECK(policy.fall == 7);
  CHECK(policy.change_penalty > 0);
}

}  // namespace
}  // namespace rotor::probes

TEST_CASE("probes/effective check merges an instance override over the array check") {
  using rotor::probes::effective_check;
  CHECK_FALSE(effective_check("", "", "check").has_value());

  const std::string array = R"({"type":"http","port":8080,"path":"/healthz","interval":"10s"})";
  const auto plain = effective_check(array, "", "check");
  REQUIRE(plain);
  CHECK(plain->port == 8080);
  CHECK(plain->timeout == std::chrono::seconds(2));

  // Keys replace keys; the rest is the array's, as written (the timeout
  // default follows the merged interval).
  const auto port = effective_check(array, R"({"port":9090,"interval":"1s"})", "check");
  REQUIRE(port);
  CHECK(port->port == 9090);
  CHECK(port->path == "/healthz");
  CHECK(port->timeout == std::chrono::milliseconds(500));

  // Another type replaces the array's check whole: the http path would be an error for tcp.
  const auto tcp = effective_check(array, R"({"type":"tcp","port":5432})", "check");
  REQUIRE(tcp);
  CHECK(tcp->type == rotor::probes::CheckSpec::Type::tcp);
  CHECK(tcp->interval == std::chrono::seconds(5));

  // The same type named again merges as usual.
  const auto same = effective_check(array, R"({"type":"http","path":"/up"})", "check");
  REQUIRE(same);
  CHECK(same->port == 8080);
  CHECK(same->path == "/up");

  // An instance check without an array check stands alone.
  const auto alone = effective_check("", R"({"type":"tcp","port":22})", "check");
  REQUIRE(alone);
  CHECK(alone->port == 22);

  CHECK_THROWS_WITH_AS(effective_check(array, R"({"timeout":"20s"})", "instances[3].check"),
                       "instances[3].check.timeout: must be shorter than the interval (10s), got 20s",
                       rotor::config::ConfigError);
  // Probe one address and answer another: only an instance may say where.
  const auto sidecar = effective_check(array, R"({"address":"::ffff:10.0.0.9","port":9000})", "check");
  REQUIRE(sidecar);
  REQUIRE(sidecar->address);
  CHECK(sidecar->address->to_string() == "10.0.0.9");  // the IPv4-mapped form is the IPv4 address
  CHECK(sidecar->port == 9000);
  CHECK_FALSE(plain->address.has_value());
  CHECK_THROWS_WITH_AS(effective_check(R"({"address":"10.0.0.9"})", "", "arrays[1].check"),
                       "arrays[1].check.address: only an instance's check may set the address probed "
                       "(here every instance would probe the same server)",
                       rotor::config::ConfigError);
  CHECK_THROWS_WITH_AS(effective_check("{", "", "check"), "check: not valid JSON",
                       rotor::config::ConfigError);
  CHECK_THROWS_WITH_AS(effective_check(array, "[1]", "check"), "check: expected an object, got an array",
                       rotor::config::ConfigError);
}

TEST_SUITE_END();
