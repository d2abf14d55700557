// `rotor ctl` end to end: the binary's client against a running rotor with
// scoped tokens over HTTPS, each command's table, its --json, and the exit
// codes that say what failed. Answers are checked with real DNS packets.
// `events --follow` sees a change made meanwhile; the bash completion the
// binary prints completes in a real bash.

#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"
#include "tests/unit/api/test_certificate.h"

namespace rotor::itest {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

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

// Waits until the process's stdout contains `text`; false after `timeout`.
bool wait_for_stdout(Process& process, const std::string& text, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (process.stdout_text().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > end || process.exited()) return false;
    process.wait_for_stdout_line("\x01never", 50ms);
  }
  return true;
}

// What bash's completion function from `script` offers for `words` (the
// last one being completed), one word a line, sorted.
std::set<std::string> complete(const std::string& script, const std::vector<std::string>& words) {
  std::vector<std::string> argv{"/bin/bash", "--norc", "-c",
                                "source \"$0\" || exit 9\n"
                                "complete -p rotor >/dev/null || exit 8\n"
                                "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); COMPREPLY=()\n"
                                "_rotor_complete && printf '%s\\n' \"${COMPREPLY[@]}\"",
                                script};
  argv.insert(argv.end(), words.begin(), words.end());
  std::string output;
  REQUIRE(run_to_exit(argv, output) == 0);
  std::set<std::string> offered;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) offered.insert(line);
  }
  return offered;
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
    CHECK(out.find("rotor.json: arrays[0]\n") != std::string::npos);  // its source: the config's
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

  TEST_CASE("rotor ctl events --follow prints a change made meanwhile and stops on SIGTERM") {
    TempDir dir;
    json config = declared_zone_config(dir);
    config["api"] = {{"listen", "127.0.0.1:0"}, {"token", "follow-secret"}};
    config["arrays"] = {{{"name", "web.lb.example.test."}}};
    RotorServer server({"--config", dir.write("rotor.json", config.dump())});
    REQUIRE(server.ready());
    const std::string url = "http://127.0.0.1:" + std::to_string(server.api_port());
    const auto ctl = [&url](std::vector<std::string> args) {
      std::vector<std::string> argv{"/usr/bin/env", "ROTOR_API_TOKEN=follow-secret", ROTOR_BINARY, "ctl", "--api", url};
      argv.insert(argv.end(), args.begin(), args.end());
      return argv;
    };
    std::string out;
    REQUIRE(run_to_exit(ctl({"instances", "add", "web.lb.example.test", "127.0.0.44"}), out) == 0);

    Process follow(ctl({"events", "--follow", "--array", "web.lb.example.test"}));
    // The first page (the add) comes at once; then it long-polls (wait=20).
    REQUIRE_MESSAGE(wait_for_stdout(follow, "instance added", 5s), (follow.stdout_text() + follow.stderr_text()));
    CHECK(follow.stdout_text().rfind("ID", 0) == 0);
    // Each change ends the long poll early: seen well before the 20 s wait ends.
    REQUIRE(run_to_exit(ctl({"instances", "drain", "web.lb.example.test", "127.0.0.44"}), out) == 0);
    CHECK_MESSAGE(wait_for_stdout(follow, "draining", 5s), (follow.stdout_text() + follow.stderr_text()));
    REQUIRE(run_to_exit(ctl({"instances", "set-weight", "web.lb.example.test", "127.0.0.44", "7"}), out) == 0);
    CHECK_MESSAGE(wait_for_stdout(follow, "instance changed: weight", 5s), follow.stdout_text());
    // --array: a reload's event (no array) is not printed; the removal after it is.
    REQUIRE(run_to_exit(ctl({"reload"}), out) == 0);
    REQUIRE(run_to_exit(ctl({"instances", "remove", "web.lb.example.test", "127.0.0.44"}), out) == 0);
    CHECK_MESSAGE(wait_for_stdout(follow, "instance removed", 5s), follow.stdout_text());
    CHECK(follow.stdout_text().find("reload") == std::string::npos);
    CHECK(!follow.exited());

    follow.signal(SIGTERM);
    const std::optional<int> code = follow.wait_exit(5s);
    REQUIRE(code.has_value());
    CHECK(*code == 128 + SIGTERM);
  }

  TEST_CASE("rotor ctl completion bash completes rotor in bash from its own command tree") {
    TempDir dir;
    std::string script;
    REQUIRE(run_to_exit({ROTOR_BINARY, "ctl", "completion", "bash"}, script) == 0);
    const std::string file = dir.write("rotor.bash", script);
    const std::string config = dir.write("rotor.json", "{}");

    struct Case {
      std::vector<std::string> words;
      std::set<std::string> offered;
    };
    const std::vector<Case> cases = {
        {{"rotor", ""}, {"check", "ctl", "hash-token", "keygen", "serve"}},
        {{"rotor", "ctl", "inst"}, {"instances"}},
        {{"rotor", "ctl", "instances", ""}, {"add", "disable", "drain", "enable", "remove", "set-weight"}},
        {{"rotor", "ctl", "--js"}, {"--json"}},
        {{"rotor", "ctl", "--json", "instances", "dr"}, {"drain"}},
        {{"rotor", "ctl", "--api", "http://127.0.0.1:8053", "ar"}, {"array", "arrays"}},
        {{"rotor", "ctl", "--api", ""}, {}},
        {{"rotor", "ctl", "events", "--f"}, {"--follow"}},
        {{"rotor", "ctl", "explain", "--type", ""}, {"A", "AAAA"}},
        {{"rotor", "ctl", "completion", ""}, {"bash"}},
        {{"rotor", "serve", "--log-format", "j"}, {"json"}},
        {{"rotor", "serve", "--thr"}, {"--threads"}},
        {{"rotor", "serve", "--config", (dir.path() / "rotor.j").string()}, {config}},
        {{"rotor", "check", "--h"}, {"--help"}},
        {{"rotor", "nonsense", ""}, {"check", "ctl", "hash-token", "keygen", "serve"}},
    };
    for (const Case& test : cases) {
      CAPTURE(test.words);
      CHECK(complete(file, test.words) == test.offered);
    }
  }
}

}  // namespace
}  // namespace rotor::itest
