#pragma once
// Shared by the registry tests: a scratch directory and small builders.

#include <SQLiteCpp/SQLiteCpp.h>
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "server/arrays/array.h"

namespace rotor::registry::test {

// A fresh directory under TMPDIR, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "rotor-registry-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline arrays::InstanceSpec instance(const char* address, uint16_t weight = 100,
                                     std::string region = "") {
  arrays::InstanceSpec spec;
  spec.address = *arrays::IpAddress::parse(address);
  spec.weight = weight;
  spec.region = std::move(region);
  return spec;
}

// Makes every write matching `event` (e.g. "INSERT ON instances") fail, through a
// second connection, the way a full disk or an I/O error would: works as root,
// unlike a read-only file.
inline void make_writes_fail(const std::string& db_path, const std::string& event,
                             const std::string& name = "rotor_test_failure") {
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
  db.exec("CREATE TRIGGER " + name + " BEFORE " + event +
          " BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END");
}

inline void let_writes_succeed(const std::string& db_path,
                               const std::string& name = "rotor_test_failure") {
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
  db.exec("DROP TRIGGER " + name);
}

}  // namespace rotor::registry::test
