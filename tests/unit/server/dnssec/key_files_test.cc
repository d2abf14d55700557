// Key files: what `rotor keygen` writes (BIND's formats, modes, never
// overwriting) and how a zone's key directory is read back and validated,
// with the error naming the file and the reason; which key is active.
#include "server/dnssec/key_files.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

TEST_SUITE_BEGIN("unit/server/dnssec/key_files");

namespace rotor::dnssec {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kKeyFilesNow = 1796000000;

struct TempDir {
  fs::path path;
  TempDir() {
    static int count = 0;
    path = fs::temp_directory_path() /
           ("rotor-key-files-" + std::to_string(::getpid()) + "-" + std::to_string(++count));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path / name);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
};

unsigned mode_of(const std::string& path) {
  struct stat status {};
  ::stat(path.c_str(), &status);
  return status.st_mode & 0777;
}

std::string error_of(const std::string& dir, const std::string& zone) {
  try {
    load_zone_keys(dir, zone, kKeyFilesNow);
  } catch (const KeyError& error) {
    return error.what();
  }
  return "";
}

TEST_CASE("the files keygen writes: names modes and BIND formats") {
  const TempDir dir;
  const SigningKey key = SigningKey::generate("Files.Test", kEcdsaP256Sha256, kKeyFilesNow, kKeyFilesNow);
  const KeyFilePaths paths = write_key_files(dir.path.string(), key);
  char base[64];
  std::snprintf(base, sizeof base, "Kfiles.test.+013+%05u", key.tag());
  CHECK(paths.key == (dir.path / (std::string(base) + ".key")).string());
  CHECK(paths.private_file == (dir.path / (std::string(base) + ".private")).string());
  CHECK(mode_of(paths.private_file) == 0600);
  CHECK(mode_of(paths.key) == 0644);
  const std::string private_text = dir.read(std::string(base) + ".private");
  CHECK(private_text.rfind("Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: ", 0) == 0);
  CHECK(private_text.find("\nActivate: 20261130") != std::string::npos);
  const std::string key_text = dir.read(std::string(base) + ".key");
  CHECK(key_text.find("files.test.\t3600\tIN\tDNSKEY\t257 3 13 ") != std::string::npos);
}

TEST_CASE("keygen never overwrites and leaves nothing behind when it cannot write") {
  const TempDir dir;
  const SigningKey key = SigningKey::generate("files.test", kEd25519, kKeyFilesNow, kKeyFilesNow);
  const KeyFilePaths paths = write_key_files(dir.path.string(), key);
  const std::string before = dir.read(fs::path(paths.private_file).filename().string());
  try {
    write_key_files(dir.path.string(), key);
    FAIL("the second write succeeded");
  } catch (const KeyError& error) {
    CHECK(std::string(error.what()) == paths.key + ": exists already; rotor keygen never overwrites a key");
  }
  CHECK(dir.read(fs::path(paths.private_file).filename().string()) == before);
  // Only the .private exists: still refused, the existing file untouched.
  fs::remove(paths.key);
  CHECK_THROWS_WITH_AS(write_key_files(dir.path.string(), key),
                       (paths.private_file + ": exists already; rotor keygen never overwrites a key").c_str(),
                       KeyError);
  CHECK_FALSE(fs::exists(paths.key));
  CHECK_THROWS_WITH_AS(write_key_files((dir.path / "missing").string(), key),
                       ((dir.path / "missing").string() + ": is not a directory").c_str(), KeyError);
}

TEST_CASE("keys load back with their tag and metadata") {
  const TempDir dir;
  const SigningKey written = SigningKey::generate("files.test", kEd25519, kKeyFilesNow, kKeyFilesNow - 10);
  write_key_files(dir.path.string(), written);
  const ZoneKeys loaded = load_zone_keys(dir.path.string(), "FILES.test", kKeyFilesNow);
  REQUIRE(loaded.keys.size() == 1);
  const SigningKey& key = loaded.keys[0];
  CHECK(key.tag() == written.tag());
  CHECK(key.algorithm() == kEd25519);
  CHECK(key.flags() == kCskFlags);
  CHECK(key.dnskey_rdata() == written.dnskey_rdata());
  CHECK(key.ds_text() == written.ds_text());
  CHECK(key.activate() == kKeyFilesNow - 10);
  CHECK(key.created() == kKeyFilesNow);
  CHECK(key.zone_text() == "files.test.");
}

TEST_CASE("the active key is the one activated last and not in the future") {
  struct Case {
    const char* what;
    std::vector<std::optional<int64_t>> activations;
    int active;  // index, or -1: no key is active
  };
  const std::vector<Case> cases = {
      {"one active key", {kKeyFilesNow - 100}, 0},
      {"the later of two past activations", {kKeyFilesNow - 100, kKeyFilesNow - 10}, 1},
      {"a future activation is published only", {kKeyFilesNow - 100, kKeyFilesNow + 10}, 0},
      {"activated exactly now", {kKeyFilesNow - 100, kKeyFilesNow}, 1},
      {"a key without Activate is published only", {std::nullopt, kKeyFilesNow - 5}, 1},
      {"no key active", {std::nullopt, kKeyFilesNow + 10}, -1},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const TempDir dir;
    std::vector<uint16_t> tags;
    for (const auto& activate : c.activations) {
      const SigningKey key = SigningKey::generate("files.test", kEcdsaP256Sha256, kKeyFilesNow - 200, activate);
      write_key_files(dir.path.string(), key);
      tags.push_back(key.tag());
    }
    if (c.active < 0) {
      CHECK(error_of(dir.path.string(), "files.test") ==
            dir.path.string() + ": no key for files.test. is active: none has an Activate time that has passed");
      continue;
    }
    const ZoneKeys loaded = load_zone_keys(dir.path.string(), "files.test", kKeyFilesNow);
    CHECK(loaded.keys.size() == c.activations.size());
    CHECK(loaded.keys[loaded.active].tag() == tags[static_cast<size_t>(c.active)]);
  }
}

TEST_CASE("a private key without timing metadata as ldns-keygen writes it is active") {
  const TempDir dir;
  const SigningKey made = SigningKey::generate("files.test", kEd25519, kKeyFilesNow, std::nullopt);
  std::string legacy = made.private_file_text();
  legacy = legacy.substr(0, legacy.find("Created:"));
  legacy.replace(0, std::string("Private-key-format: v1.3").size(), "Private-key-format: v1.2");
  const std::string base = "Kfiles.test.+015+" + std::to_string(made.tag());
  dir.write(base + ".private", legacy);
  // ldns-keygen's .key line: TTL, flags 257 and ldns's trailing comment.
  dir.write(base + ".key", made.dnskey_text().substr(0, made.dnskey_text().size() - 1) +
                               " ;{id = " + std::to_string(made.tag()) + " (ksk), size = 256b}\n");
  const ZoneKeys loaded = load_zone_keys(dir.path.string(), "files.test", kKeyFilesNow);
  REQUIRE(loaded.keys.size() == 1);
  CHECK(loaded.keys[0].activate() == 0);
  CHECK(loaded.keys[0].tag() == made.tag());
  // The same key with metadata but no Activate is published only.
  dir.write(base + ".private", made.private_file_text());
  CHECK(error_of(dir.path.string(), "files.test").find("no key for files.test. is active") !=
        std::string::npos);
}

TEST_CASE("bad key directories are refused naming the file and the reason") {
  const SigningKey key = SigningKey::generate("files.test", kEcdsaP256Sha256, kKeyFilesNow, kKeyFilesNow);
  const SigningKey other = SigningKey::generate("files.test", kEcdsaP256Sha256, kKeyFilesNow, kKeyFilesNow);
  const SigningKey unactivated = SigningKey::generate("files.test", kEcdsaP256Sha256, kKeyFilesNow, std::nullopt);
  const SigningKey elsewhere = SigningKey::generate("other.test", kEcdsaP256Sha256, kKeyFilesNow, kKeyFilesNow);
  const std::string base = "Kfiles.test.+013+12345";
  const std::string rsa_key =
      "files.test. IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3"
      "+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2"
      "n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+e"
      "oZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws"
      "9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=";
  struct Case {
    const char* what;
    std::string key_text;      // "" : no .key file
    std::string private_text;  // "" : no .private file
    std::string error;         // after "DIR/"
  };
  const std::vector<Case> cases = {
      {"an empty directory", "", "", ""},
      {"a .private without its .key", "", key.private_file_text(),
       base + ".private: has no matching .key file (DIR/" + base + ".key)"},
      {"the key of another zone", elsewhere.key_file_text(), elsewhere.private_file_text(),
       base + ".private: the key is for other.test., not for zone files.test."},
      {"halves of two different keys", key.key_file_text(), other.private_file_text(),
       base + ".private: the private key does not match the public key in the .key file"},
      {"an unsupported algorithm", rsa_key, key.private_file_text(),
       base + ".private: algorithm 8 is not supported (13 ECDSA P-256 or 15 Ed25519)"},
      {"flags that are not a zone key's", "files.test. IN DNSKEY 1 3 13 AAAA", key.private_file_text(),
       base + ".private: DNSKEY flags 1 are not a zone key's (256 or 257, not revoked)"},
      {"a .key file without a DNSKEY", "; nothing here\n", key.private_file_text(),
       base + ".private: the .key file holds no DNSKEY record"},
      {"a .key file with another record", "files.test. IN A 192.0.2.1", key.private_file_text(),
       base + ".private: the .key file's record is not a DNSKEY: files.test. IN A 192.0.2.1"},
      {"a private key ldns cannot read", key.key_file_text(), "Private-key-format: v1.3\nAlgorithm: 13\n",
       base + ".private: ldns cannot read the private key: "},
      {"a malformed Activate time", unactivated.key_file_text(),
       unactivated.private_file_text() + "Activate: soon\n",
       base + ".private: Activate: 'soon' is not a time YYYYMMDDHHMMSS"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const TempDir dir;
    if (!c.key_text.empty()) dir.write(base + ".key", c.key_text);
    if (!c.private_text.empty()) dir.write(base + ".private", c.private_text);
    std::string expected = c.error.empty()
                               ? dir.path.string() + ": holds no key for files.test. (Kfiles.test.+*.private)"
                               : dir.path.string() + "/" + c.error;
    size_t at = 0;
    while ((at = expected.find("DIR", at)) != std::string::npos) expected.replace(at, 3, dir.path.string());
    const std::string error = error_of(dir.path.string(), "files.test");
    if (std::string(c.what) == "a private key ldns cannot read") {
      CHECK(error.rfind(expected, 0) == 0);
    } else {
      CHECK(error == expected);
    }
  }
  CHECK(error_of("/nonexistent-rotor-keys", "files.test").rfind(
            "/nonexistent-rotor-keys: cannot read the key directory: ", 0) == 0);
}

TEST_CASE("zone names keygen accepts") {
  struct Case {
    const char* zone;
    const char* text;  // "" : refused
  };
  const std::vector<Case> cases = {
      {"example.com", "example.com."}, {"Example.COM.", "example.com."},
      {"a-b_c.example", "a-b_c.example."}, {"", ""}, {".", ""}, {"a..b", ""},
      {"../etc", ""}, {"a/b", ""}, {"sp ace.test", ""}, {"esc\\046aped.test", ""},
      {"a.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.zone);
    if (*c.text == '\0') {
      CHECK_THROWS_AS(SigningKey::generate(c.zone, kEcdsaP256Sha256, kKeyFilesNow, kKeyFilesNow), KeyError);
    } else {
      CHECK(SigningKey::generate(c.zone, kEcdsaP256Sha256, kKeyFilesNow, kKeyFilesNow).zone_text() == c.text);
    }
  }
  CHECK_THROWS_WITH_AS(SigningKey::generate("example.com", 8, kKeyFilesNow, kKeyFilesNow),
                       "algorithm 8 is not supported (13 ECDSA P-256 or 15 Ed25519)", KeyError);
}

TEST_CASE("key times are BIND's UTC YYYYMMDDHHMMSS") {
  CHECK(format_key_time(kKeyFilesNow) == "20261130005320");
  CHECK(parse_key_time("20261130005320") == kKeyFilesNow);
  CHECK(parse_key_time("19700101000000") == 0);
  for (const char* bad : {"", "2026113007532", "202611300053200", "2026113007532x", "20261330075320",
                          "20261130245320"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_key_time(bad));
  }
}

}  // namespace
}  // namespace rotor::dnssec

TEST_SUITE_END();
