// `rotor ctl` end to end: the binary's client against a running rotor with
// scoped tokens over HTTPS, each command's table, its --json, and the exit
// codes that say what failed. Answers are checked with real DNS packets.

#include <stdlib.h>

#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/unit/api/test_certificate.h"

namespace rotor::itest {
namespace {

using nlohmann::json;

// The A records of one answer for `name`.
std::set<std::string> answer(const Endpoint& server, const std::string& name) {
  std::set<std::string> addresses;
  const std::optional<Reply> reply = exchange_udp(server, make_query(name, "A", resolver_options()));
  if (!reply || !reply->packet) return addresses;
  const ldns_rr_list* records = ldns_pkt_answer(reply->packet.get());
  for (size_t i = 0; i < ldns_rr_list_rr_count(records); ++i) {
    char* text = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(records, i), 0));
    addresses.insert(text);
    std::free(text);
  }
  return addresses;
}

struct Ctl {
  std::string url;
  std::string ca;

  // Runs `rotor ctl ARGS` with `token` in ROTOR_API_TOKEN; the exit code, output in `output`.
  int operator()(const std::vector<std::string>& args, std::string& output, const std::string& token) const {
    std::vector<std::string> argv{"/usr/bin/env", "ROTOR_API_TOKEN=" + token, ROTOR_BINARY, "ctl",
                                  "--api",        url,                       "--ca",       ca};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_to_exit(argv, output);
  }
};

TEST_SUITE("integration/ctl") {
  TEST_CASE("rotor ctl drives a running rotor - tables - json - and exit codes") {
    ::unsetenv("ROTOR_API_TOKEN");
    TempDir dir;
    const std::string cert = (dir.path() / "cert.pem").string();
    api::test::write_test_certificate(cert, (dir.path() / "key.pem").string());
    std::string write_hash;
    std::string read_hash;
    REQUIRE(run_to_exit({"/bin/sh", "-c", "printf %s ops-secret | sha256sum"}, write_hash) == 0);
    REQUIRE(run_to_exit({"/bin/sh", "-c", "printf %s view-secret | sha256sum"}, read_hash) == 0);
    json config = declared_zone_config(dir);
    config["api"] = {{"listen", "127.0.0.1:0"},
                     {"tls", {{"cert", "cert.pem"}, {"key", "key.pem"}}},
                     {"tokens", {{{"name", "ops"}, {"scope", "write"}, {"sha256", write_hash.substr(0, 64)}},
                                 {{"name", "view"}, {"scope", "read"}, {"sha256", read_hash.substr(0, 64)}}}}};
    config["arrays"] = {{{"name", "web.lb.example.test."}}};  // the config's, its instances the API's
    RotorServer server({"--config", dir.write("rotor.json", config.dump())});
    REQUIRE(server.ready());
    const int port = server.api_port();
    REQUIRE_MESSAGE(port > 0, server.process().stderr_text());
    const Ctl ctl{"https://127.0.0.1:" + std::to_string(port), cert};
    std::string out;

    // Adding and listing.
    REQUIRE(ctl({"instances", "add", "web.lb.example.test", "127.0.0.41", "--weight", "200"}, out, "ops-secret") == 0);
    CHECK(out.find("added") != std::string::npos);
    REQUIRE(ctl({"instances", "add", "web.lb.example.test", "127.0.0.42"}, out, "ops-secret") == 0);
    CHECK(answer(server.endpoint(), "web.lb.example.test.") == std::set<std::string>{"127.0.0.41", "127.0.0.42"});

    REQUIRE(ctl({"arrays"}, out, "view-secret") == 0);
    CAPTURE(out);
    CHECK(out.rfind("NAME", 0) == 0);
    CHECK(out.find("web.lb.example.test.") != std::string::npos);
    REQUIRE(ctl({"array", "web.lb.example.test"}, out, "view-secret") == 0);
    CHECK(out.find("127.0.0.41") != std::string::npos);
    CHECK(out.find("200") != std::string::npos);
    REQUIRE(ctl({"--json", "array", "web.lb.example.test"}, out, "view-secret") == 0);
    const json shown = json::parse(out);
    REQUIRE(shown["instances"].size() == 2);

    // Drain by address: it leaves the answers; enable brings it back; weight and removal by address.
    REQUIRE(ctl({"instances", "drain", "web.lb.example.test", "127.0.0.42"}, out, "ops-secret") == 0);
    CHECK(answer(server.endpoint(), "web.lb.example.test.") == std::set<std::string>{"127.0.0.41"});
    REQUIRE(ctl({"instances", "enable", "web.lb.example.test", "::ffff:127.0.0.42"}, out, "ops-secret") == 0);
    CHECK(answer(server.endpoint(), "web.lb.example.test.") == std::set<std::string>{"127.0.0.41", "127.0.0.42"});
    REQUIRE(ctl({"instances", "set-weight", "web.lb.example.test", "127.0.0.41", "300"}, out, "ops-secret") == 0);
    REQUIRE(ctl({"instances", "remove", "web.lb.example.test", "127.0.0.41"}, out, "ops-secret") == 0);
    CHECK(answer(server.endpoint(), "web.lb.example.test.") == std::set<std::string>{"127.0.0.42"});

    REQUIRE(ctl({"health", "web.lb.example.test"}, out, "view-secret") == 0);
    CHECK(out.find("127.0.0.42") != std::string::npos);
    REQUIRE(ctl({"explain", "web.lb.example.test", "--client", "127.0.0.1"}, out, "view-secret") == 0);
    CHECK(out.find("NOERROR") != std::string::npos);
    CHECK(out.find("127.0.0.42") != std::string::npos);

    // The audit log names the token that made each change; --json is one object a line.
    REQUIRE(ctl({"events", "--array", "web.lb.example.test"}, out, "view-secret") == 0);
    CHECK(out.find("ops") != std::string::npos);
    CHECK(out.find("draining") != std::string::npos);
    REQUIRE(ctl({"--json", "events", "--kind", "admin"}, out, "view-secret") == 0);
    size_t lines = 0;
    for (size_t at = 0; (at = out.find('\n', at)) != std::string::npos; ++at) ++lines;
    CHECK(lines >= 5);
    CHECK(json::parse(out.substr(0, out.find('\n')))["kind"] == "admin");

    REQUIRE(ctl({"reload"}, out, "ops-secret") == 0);
    CHECK(out.find("reloaded") != std::string::npos);

    // What failed, by exit code, with the API's message.
    struct Failure {
      std::vector<std::string> args;
      std::string token;
      int code;
      std::string message;
    };
    const std::vector<Failure> failures = {
        {{"array", "nope.lb.example.test"}, "view-secret", 3, "404"},
        {{"instances", "drain", "web.lb.example.test", "127.0.0.99"}, "ops-secret", 3,
         "no instance with address 127.0.0.99"},
        {{"instances", "drain", "web.lb.example.test", "127.0.0.42"}, "view-secret", 4, "403"},
        {{"arrays"}, "wrong-secret", 4, "401"},
        {{"instances", "add", "web.lb.example.test", "0.0.0.0"}, "ops-secret", 1, "cannot be a server"},
        {{"instances", "add", "web.lb.example.test", "127.0.0.42"}, "ops-secret", 1, "409"},
        {{"instances", "set-weight", "web.lb.example.test", "127.0.0.42", "5000"}, "ops-secret", 2, "weight"},
        {{"nonsense"}, "ops-secret", 2, ""},
    };
    for (const Failure& failure : failures) {
      CAPTURE(failure.args);
      std::string output;
      CHECK(ctl(failure.args, output, failure.token) == failure.code);
      CAPTURE(output);
      CHECK(output.find(failure.message) != std::string::npos);
    }
    std::string unreachable;
    CHECK(run_to_exit({ROTOR_BINARY, "ctl", "--api", "http://127.0.0.1:" + std::to_string(free_port()), "arrays"},
                      unreachable) == 5);
    CHECK(unreachable.find("cannot reach the API") != std::string::npos);
  }
}

}  // namespace
}  // namespace rotor::itest
