#include "server/registry/sqlite_wal_vfs.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "server/registry/sqlite_store.h"
#include "tests/unit/server/registry/registry_test_support.h"

namespace rotor::registry {
namespace {

using test::ScratchDir;

// PATCH-like writes: one instance flipped between enabled and draining,
// each a transaction of its own (an instance page and an event page).
void flip_states(SqliteStore& store, const arrays::Instance& added, int writes) {
  arrays::InstanceSpec spec = added.spec;
  for (int i = 0; i < writes; ++i) {
    spec.state = i % 2 == 0 ? arrays::AdminState::draining : arrays::AdminState::enabled;
    store.update_instance("web.lb.example.com.", added.id, spec, 2000 + i);
  }
}

int64_t count(SQLite::Database& db, const char* sql) { return db.execAndGet(sql).getInt64(); }

TEST_SUITE("unit/server/registry/sqlite_wal_vfs") {
  TEST_CASE("a store's WAL frames are written with their headers in one write") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    store.upsert_array("web.lb.example.com.", {}, 1000);
    const auto added = store.add_instance("web.lb.example.com.", test::instance("192.0.2.1"), 1001);
    const uint64_t before = wal_frames_joined();
    flip_states(store, added, 20);
    // At least a frame per commit (its instance's page and its event's: two).
    CHECK(wal_frames_joined() - before >= 20);
  }

  TEST_CASE("another connection reads every commit and a backup of the open store is whole") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    store.upsert_array("web.lb.example.com.", {}, 1000);
    const auto added = store.add_instance("web.lb.example.com.", test::instance("192.0.2.1"), 1001);
    // A connection through SQLite's own VFS, as the sqlite3 shell's would be.
    SQLite::Database reader(dir.file("rotor.db"), SQLite::OPEN_READONLY);
    int64_t events = count(reader, "SELECT count(*) FROM events");
    for (int round = 1; round <= 5; ++round) {
      flip_states(store, added, 7);
      const int64_t written = static_cast<int64_t>(store.events(0, 1000).size());
      CHECK(written > events);
      events = written;
      CHECK(count(reader, "SELECT count(*) FROM events") == events);
      // The last of the seven flips of a round drains it.
      CHECK(count(reader, "SELECT count(*) FROM instances WHERE state = 'draining'") == 1);
    }
    // The shell's .backup: SQLite's backup API from a plain connection.
    const std::string copy = dir.file("copy.db");
    {
      sqlite3* target = nullptr;
      REQUIRE(sqlite3_open(copy.c_str(), &target) == SQLITE_OK);
      sqlite3_backup* backup = sqlite3_backup_init(target, "main", reader.getHandle(), "main");
      REQUIRE(backup != nullptr);
      CHECK(sqlite3_backup_step(backup, -1) == SQLITE_DONE);
      CHECK(sqlite3_backup_finish(backup) == SQLITE_OK);
      sqlite3_close(target);
    }
    SQLite::Database restored(copy, SQLite::OPEN_READONLY);
    CHECK(restored.execAndGet("PRAGMA integrity_check").getString() == "ok");
    CHECK(count(restored, "SELECT count(*) FROM events") == events);
  }

  TEST_CASE("the files of a store that stopped without closing hold every commit") {
    ScratchDir dir;
    const std::string crashed = dir.file("crashed.db");
    int64_t events = 0;
    {
      SqliteStore store(dir.file("rotor.db"));
      store.upsert_array("web.lb.example.com.", {}, 1000);
      const auto added = store.add_instance("web.lb.example.com.", test::instance("192.0.2.1"), 1001);
      flip_states(store, added, 31);
      // What a crash leaves: the database and its WAL as they are, no
      // checkpoint. Recovery reads every frame's header and checksum: a
      // header missing or out of place would end the log before the last
      // commits.
      std::filesystem::copy_file(dir.file("rotor.db"), crashed);
      std::filesystem::copy_file(dir.file("rotor.db") + "-wal", crashed + "-wal");
      SQLite::Database live(dir.file("rotor.db"), SQLite::OPEN_READONLY);
      events = count(live, "SELECT count(*) FROM events");
    }
    SQLite::Database recovered(crashed, SQLite::OPEN_READWRITE);
    CHECK(recovered.execAndGet("PRAGMA integrity_check").getString() == "ok");
    CHECK(count(recovered, "SELECT count(*) FROM events") == events);
    CHECK(count(recovered, "SELECT count(*) FROM instances WHERE state = 'draining'") == 1);
  }
}

}  // namespace
}  // namespace rotor::registry
