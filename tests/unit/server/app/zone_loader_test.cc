#include "server/app/zone_loader.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "server/arrays/array_state.h"
#include "server/dnssec/key_files.h"
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

TEST_CASE("a zone with dnssec.keys is signed with the key in the directory") {
  ZoneDir dir;
  std::filesystem::create_directories(dir.path / "keys");
  const std::string keys = (dir.path / "keys").string();
  const auto key = rotor::dnssec::SigningKey::generate("a.test.", rotor::dnssec::kEcdsaP256Sha256,
                                                       1000, 1000);
  rotor::dnssec::write_key_files(keys, key);
  Config config = config_with({{"", dir.write("a.zone", zone_text("a.test.", 1)), keys, "zones[0]"},
                               {"b.test", dir.write("b.zone", zone_text("b.test.", 1))}});
  const auto signatures = std::make_shared<rotor::dnssec::SharedSignatureCache>();
  rotor::app::SnapshotBuild build = try_build_snapshot(config, 1, signatures);
  REQUIRE(build.errors.empty());
  const auto& zones = build.snapshot->zones.zones();
  REQUIRE(zones.size() == 2);
  REQUIRE(zones[0]->online_signer() != nullptr);
  CHECK(zones[0]->online_signer()->key_tag() == key.tag());
  CHECK(zones[0]->denial() == rotor::zones::Zone::Denial::compact);
  CHECK(zones[0]->apex().find(rotor::dnssec::kTypeDnskey) != nullptr);
  CHECK(zones[1]->online_signer() == nullptr);
  CHECK_FALSE(zones[1]->is_signed());
  // A reload of the same zone with the same cache signs nothing new.
  const uint64_t made = signatures->stats().signatures_made;
  CHECK(made > 0);
  REQUIRE(try_build_snapshot(config, 2, signatures).errors.empty());
  CHECK(signatures->stats().signatures_made == made);
}

TEST_CASE("dnssec.keys errors name the config key and the key file") {
  ZoneDir dir;
  std::filesystem::create_directories(dir.path / "keys");
  const std::string keys = (dir.path / "keys").string();
  const std::string zone = dir.write("a.zone", zone_text("a.test.", 1));
  const std::string signed_zone =
      dir.write("signed.zone", zone_text("a.test.", 1) + "host0 IN NSEC host0 A RRSIG NSEC\n");
  const std::string bad_private = dir.write("keys/Ka.test.+013+00001.private", "Private-key-format: v1.3\n");
  dir.write("keys/Ka.test.+013+00001.key", "a.test. IN DNSKEY 257 3 13 AAAA\n");
  const std::string missing = (dir.path / "nokeys").string();
  const auto key = rotor::dnssec::SigningKey::generate("a.test.", rotor::dnssec::kEcdsaP256Sha256,
                                                       1000, 1000);
  const std::string good_keys = (dir.path / "good").string();
  std::filesystem::create_directories(good_keys);
  rotor::dnssec::write_key_files(good_keys, key);
  const struct {
    rotor::config::ZoneSource source;
    std::string expected_start;
  } cases[] = {
      {{"", zone, missing, "zones[0]"}, "rotor.json: zones[0].dnssec.keys: " + missing + ": cannot read the key directory"},
      {{"", zone, keys, "zones[3]"}, "rotor.json: zones[3].dnssec.keys: " + bad_private + ": "},
      {{"", signed_zone, good_keys, "zones[1]"},
       "rotor.json: zones[1].dnssec.keys: " + signed_zone +
           ": the zone file is signed already (NSEC at host0.a.test.): a zone rotor signs "
           "(dnssec.keys) must come unsigned"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.expected_start);
    Config config = config_with({c.source});
    config.file = "rotor.json";
    rotor::app::SnapshotBuild build = try_build_snapshot(config, 1);
    REQUIRE(build.errors.size() == 1);
    CHECK(build.errors[0].rfind(c.expected_start, 0) == 0);
    CHECK_FALSE(build.snapshot);
  }
}

TEST_SUITE_END();
