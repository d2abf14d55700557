#include "server/app/database_lock.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

TEST_SUITE_BEGIN("unit/server/app/database_lock");

namespace {

using rotor::app::DatabaseLock;

struct ScratchDir {
  ScratchDir() {
    std::string pattern = "/tmp/rotor-lock-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// flock locks belong to the open file description, so a second lock in the
// same process conflicts exactly like a second process would.
TEST_CASE("a database lock excludes a second holder naming the file and the PID until released") {
  ScratchDir dir;
  const std::string db = (dir.path / "rotor.db").string();
  const std::string pid = std::to_string(::getpid());
  std::optional<DatabaseLock> first(std::in_place, db);
  CHECK(first->lock_path() == db + ".lock");
  CHECK(file_text(db + ".lock") == pid + "\n");
  CHECK_FALSE(std::filesystem::exists(db));  // the database itself is untouched

  const std::string in_use = "database " + db + " is in use by another rotor (pid " + pid + "), which holds " +
                             db + ".lock; one database has one writer";
  CHECK_THROWS_WITH_AS(DatabaseLock{db}, in_use.c_str(), std::runtime_error);
  first.reset();
  // The file stays; the lock went with its holder.
  CHECK(std::filesystem::exists(db + ".lock"));
  DatabaseLock second(db);
  CHECK(file_text(db + ".lock") == pid + "\n");
}

TEST_CASE("a database lock that cannot be created names the file and the OS reason") {
  ScratchDir dir;
  const std::string db = (dir.path / "absent" / "rotor.db").string();
  const std::string reason = "database " + db + ": cannot open its lock file " + db + ".lock: No such file or directory";
  CHECK_THROWS_WITH_AS(DatabaseLock{db}, reason.c_str(), std::runtime_error);
}

}  // namespace

TEST_SUITE_END();
