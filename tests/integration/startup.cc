// Startup must not hurt a running server: a second rotor on a served DNS
// address or on a database in use stops with exit 1 and a message naming the
// address or the file, before it writes anything; a taken address (DNS or
// API) stops startup before the database is created. And the systemd
// example starts the way its unit runs it: as an unprivileged user.

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

TEST_SUITE_BEGIN("integration/startup");

namespace rotor::itest {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kStartupQueryZone = std::string(ROTOR_TEST_DATA) + "/query/example.test.zone";
const std::string kUnitFile = std::string(ROTOR_SOURCE_DIR) + "/examples/systemd/rotor.service";
const std::string kExampleZone = std::string(ROTOR_SOURCE_DIR) + "/examples/zones/lb.example.test.zone";

bool startup_contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A socket the test holds on 127.0.0.1:port, like another server would.
class HeldSocket {
 public:
  HeldSocket(int type, uint16_t port, bool reuseport) : fd_(::socket(AF_INET, type | SOCK_CLOEXEC, 0)) {
    const int yes = 1;
    if (reuseport) ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
    if (type == SOCK_STREAM) ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    held_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
            (type != SOCK_STREAM || ::listen(fd_, 16) == 0);
  }
  ~HeldSocket() { ::close(fd_); }
  HeldSocket(const HeldSocket&) = delete;
  HeldSocket& operator=(const HeldSocket&) = delete;
  bool held() const { return held_; }

 private:
  int fd_;
  bool held_ = false;
};

// The bytes of the database and its WAL ("" for a file that does not exist).
std::string database_bytes(const fs::path& db) {
  std::string bytes;
  for (const char* suffix : {"", "-wal"}) {
    const fs::path file = db.string() + suffix;
    bytes += fs::exists(file) ? read_file(file.string()) : std::string();
    bytes += '\0';
  }
  return bytes;
}

json array_config(const TempDir& dir) {
  json config = declared_zone_config(dir);
  config["arrays"] = json::array(
      {{{"name", "web.lb.example.test"}, {"instances", {{{"address", "192.0.2.1"}}, {{"address", "192.0.2.2"}}}}}});
  return config;
}

TEST_CASE("a second rotor on a served DNS address exits 1 naming it - the first answers every query") {
  TempDir dir;
  RotorServer first({"--threads", "2", "--zone", kStartupQueryZone});
  REQUIRE(first.ready());
  const std::string address = "127.0.0.1:" + std::to_string(first.endpoint().port);
  const fs::path second_db = dir.path() / "second.db";

  std::string output;
  const int code = run_to_exit({ROTOR_BINARY, "serve", "--listen", address, "--api", "127.0.0.1:0", "--threads", "2",
                                "--zone", kStartupQueryZone, "--db", second_db.string()},
                               output, 5s);
  CAPTURE(output);
  CHECK(code == 1);
  CHECK(startup_contains(output, "cannot listen on " + address + ": Address already in use"));
  CHECK_FALSE(fs::exists(second_db));

  // Every query, each from its own source port (so SO_REUSEPORT would spread
  // them over a shared group), is answered by the first.
  int answered = 0;
  for (int query = 0; query < 64; ++query) {
    const std::optional<Reply> reply = exchange_udp(first.endpoint(), make_query("www.example.test.", "A", resolver_options()), 1s);
    if (reply && reply->packet && ldns_pkt_ancount(reply->packet.get()) == 2) ++answered;
  }
  CHECK(answered == 64);
  CHECK(exchange_tcp(first.endpoint(), make_query("www.example.test.", "A", resolver_options())));
  CHECK_FALSE(first.process().exited());
}

TEST_CASE("a taken DNS or API address stops startup before the database is created") {
  struct Case {
    std::string label;
    int type;
    bool reuseport;
    bool api;  // the held port is the API's, not DNS's
  };
  const std::vector<Case> cases{
      {"DNS UDP held by another SO_REUSEPORT group", SOCK_DGRAM, true, false},
      {"DNS TCP held by another SO_REUSEPORT group", SOCK_STREAM, true, false},
      {"DNS UDP held by a plain socket", SOCK_DGRAM, false, false},
      {"API port held by a listener", SOCK_STREAM, false, true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.label);
    TempDir dir;
    const uint16_t port = free_port();
    HeldSocket holder(c.type, port, c.reuseport);
    REQUIRE(holder.held());
    const std::string address = "127.0.0.1:" + std::to_string(port);
    json config = array_config(dir);
    config["listen"] = json::array({c.api ? "127.0.0.1:0" : address});
    config["api"] = {{"listen", c.api ? address : "127.0.0.1:0"}};

    std::string output;
    const int code = run_to_exit({ROTOR_BINARY, "serve", "--config", dir.write("rotor.json", config.dump())}, output, 5s);
    CAPTURE(output);
    CHECK(code == 1);
    const std::string expected = c.api ? "api.listen: cannot bind \"" + address + "\": Address already in use"
                                       : "cannot listen on " + address + ": Address already in use";
    CHECK(startup_contains(output, expected));
    CHECK_FALSE(fs::exists(dir.path() / "rotor.db"));
  }
}

TEST_CASE("a second rotor on the same database exits 1 naming the file and the PID - the database is unchanged") {
  ::unsetenv("ROTOR_API_TOKEN");
  TempDir dir;
  const std::string config_file = dir.write("rotor.json", array_config(dir).dump());
  const fs::path db = dir.path() / "rotor.db";
  RotorServer first({"--config", config_file});
  REQUIRE(first.ready());
  const int api_port = first.api_port();
  REQUIRE(api_port > 0);
  // An API write the config does not have: a second start would have undone
  // it by applying the config again.
  httplib::Client api("127.0.0.1", api_port);
  const auto added = api.Post("/v1/arrays/web.lb.example.test/instances", json{{"address", "192.0.2.3"}}.dump(),
                              "application/json");
  REQUIRE(added);
  REQUIRE(added->status == 201);
  const std::string before = database_bytes(db);

  std::string output;
  const int code = run_to_exit({ROTOR_BINARY, "serve", "--config", config_file}, output, 5s);
  CAPTURE(output);
  CHECK(code == 1);
  CHECK(startup_contains(output, "database " + db.string() + " is in use by another rotor (pid " +
                             std::to_string(first.process().pid()) + "), which holds " + db.string() + ".lock"));
  CHECK(database_bytes(db) == before);
  CHECK(answered_addresses(first.endpoint(), "web.lb.example.test") ==
        std::set<std::string>{"192.0.2.1", "192.0.2.2", "192.0.2.3"});

  // Once the first has stopped, the lock is free again.
  first.process().signal(SIGTERM);
  REQUIRE(first.process().wait_exit(5s));
  RotorServer next({"--config", config_file});
  CHECK(next.ready());
}

// --- the systemd example, run the way its unit runs it -----------------------

// The unit's lines matching `pattern`.
std::vector<std::string> unit_lines(const std::string& unit, const std::regex& pattern) {
  std::vector<std::string> found;
  std::istringstream lines(unit);
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_search(line, pattern)) found.push_back(line);
  }
  return found;
}

// The mode the unit's install instructions give `target` ("install ... -m 644 ... TARGET").
std::optional<fs::perms> install_mode(const std::string& unit, const std::string& target) {
  const std::regex line_pattern("install .*-m ([0-7]{3,4}) .*" + target);
  std::smatch match;
  for (const std::string& line : unit_lines(unit, line_pattern)) {
    if (std::regex_search(line, match, line_pattern)) {
      return static_cast<fs::perms>(std::stoi(match[1].str(), nullptr, 8));
    }
  }
  return std::nullopt;
}

// ExecStart=/usr/local/bin/rotor serve ... with every absolute path moved under `root`.
std::vector<std::string> unit_command(const std::string& unit, const std::string& key, const fs::path& root) {
  const std::vector<std::string> lines = unit_lines(unit, std::regex("^" + key + "="));
  if (lines.size() != 1) return {};
  std::vector<std::string> argv;
  std::istringstream words(lines.front().substr(key.size() + 1));
  for (std::string word; words >> word;) argv.push_back(word.front() == '/' ? root.string() + word : word);
  return argv;
}

void install(const std::string& from, const fs::path& to, fs::perms mode) {
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  fs::permissions(to, mode);
}

TEST_CASE("the systemd example starts as an unprivileged user and answers") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: the systemd example test needs root to run rotor as uid 65534 (CI runs as root)");
    return;
  }
  constexpr int kNobody = 65534;
  const std::string unit = read_file(kUnitFile);
  TempDir dir;
  const fs::path& root = dir.path();
  fs::permissions(root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);

  // As the unit's comment installs it: the binary, the config, the zones.
  const std::optional<fs::perms> binary_mode = install_mode(unit, "/usr/local/bin/rotor");
  const std::optional<fs::perms> config_mode = install_mode(unit, "/etc/rotor/rotor.json");
  const std::optional<fs::perms> zone_mode = install_mode(unit, "/etc/rotor/zones/");
  REQUIRE(binary_mode);
  REQUIRE(config_mode);
  REQUIRE(zone_mode);
  install(ROTOR_BINARY, root / "usr/local/bin/rotor", *binary_mode);
  install(kExampleZone, root / "etc/rotor/zones/lb.example.test.zone", *zone_mode);
  const json config{{"listen", {"127.0.0.1:0"}},
                    {"api", {{"listen", "127.0.0.1:0"}}},
                    {"zones", {"lb.example.test=zones/lb.example.test.zone"}},
                    {"arrays", {{{"name", "web.lb.example.test"}, {"instances", {{{"address", "192.0.2.7"}}}}}}}};
  TempDir staging;
  install(staging.write("rotor.json", config.dump(2)), root / "etc/rotor/rotor.json", *config_mode);
  // StateDirectory=rotor: systemd makes /var/lib/rotor, owned by the service's user.
  REQUIRE(unit_lines(unit, std::regex("^StateDirectory=rotor$")).size() == 1);
  const fs::path state = root / "var/lib/rotor";
  fs::create_directories(state);
  REQUIRE(::chown(state.c_str(), kNobody, kNobody) == 0);

  const std::vector<std::string> as_nobody{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
  std::vector<std::string> check = as_nobody;
  for (const std::string& word : unit_command(unit, "ExecStartPre", root)) check.push_back(word);
  REQUIRE(check.size() > as_nobody.size());
  std::string output;
  CHECK_MESSAGE(run_to_exit(check, output) == 0, "ExecStartPre as uid 65534:\n" << output);

  std::vector<std::string> serve = as_nobody;
  for (const std::string& word : unit_command(unit, "ExecStart", root)) serve.push_back(word);
  REQUIRE(serve.size() > as_nobody.size());
  Process rotor(serve, "/");  // systemd's working directory
  const std::optional<std::string> line = rotor.wait_for_stdout_line("listening ", 10s);
  REQUIRE_MESSAGE(line, "ExecStart as uid 65534 did not start; stderr:\n" << rotor.stderr_text());
  const std::vector<Endpoint> endpoints = parse_listening_line(*line);
  REQUIRE(endpoints.size() == 1);
  CHECK(answered_addresses(endpoints.front(), "www.lb.example.test") ==
        std::set<std::string>{"192.0.2.10", "192.0.2.11"});
  CHECK(answered_addresses(endpoints.front(), "web.lb.example.test") == std::set<std::string>{"192.0.2.7"});
  CHECK(fs::exists(state / "rotor.db"));
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
