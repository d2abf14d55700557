#include "server/app/zone_loader.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "server/arrays/array_state.h"
#include "server/geo/geo.h"
#include "zones/zone.h"

TEST_SUITE_BEGIN("unit/server/app/zone_loader");

using rotor::app::build_snapshot;
using rotor::app::SnapshotError;
using rotor::app::try_build_snapshot;
using rotor::config::Config;

namespace {

struct ZoneDir {
  std::filesystem::path path;
  ZoneDir() {
    path = std::filesystem::temp_directory_path() /
           ("rotor-loader-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~ZoneDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
  static inline int counter = 0;
};

// SOA, NS, and `extra` A records: 2 + extra records.
std::string zone_text(const std::string& origin, int extra) {
  std::string text = "$ORIGIN " + origin + "\n$TTL 300\n" +
                     "@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n"
                     "@ IN NS ns1\n";
  for (int i = 0; i < extra; ++i) {
    text += "host" + std::to_string(i) + " IN A 192.0.2." + std::to_string(i + 1) + "\n";
  }
  return text;
}

Config config_with(std::vector<rotor::config::ZoneSource> zones) {
  Config config;
  config.zones = std::move(zones);
  config.nsid = "test-nsid";
  return config;
}

}  // namespace

TEST_CASE("a snapshot holds every configured zone") {
  ZoneDir dir;
  Config config = config_with({{"", dir.write("a.zone", zone_text("a.test.", 2))},
                               {"b.test", dir.write("b.zone", zone_text("b.test.", 3))}});
  rotor::app::SnapshotBuild build = try_build_snapshot(config, 7);
  REQUIRE(build.errors.empty());
  REQUIRE(build.snapshot);
  CHECK(build.snapshot->zones.zones().size() == 2);
  CHECK(build.record_count == 9);
  CHECK(build.snapshot->generation == 7);
  CHECK(build.snapshot->options.nsid == "test-nsid");
  CHECK(build.snapshot->zones.zones()[0]->origin_text() == "a.test.");
}

TEST_CASE("no zones is a valid - empty snapshot") {
  auto snapshot = build_snapshot(Config{}, 1);
  REQUIRE(snapshot);
  CHECK(snapshot->zones.zones().empty());
}

TEST_CASE("every broken zone is reported - and a duplicate origin names both files") {
  ZoneDir dir;
  const std::string good = dir.write("a.zone", zone_text("a.test.", 1));
  const std::string again = dir.write("a-again.zone", zone_text("a.test.", 1));
  const std::string missing = (dir.path / "missing.zone").string();
  const std::string broken = dir.write("broken.zone", "$TTL 300\n@ IN SOA ns1 hostmaster\n");
  Config config = config_with({{"", good}, {"", again}, {"m.test", missing}, {"c.test", broken}});

  rotor::app::SnapshotBuild build = try_build_snapshot(config, 1);
  CHECK_FALSE(build.snapshot);
  REQUIRE(build.errors.size() == 3);
  CHECK(build.errors[0] == again + ": duplicate zone a.test. (already loaded from " + good + ")");
  CHECK(build.errors[1].rfind(missing + ":", 0) == 0);
  CHECK(build.errors[2].rfind(broken + ":", 0) == 0);

  try {
    build_snapshot(config, 1);
    FAIL("expected a SnapshotError");
  } catch (const SnapshotError& error) {
    CHECK(error.reasons == build.errors);
    CHECK(std::string(error.what()) ==
          build.errors[0] + "\n" + build.errors[1] + "\n" + build.errors[2]);
  }
}

TEST_SUITE_END();
