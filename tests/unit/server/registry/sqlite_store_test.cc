#include "server/registry/sqlite_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/server/registry/registry_test_support.h"

namespace rotor::registry {
namespace {

using arrays::AdminState;
using arrays::Health;
using test::instance;
using test::ScratchDir;

arrays::ArraySettings geo_settings() {
  arrays::ArraySettings settings;
  settings.ttl = 60;
  settings.degraded_ttl = 5;
  settings.policy = arrays::Policy::geo;
  settings.max_answers = 2;
  settings.when_all_down = arrays::WhenAllDown::none;
  settings.min_healthy = 0.25;
  settings.fallback = "backup.lb.example.com.";
  settings.slow_start_ms = 60000;
  settings.remove_after = std::chrono::hours(72);
  settings.check = R"({"path":"/healthz"})";
  return settings;
}

bool same_instance(const arrays::Instance& a, const arrays::Instance& b) {
  return a.id == b.id && a.spec.address == b.spec.address && a.spec.weight == b.spec.weight &&
         a.spec.region == b.spec.region && a.spec.lat == b.spec.lat && a.spec.lon == b.spec.lon &&
         a.spec.state == b.spec.state && a.health == b.health &&
         a.health_changed_ms == b.health_changed_ms && a.health_reason == b.health_reason &&
         a.spec.check == b.spec.check;
}

bool same_array(const StoredArray& a, const StoredArray& b) {
  if (a.id != b.id || a.name != b.name || a.settings.check != b.settings.check ||
      a.created_ms != b.created_ms || a.updated_ms != b.updated_ms ||
      a.settings.ttl != b.settings.ttl || a.settings.degraded_ttl != b.settings.degraded_ttl ||
      a.settings.policy != b.settings.policy || a.settings.max_answers != b.settings.max_answers ||
      a.settings.when_all_down != b.settings.when_all_down ||
      a.settings.min_healthy != b.settings.min_healthy || a.settings.fallback != b.settings.fallback ||
      a.settings.slow_start_ms != b.settings.slow_start_ms ||
      a.settings.remove_after != b.settings.remove_after ||
      a.instances.size() != b.instances.size()) {
    return false;
  }
  for (size_t i = 0; i < a.instances.size(); ++i) {
    if (!same_instance(a.instances[i], b.instances[i])) return false;
  }
  return true;
}

TEST_SUITE("unit/server/registry/sqlite_store") {
  TEST_CASE("a new file is migrated to the current schema") {
    ScratchDir dir;
    SUBCASE("missing file") {}
    SUBCASE("empty file") { std::ofstream(dir.file("rotor.db")).flush(); }
    {
      SqliteStore store(dir.file("rotor.db"));
      CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
      CHECK(store.load_all().empty());
      CHECK(store.events(0, 10).empty());
    }
    SQLite::Database db(dir.file("rotor.db"));
    CHECK(db.execAndGet("PRAGMA user_version").getInt() == SqliteStore::kSchemaVersion);
    CHECK(db.execAndGet("PRAGMA journal_mode").getString() == "wal");
    for (const char* table :
         {"arrays", "instances", "events", "zone_serials", "regions", "networks", "event_id_floor"}) {
      CHECK_MESSAGE(db.tableExists(table), table);
    }
    // Opening again is a no-op.
    SqliteStore again(dir.file("rotor.db"));
    CHECK(again.schema_version() == SqliteStore::kSchemaVersion);
  }

  TEST_CASE("a version 1 database gains check overrides and keeps its data") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    {
      SqliteStore store(path);
      store.upsert_array("web.lb.example.com.", {}, 1);
      store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    }
    {  // what version 1 left: no instance checks, '{}' for "no array check"
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      db.exec("ALTER TABLE arrays DROP COLUMN options_json");
      db.exec("DROP TABLE regions; DROP TABLE networks");  // migration 7
      db.exec("DROP TABLE event_id_floor");                 // migration 8
      db.exec("ALTER TABLE instances DROP COLUMN check_json");
      db.exec("ALTER TABLE events DROP COLUMN token");
      db.exec("UPDATE arrays SET check_json = '{}'");
      db.exec("PRAGMA user_version = 1");
    }
    SqliteStore store(path);
    CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
    const auto arrays = store.load_all();
    REQUIRE(arrays.size() == 1);
    CHECK(arrays[0].settings.check.empty());
    REQUIRE(arrays[0].instances.size() == 1);
    CHECK(arrays[0].instances[0].spec.address.to_string() == "192.0.2.1");
    CHECK(arrays[0].instances[0].spec.check.empty());
  }

  TEST_CASE("a version 2 database gains event tokens and keeps its events") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    {
      SqliteStore store(path);
      store.upsert_array("web.lb.example.com.", {}, 1);
      store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    }
    {  // what version 2 left: events without a token
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      db.exec("ALTER TABLE arrays DROP COLUMN options_json");
      db.exec("DROP TABLE regions; DROP TABLE networks");  // migration 7
      db.exec("DROP TABLE event_id_floor");                 // migration 8
      db.exec("ALTER TABLE events DROP COLUMN token");
      db.exec("PRAGMA user_version = 2");
    }
    SqliteStore store(path);
    CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
    store.set_event_origin({.source = "api", .token = "ci"});
    store.remove_instance("web.lb.example.com.", store.load_all()[0].instances[0].id, 3);
    const auto events = store.events(0, 10);
    REQUIRE(events.size() == 3);
    CHECK(events[0].reason == "array created");
    CHECK(events[1].address == "192.0.2.1");
    CHECK(events[1].token.empty());
    CHECK(events[2].token == "ci");
    CHECK(events[2].source == "api");
  }

  TEST_CASE("a version 3 database gains damping events and keeps its events and their ids") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    {
      SqliteStore store(path);
      store.upsert_array("web.lb.example.com.", {}, 1);
      store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    }
    int64_t last_id = 0;
    {  // what version 3 left: events of two kinds only; the newest event pruned
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      db.exec("ALTER TABLE arrays DROP COLUMN options_json");
      db.exec("DROP TABLE regions; DROP TABLE networks");  // migration 7
      db.exec("DROP TABLE event_id_floor");                 // migration 8
      db.exec("DROP TABLE events");
      db.exec("CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, "
              "array_name TEXT NOT NULL, instance_id INTEGER NOT NULL DEFAULT 0, address TEXT NOT NULL "
              "DEFAULT '', kind TEXT NOT NULL CHECK(kind IN ('health', 'admin')), old TEXT NOT NULL "
              "DEFAULT '', new TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '', token TEXT NOT NULL "
              "DEFAULT '')");
      db.exec("INSERT INTO events(time_ms, array_name, kind, reason) VALUES(5, 'web.lb.example.com.', "
              "'admin', 'array created'), (6, 'web.lb.example.com.', 'admin', 'pruned')");
      last_id = db.execAndGet("SELECT max(id) FROM events").getInt64();
      db.exec("DELETE FROM events WHERE id = " + std::to_string(last_id));
      CHECK_THROWS(db.exec("INSERT INTO events(time_ms, array_name, kind) VALUES(7, 'x', 'damping')"));
      db.exec("PRAGMA user_version = 3");
    }
    SqliteStore store(path);
    CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
    store.append_events({{.time_ms = 8, .array_name = "web.lb.example.com.", .instance_id = 1,
                          .address = "192.0.2.1", .kind = "damping", .old_value = "off",
                          .new_value = "held", .reason = "held"}});
    const auto events = store.events(0, 10);
    REQUIRE(events.size() == 2);
    CHECK(events[0].reason == "array created");
    CHECK(events[1].kind == "damping");
    CHECK(events[1].id == last_id + 1);  // the sequence went on: no id is given twice
  }

  TEST_CASE("a version 4 database gains reload events and event sources and keeps its events and ids") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    { SqliteStore store(path); }
    int64_t last_id = 0;
    {  // what version 4 left: no source, no reload kind; the newest event pruned
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      db.exec("ALTER TABLE arrays DROP COLUMN options_json");
      db.exec("DROP TABLE regions; DROP TABLE networks");  // migration 7
      db.exec("DROP TABLE event_id_floor");                 // migration 8
      db.exec("DROP TABLE events");
      db.exec("CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, "
              "array_name TEXT NOT NULL, instance_id INTEGER NOT NULL DEFAULT 0, address TEXT NOT NULL "
              "DEFAULT '', kind TEXT NOT NULL CHECK(kind IN ('health', 'admin', 'damping')), old TEXT NOT "
              "NULL DEFAULT '', new TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '', token TEXT "
              "NOT NULL DEFAULT '')");
      db.exec("INSERT INTO events(time_ms, array_name, kind, reason, token) VALUES(5, 'web.lb.example.com.', "
              "'admin', 'array created', 'ci'), (6, 'web.lb.example.com.', 'admin', 'pruned', '')");
      last_id = db.execAndGet("SELECT max(id) FROM events").getInt64();
      db.exec("DELETE FROM events WHERE id = " + std::to_string(last_id));
      CHECK_THROWS(db.exec("INSERT INTO events(time_ms, array_name, kind) VALUES(7, '', 'reload')"));
      db.exec("PRAGMA user_version = 4");
    }
    SqliteStore store(path);
    CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
    store.set_event_origin({.source = "signal"});
    store.append_events({{.time_ms = 8, .kind = "reload", .new_value = "ok", .reason = "reloaded"}});
    const auto events = store.events(0, 10);
    REQUIRE(events.size() == 2);
    CHECK(events[0].reason == "array created");
    CHECK(events[0].token == "ci");
    CHECK(events[0].source.empty());
    CHECK(events[1].kind == "reload");
    CHECK(events[1].source == "signal");
    CHECK(events[1].id == last_id + 1);  // the sequence went on
    CHECK(store.events(EventFilter{.kind = "reload"}).size() == 1);
  }

  TEST_CASE("a version 5 database gains array options and panic events and keeps its events") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    {
      SqliteStore store(path);
      store.upsert_array("web.lb.example.com.", {}, 1);
    }
    int64_t last_id = 0;
    {  // what version 5 left: no options column, events without the panic kind
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      db.exec("ALTER TABLE arrays DROP COLUMN options_json");
      db.exec("DROP TABLE regions; DROP TABLE networks");  // migration 7
      db.exec("DROP TABLE event_id_floor");                 // migration 8
      db.exec("DROP TABLE events");
      db.exec("CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, "
              "array_name TEXT NOT NULL, instance_id INTEGER NOT NULL DEFAULT 0, address TEXT NOT NULL "
              "DEFAULT '', kind TEXT NOT NULL CHECK(kind IN ('health', 'admin', 'damping', 'reload')), old "
              "TEXT NOT NULL DEFAULT '', new TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '', "
              "token TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '')");
      db.exec("INSERT INTO events(time_ms, array_name, kind, reason) VALUES(5, 'web.lb.example.com.', "
              "'damping', 'held'), (6, 'web.lb.example.com.', 'admin', 'pruned')");
      last_id = db.execAndGet("SELECT max(id) FROM events").getInt64();
      db.exec("DELETE FROM events WHERE id = " + std::to_string(last_id));
      CHECK_THROWS(db.exec("INSERT INTO events(time_ms, array_name, kind) VALUES(7, 'x', 'panic')"));
      db.exec("PRAGMA user_version = 5");
    }
    SqliteStore store(path);
    CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
    REQUIRE(store.load_all().size() == 1);
    CHECK(store.load_all()[0].settings.min_healthy == 0);  // the default, for arrays of before
    arrays::ArraySettings settings;
    settings.min_healthy = 0.5;
    store.upsert_array("web.lb.example.com.", settings, 8);
    CHECK(store.load_all()[0].settings.min_healthy == 0.5);
    store.append_events({{.time_ms = 9, .array_name = "web.lb.example.com.", .kind = "panic",
                          .old_value = "off", .new_value = "on", .reason = "1 of 4"}});
    const auto events = store.events(0, 10);
    REQUIRE(events.size() >= 2);  // and the audit's "array updated", if any
    CHECK(events[0].kind == "damping");
    CHECK(events.back().kind == "panic");
    CHECK(events[1].id == last_id + 1);  // the sequence went on
  }

  TEST_CASE("a version 6 database gains regions and networks and keeps its arrays") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    {
      SqliteStore store(path);
      store.upsert_array("web.lb.example.com.", {}, 1);
    }
    {
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      db.exec("DROP TABLE regions; DROP TABLE networks; DROP TABLE event_id_floor; PRAGMA user_version = 6");
    }
    SqliteStore store(path);
    CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
    CHECK(store.load_all().size() == 1);
    CHECK(store.load_geo().regions.empty());
    store.put_network({"10.0.0.0/8", "eu"}, 2);
    CHECK(store.load_geo().networks.size() == 1);
  }

  TEST_CASE("a version 7 database loses the events AUTOINCREMENT and keeps its events and ids") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    {
      SqliteStore store(path);
      store.upsert_array("web.lb.example.com.", {}, 1);
    }
    int64_t last_id = 0;
    {  // what version 7 left: events with AUTOINCREMENT, no floor; the newest event pruned
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      db.exec("DROP TABLE event_id_floor");
      db.exec("DROP TABLE events");
      db.exec("CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, "
              "array_name TEXT NOT NULL, instance_id INTEGER NOT NULL DEFAULT 0, address TEXT NOT NULL "
              "DEFAULT '', kind TEXT NOT NULL CHECK(kind IN ('health', 'admin', 'damping', 'reload', "
              "'panic')), old TEXT NOT NULL DEFAULT '', new TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL "
              "DEFAULT '', token TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '')");
      db.exec("INSERT INTO events(time_ms, array_name, kind, reason, source) VALUES(5, "
              "'web.lb.example.com.', 'admin', 'array created', 'api'), (6, 'web.lb.example.com.', "
              "'admin', 'pruned', ''), (7, 'web.lb.example.com.', 'admin', 'pruned too', '')");
      last_id = db.execAndGet("SELECT max(id) FROM events").getInt64();
      db.exec("DELETE FROM events WHERE id >= " + std::to_string(last_id - 1));
      db.exec("PRAGMA user_version = 7");
    }
    SqliteStore store(path);
    CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
    {
      SQLite::Database db(path);
      const std::string sql =
          db.execAndGet("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").getString();
      CHECK(sql.find("AUTOINCREMENT") == std::string::npos);
    }
    store.append_events({{.time_ms = 8, .array_name = "web.lb.example.com.", .kind = "reload",
                          .reason = "reloaded"}});
    const auto events = store.events(0, 10);
    REQUIRE(events.size() == 2);
    CHECK(events[0].reason == "array created");
    CHECK(events[0].source == "api");
    CHECK(events[1].kind == "reload");
    CHECK(events[1].id == last_id + 1);  // the sequence went on past the pruned ones
  }

  TEST_CASE("a version 8 database checks event kinds without an IN list and keeps its events and ids") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    { SqliteStore store(path); }
    int64_t last_id = 0;
    {  // what version 8 left: the kind CHECK as an IN list
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      db.exec("DROP TABLE events");
      db.exec("CREATE TABLE events(id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, "
              "array_name TEXT NOT NULL, instance_id INTEGER NOT NULL DEFAULT 0, address TEXT NOT NULL "
              "DEFAULT '', kind TEXT NOT NULL CHECK(kind IN ('health', 'admin', 'damping', 'reload', "
              "'panic')), old TEXT NOT NULL DEFAULT '', new TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL "
              "DEFAULT '', token TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '')");
      db.exec("INSERT INTO events(id, time_ms, array_name, kind, reason, source, token) VALUES(41, 5, "
              "'web.lb.example.com.', 'admin', 'array created', 'api', 'ci')");
      last_id = 41;
      db.exec("PRAGMA user_version = 8");
    }
    SqliteStore store(path);
    CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
    {
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      const std::string sql =
          db.execAndGet("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").getString();
      CHECK(sql.find(" IN (") == std::string::npos);
      // An insert builds no temporary b-tree (the IN list's, built for every row).
      SQLite::Statement plan(db, "EXPLAIN INSERT INTO events(time_ms, array_name, kind) VALUES(1, 'a.', 'admin')");
      int ephemeral = 0;
      while (plan.executeStep()) ephemeral += plan.getColumn(1).getString() == "OpenEphemeral";
      CHECK(ephemeral == 0);
      // The kinds are still checked.
      CHECK_THROWS_AS(db.exec("INSERT INTO events(time_ms, array_name, kind) VALUES(1, 'a.', 'other')"),
                      SQLite::Exception);
    }
    store.append_events({{.time_ms = 8, .array_name = "web.lb.example.com.", .kind = "reload",
                          .reason = "reloaded"}});
    const auto events = store.events(0, 10);
    REQUIRE(events.size() == 2);
    CHECK(events[0].id == last_id);
    CHECK(events[0].reason == "array created");
    CHECK(events[0].source == "api");
    CHECK(events[0].token == "ci");
    CHECK(events[1].kind == "reload");
    CHECK(events[1].id == last_id + 1);
  }

  TEST_CASE("event ids are never given twice even after every event expired and a restart") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    int64_t newest = 0;
    {
      SqliteStore store(path, StoreOptions{.events = {.max_age_ms = 3600000}});
      store.upsert_array("web.lb.example.com.", {}, 1);
      const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
      // Events from 1970 (all older than an hour) until the prune every 1,024
      // events deletes every one, the newest included.
      for (int i = 0; i < 2000; ++i) {
        store.set_health({a.id, i % 2 == 0 ? Health::up : Health::down, "probe", 10 + i});
        const auto kept = store.events(0, 10000);
        if (kept.empty()) break;
        newest = kept.back().id;
      }
      REQUIRE(store.events(0, 10000).empty());
      REQUIRE(newest > 1000);
      ++newest;  // the event whose write pruned them all, itself included
    }
    SqliteStore store(path);
    store.append_events({{.time_ms = 5000, .array_name = "web.lb.example.com.", .kind = "reload"}});
    const auto events = store.events(0, 10);
    REQUIRE(events.size() == 1);
    CHECK(events[0].id == newest + 1);
  }

  TEST_CASE("event ids stay unique when another connection writes events between the store's writes") {
    // The store keeps the next event's id in memory while no other
    // connection has committed; another one's commit makes it read the table.
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    SqliteStore store(path);
    store.upsert_array("web.lb.example.com.", {}, 1);
    const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    store.set_health({a.id, Health::up, "probe", 3});
    const int64_t newest = store.events(0, 100).back().id;
    {
      SQLite::Database other(path, SQLite::OPEN_READWRITE);
      other.exec("INSERT INTO events(id, time_ms, array_name, kind) VALUES(" + std::to_string(newest + 1) +
                 ", 4, 'web.lb.example.com.', 'reload')");
    }
    store.set_health({a.id, Health::down, "probe", 5});
    store.append_events({{.time_ms = 6, .kind = "reload"}});
    const auto events = store.events(0, 100);
    REQUIRE(events.size() >= 3);
    CHECK(events[events.size() - 3].id == newest + 1);
    CHECK(events[events.size() - 2].id == newest + 2);
    CHECK(events[events.size() - 2].kind == "health");
    CHECK(events.back().id == newest + 3);
  }

  TEST_CASE("an event id given in a write that failed is not given twice") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    SqliteStore store(path);
    store.upsert_array("web.lb.example.com.", {}, 1);
    const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    CHECK_THROWS_AS(store.atomically([&] {
      store.set_health({a.id, Health::up, "probe", 3});
      store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 4);  // conflict
    }),
                    ConflictError);
    store.set_health({a.id, Health::down, "probe", 5});
    store.set_health({a.id, Health::up, "probe", 6});
    const auto events = store.events(0, 100);
    REQUIRE(events.size() == 4);  // created, added, two health
    for (size_t i = 1; i < events.size(); ++i) CHECK(events[i].id == events[i - 1].id + 1);
  }

  TEST_CASE("files that are not rotor databases are refused with the file's name") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    struct Case {
      const char* name;
      void (*prepare)(const std::string& path);
      std::string expected;
    };
    const Case cases[] = {
        {"garbage",
         [](const std::string& p) {
           std::ofstream out(p);
           for (int i = 0; i < 200; ++i) out << "this is not an sqlite database at all\n";
         },
         ": file is not a database"},
        {"another program's database",
         [](const std::string& p) {
           SQLite::Database db(p, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
           db.exec("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)");
         },
         ": not a rotor database"},
        {"a newer rotor",
         [](const std::string& p) {
           { SqliteStore store(p); }
           SQLite::Database db(p, SQLite::OPEN_READWRITE);
           db.exec("PRAGMA user_version = 99");
         },
         ": schema version 99 is newer than this rotor understands (" + std::to_string(SqliteStore::kSchemaVersion) + "); upgrade rotor"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      std::filesystem::remove(path);
      c.prepare(path);
      const auto before = std::filesystem::file_size(path);
      CHECK_THROWS_WITH_AS(SqliteStore{path}, doctest::Contains((path + c.expected).c_str()), StoreError);
      CHECK(std::filesystem::file_size(path) == before);  // never reset
    }
  }

  TEST_CASE("everything written is there after a restart") {
    ScratchDir dir;
    std::vector<StoredArray> before;
    {
      SqliteStore store(dir.file("rotor.db"));
      const int64_t web = store.upsert_array("web.lb.example.com.", geo_settings(), 1000);
      CHECK(web > 0);
      store.upsert_array("api.lb.example.com.", {}, 1001);
      auto located = instance("192.0.2.1", 10, "eu-west");
      located.lat = 53.3;
      located.lon = -6.2;
      located.check = R"({"port":8081})";
      store.add_instance("web.lb.example.com.", located, 1002);
      auto draining = instance("2001:db8::1", 1000, "us-east");
      draining.state = AdminState::draining;
      const auto second = store.add_instance("web.lb.example.com.", draining, 1003);
      store.add_instance("api.lb.example.com.", instance("198.51.100.7"), 1004);
      CHECK(store.set_health({second.id, Health::down, "connect refused", 1005}));
      before = store.load_all();
    }
    SqliteStore store(dir.file("rotor.db"));
    const auto after = store.load_all();
    REQUIRE(after.size() == 2);
    REQUIRE(before.size() == 2);
    CHECK(after[0].name == "api.lb.example.com.");  // by name
    CHECK(after[1].name == "web.lb.example.com.");
    for (size_t i = 0; i < after.size(); ++i) CHECK(same_array(before[i], after[i]));
    const auto& web = after[1];
    CHECK(web.settings.policy == arrays::Policy::geo);
    CHECK(web.settings.check == R"({"path":"/healthz"})");
    CHECK(after[0].settings.check.empty());
    CHECK(web.instances[0].spec.check == R"({"port":8081})");
    CHECK(web.instances[1].spec.check.empty());
    REQUIRE(web.instances.size() == 2);
    CHECK(web.instances[0].spec.lat == 53.3);
    CHECK_FALSE(web.instances[1].spec.lat.has_value());
    CHECK(web.instances[1].spec.address.to_string() == "2001:db8::1");
    CHECK(web.instances[1].spec.state == AdminState::draining);
    CHECK(web.instances[1].health == Health::down);
    CHECK(web.instances[1].health_reason == "connect refused");
    CHECK(web.instances[1].health_changed_ms == 1005);
  }

  TEST_CASE("regions and networks written are there after a restart") {
    ScratchDir dir;
    {
      SqliteStore store(dir.file("rotor.db"));
      store.put_region({"us", 39.0, -77.5, {"eu", "ap"}}, 1000);
      store.put_region({"lab", std::nullopt, std::nullopt, {}}, 1001);
      store.put_region({"us", 40.0, -70.0, {"eu"}}, 1002);  // replaced
      store.put_network({"10.2.0.0/16", "us"}, 1003);
      store.put_network({"2001:db8::/32", "lab"}, 1004);
      store.put_network({"10.3.0.0/16", "us"}, 1005);
      store.delete_network("10.3.0.0/16", 1006);
      CHECK_THROWS_WITH_AS(store.delete_network("10.3.0.0/16", 1007), "no network 10.3.0.0/16", NotFoundError);
      CHECK_THROWS_WITH_AS(store.delete_region("mars", 1007), "no region mars", NotFoundError);
    }
    SqliteStore store(dir.file("rotor.db"));
    const StoredGeo geo = store.load_geo();
    REQUIRE(geo.regions.size() == 2);
    CHECK(geo.regions[0].name == "lab");  // by name
    CHECK_FALSE(geo.regions[0].lat.has_value());
    CHECK(geo.regions[0].prefer.empty());
    CHECK(geo.regions[1].name == "us");
    CHECK(geo.regions[1].lat == 40.0);
    CHECK(geo.regions[1].lon == -70.0);
    CHECK(geo.regions[1].prefer == std::vector<std::string>{"eu"});
    REQUIRE(geo.networks.size() == 2);
    CHECK(geo.networks[0].cidr == "10.2.0.0/16");
    CHECK(geo.networks[0].region == "us");
    CHECK(geo.networks[1].cidr == "2001:db8::/32");
    CHECK(geo.networks[1].region == "lab");
    store.delete_region("lab", 1008);
    CHECK(store.load_geo().regions.size() == 1);
  }

  TEST_CASE("health transitions are recorded once - with an event each") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    store.upsert_array("web.lb.example.com.", {}, 1);
    const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    const auto b = store.add_instance("web.lb.example.com.", instance("192.0.2.2"), 3);

    CHECK(store.set_health({a.id, Health::up, "http 200", 10}));
    CHECK_FALSE(store.set_health({a.id, Health::up, "http 200", 11}));  // no transition
    CHECK_THROWS_AS(store.set_health({9999, Health::up, "", 12}), NotFoundError);

    const auto applied = store.set_health_many({{a.id, Health::down, "timeout", 20},
                                                {b.id, Health::up, "http 200", 20},
                                                {b.id, Health::up, "http 200", 21},
                                                {9999, Health::down, "gone", 22}});
    REQUIRE(applied.size() == 2);
    CHECK(applied[0].instance_id == a.id);
    CHECK(applied[1].instance_id == b.id);

    const auto events = store.events(0, 100);
    std::vector<std::string> health;
    for (const Event& e : events) {
      if (e.kind == "health") health.push_back(e.address + " " + e.old_value + "->" + e.new_value);
    }
    CHECK(health == std::vector<std::string>{"192.0.2.1 unknown->up", "192.0.2.1 up->down",
                                             "192.0.2.2 unknown->up"});
    const auto stored = store.load_all().at(0).instances;
    CHECK(stored[0].health == Health::down);
    CHECK(stored[0].health_reason == "timeout");
    CHECK(stored[1].health == Health::up);
  }

  TEST_CASE("events are paginated by id") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    store.upsert_array("web.lb.example.com.", {}, 1);
    const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);  // 2 events
    for (int i = 0; i < 9; ++i) {
      store.set_health({a.id, i % 2 == 0 ? Health::up : Health::down, "probe", 10 + i});
    }
    std::vector<int64_t> seen;
    int64_t since = 0;
    for (;;) {
      const auto page = store.events(since, 4);
      if (page.empty()) break;
      CHECK(page.size() <= 4);
      for (const Event& e : page) seen.push_back(e.id);
      since = page.back().id;
    }
    REQUIRE(seen.size() == 11);
    for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] > seen[i - 1]);
    const auto first = store.events(1, 1).at(0);
    CHECK(first.kind == "admin");
    CHECK(first.reason == "instance added");
    CHECK(first.array_name == "web.lb.example.com.");
    CHECK(first.instance_id == a.id);
  }

  TEST_CASE("the event log is pruned to its limit") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"), StoreOptions{.events = {.max_count = 100}});
    store.upsert_array("web.lb.example.com.", {}, 1);
    const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    for (int i = 0; i < 1100; ++i) {
      store.set_health({a.id, i % 2 == 0 ? Health::up : Health::down, "probe", 10 + i});
    }
    CHECK(store.events(0, 10000).size() < 1100);
    CHECK(store.events(0, 10000).back().time_ms == 10 + 1099);  // the newest stay
  }

  TEST_CASE("the event log drops events older than its max age") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"), StoreOptions{.events = {.max_age_ms = 3600000}});
    store.upsert_array("web.lb.example.com.", {}, 1);
    const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    for (int i = 0; i < 1100; ++i) {  // from 1970: all older than an hour
      store.set_health({a.id, i % 2 == 0 ? Health::up : Health::down, "probe", 10 + i});
    }
    const auto kept = store.events(0, 10000);
    CHECK(kept.size() < 100);
    REQUIRE_FALSE(kept.empty());
    CHECK(kept.front().time_ms > 10 + 1000);  // what came after the prune
  }

  TEST_CASE("every event filter selects exactly what EventFilter matches") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    store.upsert_array("web.lb.example.com.", {}, 1);
    store.upsert_array("api.lb.example.com.", {}, 1);
    const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    const auto b = store.add_instance("api.lb.example.com.", instance("192.0.2.2"), 3);
    for (int i = 0; i < 6; ++i) {
      store.set_health({i % 2 == 0 ? a.id : b.id, i % 4 < 2 ? Health::up : Health::down, "probe", 10 + i});
    }
    store.remove_instance("api.lb.example.com.", b.id, 20);
    const auto all = store.events(0, 1000);
    REQUIRE(all.size() == 11);  // two arrays created, two instances added, six health, one removed
    const std::vector<std::pair<const char*, EventFilter>> filters = {
        {"everything", {}},
        {"after an id", {.since_id = all[5].id}},
        {"at most two", {.limit = 2}},
        {"one array", {.array = "api.lb.example.com."}},
        {"one instance", {.instance_id = a.id}},
        {"admin only", {.kind = "admin"}},
        {"health of one instance", {.instance_id = b.id, .kind = "health"}},
        {"a time window", {.from_ms = 11, .until_ms = 14}},
        {"nothing matches", {.array = "none.lb.example.com."}},
    };
    for (const auto& [name, filter] : filters) {
      CAPTURE(name);
      std::vector<int64_t> expected;
      for (const Event& event : all) {
        if (filter.matches(event) && expected.size() < filter.limit) expected.push_back(event.id);
      }
      std::vector<int64_t> got;
      for (const Event& event : store.events(filter)) got.push_back(event.id);
      CHECK(got == expected);
    }
    CHECK(store.events({.instance_id = b.id, .kind = "health"}).size() == 3);
    CHECK(store.events({.from_ms = 11, .until_ms = 14}).size() == 3);
  }

  TEST_CASE("a second instance with the same address is a conflict") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    store.upsert_array("web.lb.example.com.", {}, 1);
    store.upsert_array("api.lb.example.com.", {}, 1);
    store.add_instance("web.lb.example.com.", instance("2001:db8::1"), 2);
    // The same address spelled differently is the same address.
    CHECK_THROWS_WITH_AS(store.add_instance("web.lb.example.com.", instance("2001:DB8:0::1"), 3),
                         "web.lb.example.com. already has an instance with address 2001:db8::1",
                         ConflictError);
    // Another array may use it.
    CHECK_NOTHROW(store.add_instance("api.lb.example.com.", instance("2001:db8::1"), 4));
    const auto other = store.add_instance("web.lb.example.com.", instance("192.0.2.9"), 5);
    CHECK_THROWS_AS(
        store.update_instance("web.lb.example.com.", other.id, instance("2001:db8::1"), 6),
        ConflictError);
    CHECK_THROWS_WITH_AS(store.add_instance("nope.lb.example.com.", instance("192.0.2.1"), 7),
                         "no array nope.lb.example.com.", NotFoundError);
    CHECK(store.load_all().at(1).instances.size() == 2);
  }

  TEST_CASE("update_instance finds the instance in its array and resets health only for a new address") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    store.upsert_array("web.lb.example.com.", {}, 1);
    store.upsert_array("api.lb.example.com.", {}, 1);
    const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    const auto other = store.add_instance("api.lb.example.com.", instance("192.0.2.1"), 2);
    store.set_health({a.id, Health::up, "ok", 3});
    // Not in that array, or no such array: nothing is written.
    CHECK_THROWS_WITH_AS(store.update_instance("web.lb.example.com.", other.id, instance("192.0.2.1", 5), 4),
                         ("no instance " + std::to_string(other.id) + " in web.lb.example.com.").c_str(),
                         NotFoundError);
    CHECK_THROWS_WITH_AS(store.update_instance("nope.lb.example.com.", a.id, instance("192.0.2.1", 5), 4),
                         "no array nope.lb.example.com.", NotFoundError);
    // The same address: the fields change, the health stays.
    auto heavier = instance("192.0.2.1", 300, "eu-west");
    heavier.state = AdminState::draining;
    const auto kept = store.update_instance("web.lb.example.com.", a.id, heavier, 5);
    CHECK(kept.health == Health::up);
    CHECK(kept.health_reason == "ok");
    // A new address: health unknown, stored as returned.
    const auto moved = store.update_instance("web.lb.example.com.", a.id, instance("192.0.2.7", 300), 6);
    CHECK(moved.health == Health::unknown);
    CHECK(moved.health_reason == "address changed");
    CHECK(moved.health_changed_ms == 6);
    const auto stored = store.load_array("web.lb.example.com.");
    REQUIRE(stored.has_value());
    REQUIRE(stored->instances.size() == 1);
    CHECK(same_instance(stored->instances[0], moved));
    // An instance write leaves the array's row alone (one WAL page less per write).
    CHECK(stored->updated_ms == 1);
    const auto events = store.events({.instance_id = a.id, .kind = "admin"});
    REQUIRE(events.size() == 3);  // added, changed, changed
    CHECK(events[1].reason == "instance changed: weight, region, state");
    CHECK(events[2].reason == "instance changed: address, region, state");
    // Still one instance per address: the index follows the new address.
    CHECK_THROWS_AS(store.add_instance("web.lb.example.com.", instance("192.0.2.7"), 7), ConflictError);
    CHECK_NOTHROW(store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 8));
  }

  TEST_CASE("update_known_instance writes as update_instance and reads the row when it is not what the caller holds") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    const std::string web = "web.lb.example.com.";
    store.upsert_array(web, {}, 1);
    store.add_instance(web, instance("192.0.2.1"), 2);
    store.set_health({store.load_all().at(0).instances.at(0).id, Health::up, "probe ok", 3});
    const arrays::Instance a = store.load_all().at(0).instances.at(0);

    // What the caller holds is the row: one UPDATE, the health kept.
    arrays::InstanceSpec drained = a.spec;
    drained.state = AdminState::draining;
    const auto written = store.update_known_instance(web, a, drained, 4);
    CHECK(written.id == a.id);
    CHECK(written.spec.state == AdminState::draining);
    CHECK(written.health == Health::up);
    CHECK(written.health_changed_ms == 3);
    CHECK(written.health_reason == "probe ok");
    CHECK(same_instance(written, store.load_all().at(0).instances.at(0)));
    auto events = store.events(0, 100);
    CHECK(events.back().reason == "instance changed: state");
    CHECK(events.back().old_value == R"({"state":"enabled"})");

    // A stale copy (weight 7 where the row has 100): the diff is the row's.
    arrays::Instance stale = written;
    stale.spec.weight = 7;
    arrays::InstanceSpec next = stale.spec;
    next.state = AdminState::enabled;
    const auto corrected = store.update_known_instance(web, stale, next, 5);
    CHECK(corrected.spec.weight == 7);
    CHECK(corrected.health == Health::up);
    events = store.events(0, 100);
    CHECK(events.back().reason == "instance changed: weight, state");
    CHECK(events.back().old_value == R"({"weight":100,"state":"draining"})");

    // A copy with stale health: the row's health is returned.
    arrays::Instance stale_health = corrected;
    stale_health.health = Health::down;
    arrays::InstanceSpec weighted = next;
    weighted.weight = 8;
    const auto reread = store.update_known_instance(web, stale_health, weighted, 6);
    CHECK(reread.health == Health::up);
    CHECK(same_instance(reread, store.load_all().at(0).instances.at(0)));

    // A new address goes through update_instance: health reset.
    arrays::InstanceSpec moved = weighted;
    moved.address = *arrays::IpAddress::parse("192.0.2.9");
    const auto relocated = store.update_known_instance(web, reread, moved, 7);
    CHECK(relocated.health == Health::unknown);

    arrays::Instance absent = relocated;
    absent.id += 100;
    CHECK_THROWS_AS(store.update_known_instance(web, absent, moved, 8), NotFoundError);
    CHECK_THROWS_AS(store.update_known_instance("nope.lb.example.com.", relocated, drained, 8), NotFoundError);
    CHECK(store.events(0, 100).size() == events.size() + 2);
  }

  TEST_CASE("replace_instances keeps the ids and health of addresses that stay") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    store.upsert_array("web.lb.example.com.", {}, 1);
    const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    const auto b = store.add_instance("web.lb.example.com.", instance("192.0.2.2"), 3);
    store.set_health({a.id, Health::up, "ok", 4});
    store.set_health({b.id, Health::down, "timeout", 5});

    const auto result = store.replace_instances(
        "web.lb.example.com.", {instance("192.0.2.3"), instance("192.0.2.2", 500, "eu")}, 6);
    REQUIRE(result.size() == 2);
    CHECK(result[0].id == b.id);
    CHECK(result[0].health == Health::down);
    CHECK(result[0].health_reason == "timeout");
    CHECK(result[0].spec.weight == 500);
    CHECK(result[0].spec.region == "eu");
    CHECK(result[1].id > b.id);
    CHECK(result[1].spec.address.to_string() == "192.0.2.3");
    CHECK(result[1].health == Health::unknown);

    CHECK_THROWS_AS(store.replace_instances("web.lb.example.com.",
                                            {instance("192.0.2.7"), instance("192.0.2.7")}, 7),
                    ConflictError);
    CHECK(store.load_all().at(0).instances.size() == 2);  // the failed call changed nothing
  }

  TEST_CASE("deleting an array deletes its instances") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    store.upsert_array("web.lb.example.com.", {}, 1);
    store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    store.delete_array("web.lb.example.com.", 3);
    CHECK(store.load_all().empty());
    CHECK_THROWS_AS(store.delete_array("web.lb.example.com.", 4), NotFoundError);
    SQLite::Database db(dir.file("rotor.db"));
    CHECK(db.execAndGet("SELECT count(*) FROM instances").getInt() == 0);
  }

  TEST_CASE("a failed write throws and leaves the database as it was") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    SqliteStore store(path);
    store.upsert_array("web.lb.example.com.", {}, 1);
    const auto a = store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    const auto before = store.load_all();
    const auto events_before = store.events(0, 100).size();

    test::make_writes_fail(path, "INSERT ON events");
    CHECK_THROWS_WITH_AS(store.set_health({a.id, Health::down, "timeout", 3}),
                         doctest::Contains("simulated write failure"), StoreError);
    CHECK_THROWS_AS(store.add_instance("web.lb.example.com.", instance("192.0.2.2"), 4),
                    StoreError);
    CHECK_THROWS_AS(store.set_health_many({{a.id, Health::up, "ok", 5}}), StoreError);
    CHECK(same_array(store.load_all().at(0), before.at(0)));
    CHECK(store.events(0, 100).size() == events_before);

    test::let_writes_succeed(path);
    CHECK(store.set_health({a.id, Health::down, "timeout", 6}));  // the store still works
  }

  TEST_CASE("atomically commits several writes together or none") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    CHECK_THROWS_AS(store.atomically([&] {
      store.upsert_array("web.lb.example.com.", {}, 1);
      store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
      store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 3);  // conflict
    }),
                    ConflictError);
    CHECK(store.load_all().empty());
    store.atomically([&] {
      store.upsert_array("web.lb.example.com.", {}, 1);
      store.add_instance("web.lb.example.com.", instance("192.0.2.1"), 2);
    });
    CHECK(store.load_all().at(0).instances.size() == 1);
  }

  TEST_CASE("zone serials only grow") {
    ScratchDir dir;
    SqliteStore store(dir.file("rotor.db"));
    CHECK_FALSE(store.zone_serial("lb.example.com.").has_value());
    const uint32_t first = store.bump_zone_serial("lb.example.com.");
    const uint32_t second = store.bump_zone_serial("lb.example.com.");
    CHECK(first > 1600000000u);  // seeded from the clock
    CHECK(second == first + 1);
    CHECK(store.zone_serial("lb.example.com.") == second);
    CHECK_FALSE(store.zone_serial("other.example.").has_value());
  }

  TEST_CASE("a zone serial ahead of the clock grows by one and wraps past 2^32 to the clock") {
    ScratchDir dir;
    const std::string path = dir.file("rotor.db");
    SqliteStore store(path);
    store.bump_zone_serial("ahead.example.");
    store.bump_zone_serial("wrapping.example.");
    {
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      db.exec("UPDATE zone_serials SET serial = 4000000000 WHERE zone = 'ahead.example.'");
      db.exec("UPDATE zone_serials SET serial = 4294967295 WHERE zone = 'wrapping.example.'");
    }
    CHECK(store.bump_zone_serial("ahead.example.") == 4000000001u);
    CHECK(store.zone_serial("ahead.example.") == 4000000001u);
    // 4294967295 + 1 is 0 in serial arithmetic; the clock is ahead of that.
    const uint32_t wrapped = store.bump_zone_serial("wrapping.example.");
    CHECK(wrapped > 1600000000u);
    CHECK(wrapped < 4000000000u);
    CHECK(store.zone_serial("wrapping.example.") == wrapped);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace rotor::registry
