// `rotor keygen` as an operator runs it: the files it writes (names, modes,
// formats other tools read), the DS it prints (the same as ldns-key2ds
// computes from the .key file, and ldns-signzone signs with the key), its
// refusal to overwrite, and its exit codes for bad input.

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/integration/harness.h"

TEST_SUITE_BEGIN("integration/keygen");

namespace rotor::itest {
namespace {

unsigned mode_of(const std::filesystem::path& path) {
  struct stat status {};
  ::stat(path.c_str(), &status);
  return status.st_mode & 0777;
}

std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST_CASE("keygen writes a CSK pair and prints the DS that ldns-key2ds computes") {
  for (const char* algorithm : {"13", "15"}) {
    CAPTURE(algorithm);
    TempDir dir;
    std::string output;
    Process keygen({ROTOR_BINARY, "keygen", "Example.Test", "--dir", dir.path().string(),
                    "--algorithm", algorithm});
    REQUIRE(keygen.wait_exit(10s) == 0);
    const std::string ds = keygen.stdout_text();
    std::smatch match;
    REQUIRE(std::regex_match(ds, match, std::regex("example\\.test\\.\\t3600\\tIN\\tDS\\t(\\d+) " +
                                                   std::string(algorithm) + " 2 [0-9a-f]{64}\\n")));
    const unsigned tag = std::stoul(match[1]);
    char base[64];
    std::snprintf(base, sizeof base, "Kexample.test.+%03d+%05u", std::stoi(algorithm), tag);
    CHECK(files_in(dir.path()) ==
          std::vector<std::string>{std::string(base) + ".key", std::string(base) + ".private"});
    CHECK(mode_of(dir.path() / (std::string(base) + ".private")) == 0600);
    CHECK(mode_of(dir.path() / (std::string(base) + ".key")) == 0644);
    CHECK(keygen.stderr_text().find("key tag " + std::to_string(tag)) != std::string::npos);
    const std::string private_text = read_file((dir.path() / (std::string(base) + ".private")).string());
    CHECK(private_text.find("Private-key-format: v1.3\nAlgorithm: " + std::string(algorithm)) == 0);
    CHECK(private_text.find("\nActivate: ") != std::string::npos);

    // ldns-key2ds (ldnsutils) reads the .key file and computes the same DS.
    REQUIRE(run_to_exit({"/bin/sh", "-c", "cd " + dir.path().string() + " && ldns-key2ds -n -2 " +
                                              base + ".key"},
                        output) == 0);
    CHECK(output == ds);

    // ldns-signzone reads the .private file and signs a zone that verifies.
    const std::string zone = dir.write(
        "zone", "example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n"
                "example.test. 3600 IN NS ns.example.test.\nns.example.test. 3600 IN A 192.0.2.53\n");
    REQUIRE(run_to_exit({"/bin/sh", "-c", "cd " + dir.path().string() + " && ldns-signzone -n zone " +
                                              base + " && ldns-verify-zone zone.signed"},
                        output) == 0);
    CHECK(output.find("Zone is verified and complete") != std::string::npos);
  }
}

TEST_CASE("keygen never overwrites a key file") {
  // The key tag is random, so every name an algorithm-13 key of the zone can
  // get is taken first: whichever key keygen makes, its .key file exists.
  TempDir dir;
  for (unsigned tag = 0; tag <= 0xffff; ++tag) {
    char name[64];
    std::snprintf(name, sizeof name, "Kexample.test.+013+%05u.key", tag);
    std::ofstream(dir.path() / name);
  }
  std::string output;
  CHECK(run_to_exit({ROTOR_BINARY, "keygen", "example.test", "--dir", dir.path().string()}, output) == 1);
  std::smatch match;
  REQUIRE(std::regex_search(output, match,
                            std::regex("rotor keygen: (\\S+\\.key): exists already; rotor keygen never "
                                       "overwrites a key\\n")));
  CHECK(std::filesystem::file_size(match[1].str()) == 0);
  size_t keys = 0;
  size_t others = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++(entry.path().extension() == ".key" ? keys : others);
  }
  CHECK(keys == 0x10000);
  CHECK(others == 0);  // no .private left behind
}

TEST_CASE("keygen exit codes: 1 when it cannot write and 2 for bad input") {
  TempDir dir;
  std::string output;
  REQUIRE(run_to_exit({ROTOR_BINARY, "keygen", "example.test", "--dir", dir.path().string(),
                       "--activate", "none"},
                      output) == 0);
  const std::vector<std::string> made = files_in(dir.path());
  REQUIRE(made.size() == 2);
  CHECK(read_file((dir.path() / made[1]).string()).find("Activate:") == std::string::npos);
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"keygen", "example.test", "--dir", "/nonexistent-rotor-dir"}, 1,
       "rotor keygen: /nonexistent-rotor-dir: is not a directory"},
      {{"keygen", "example.test", "--dir", "/proc"}, 1, ".private: cannot create: "},
      {{"keygen", "ex/ample.test", "--dir", dir.path().string()}, 2,
       "rotor keygen: 'ex/ample.test' is not a zone name"},
      {{"keygen", "example.test", "--dir", dir.path().string(), "--algorithm", "8"}, 2,
       "--algorithm: 8 not in {13,15}"},
      {{"keygen", "example.test", "--dir", dir.path().string(), "--activate", "tomorrow"}, 2,
       "rotor keygen: --activate 'tomorrow' is not now, none or YYYYMMDDHHMMSS"},
      {{"keygen", "example.test"}, 2, "--dir is required"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    std::vector<std::string> argv{ROTOR_BINARY};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CHECK(run_to_exit(argv, output) == c.code);
    CHECK(output.find(c.message) != std::string::npos);
  }
  CHECK(files_in(dir.path()) == made);
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
