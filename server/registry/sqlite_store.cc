#include "server/registry/sqlite_store.h"

#include "server/registry/array_options.h"
#include "server/registry/audit.h"
#include "server/registry/instance_replacement.h"
#include "server/registry/sqlite_wal_vfs.h"
#include "server/registry/statement_cache.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <utility>

namespace rotor::registry {

namespace {

using arrays::Instance;
using arrays::InstanceSpec;

// "rotr": marks the file as ours, so that a database of another program with
// tables of its own is refused instead of being migrated into.
constexpr int kApplicationId = 0x726f7472;

// Migration N (1-based) takes a database from user_version N-1 to N. Append
// only: a released migration is never edited.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE arrays(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT UNIQUE NOT NULL,
  ttl INTEGER NOT NULL,
  degraded_ttl INTEGER NOT NULL,
  policy TEXT NOT NULL,
  max_answers INTEGER NOT NULL,
  when_all_down TEXT NOT NULL,
  check_json TEXT NOT NULL DEFAULT '{}',
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL);
CREATE TABLE instances(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  array_id INTEGER NOT NULL REFERENCES arrays(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  weight INTEGER NOT NULL,
  region TEXT NOT NULL DEFAULT '',
  lat REAL NULL,
  lon REAL NULL,
  state TEXT NOT NULL,
  health TEXT NOT NULL DEFAULT 'unknown',
  health_changed_ms INTEGER NOT NULL DEFAULT 0,
  health_reason TEXT NOT NULL DEFAULT '',
  UNIQUE(array_id, address));
CREATE TABLE events(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  array_name TEXT NOT NULL,
  instance_id INTEGER NOT NULL DEFAULT 0,
  address TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL CHECK(kind IN ('health', 'admin')),
  old TEXT NOT NULL DEFAULT '',
  new TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '');
CREATE TABLE zone_serials(
  zone TEXT PRIMARY KEY,
  serial INTEGER NOT NULL);
)sql",
    // 2: health checks. An array's check_json is '' when it has none (version
    // 1 wrote '{}' for "not set"); an instance may override keys of it.
    R"sql(
UPDATE arrays SET check_json = '' WHERE check_json = '{}';
ALTER TABLE instances ADD COLUMN check_json TEXT NOT NULL DEFAULT '';
)sql",
    // 3: the API token that made an admin change.
    R"sql(
ALTER TABLE events ADD COLUMN token TEXT NOT NULL DEFAULT '';
)sql",
    // 4: "damping" events. SQLite cannot change a CHECK: the table is copied,
    // ids and the id sequence kept (GET /v1/events?since= cursors stay valid).
    R"sql(
CREATE TABLE events_v4(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  array_name TEXT NOT NULL,
  instance_id INTEGER NOT NULL DEFAULT 0,
  address TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL CHECK(kind IN ('health', 'admin', 'damping')),
  old TEXT NOT NULL DEFAULT '',
  new TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  token TEXT NOT NULL DEFAULT '');
INSERT INTO events_v4(id, time_ms, array_name, instance_id, address, kind, old, new, reason, token)
  SELECT id, time_ms, array_name, instance_id, address, kind, old, new, reason, token FROM events;
DELETE FROM sqlite_sequence WHERE name = 'events_v4';
INSERT INTO sqlite_sequence(name, seq) SELECT 'events_v4', seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
)sql",
    // 5: "reload" events, and who asked for a change (Event::source). The
    // table is copied as in 4.
    R"sql(
CREATE TABLE events_v5(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  array_name TEXT NOT NULL,
  instance_id INTEGER NOT NULL DEFAULT 0,
  address TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL CHECK(kind IN ('health', 'admin', 'damping', 'reload')),
  old TEXT NOT NULL DEFAULT '',
  new TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  token TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '');
INSERT INTO events_v5(id, time_ms, array_name, instance_id, address, kind, old, new, reason, token)
  SELECT id, time_ms, array_name, instance_id, address, kind, old, new, reason, token FROM events;
DELETE FROM sqlite_sequence WHERE name = 'events_v5';
INSERT INTO sqlite_sequence(name, seq) SELECT 'events_v5', seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_v5 RENAME TO events;
)sql",
    // 6: array settings beyond the columns above (min_healthy, slow_start,
    // and later keys) as one JSON object, so that a new setting needs no
    // migration; and "panic" events (the table copied as in 4).
    R"sql(
ALTER TABLE arrays ADD COLUMN options_json TEXT NOT NULL DEFAULT '';
CREATE TABLE events_v6(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  array_name TEXT NOT NULL,
  instance_id INTEGER NOT NULL DEFAULT 0,
  address TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL CHECK(kind IN ('health', 'admin', 'damping', 'reload', 'panic')),
  old TEXT NOT NULL DEFAULT '',
  new TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  token TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '');
INSERT INTO events_v6(id, time_ms, array_name, instance_id, address, kind, old, new, reason, token, source)
  SELECT id, time_ms, array_name, instance_id, address, kind, old, new, reason, token, source FROM events;
DELETE FROM sqlite_sequence WHERE name = 'events_v6';
INSERT INTO sqlite_sequence(name, seq) SELECT 'events_v6', seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_v6 RENAME TO events;
)sql",
    // 7: regions and networks made through the API (the config's are not
    // stored). A region is its JSON form (geo_sources.h); a network's cidr
    // is canonical (geo::canonical_cidr).
    R"sql(
CREATE TABLE regions(
  name TEXT PRIMARY KEY,
  spec_json TEXT NOT NULL,
  updated_ms INTEGER NOT NULL);
CREATE TABLE networks(
  cidr TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  updated_ms INTEGER NOT NULL);
)sql",
    // 8: events without AUTOINCREMENT, whose sqlite_sequence row was one of
    // the three WAL pages every event-writing change dirtied. An id is still
    // never given twice: append_event gives max(newest id, event_id_floor) + 1,
    // and prune_events raises the floor to the newest id before deleting, so
    // a log pruned or expired down to nothing goes on from where it was. The
    // floor starts at the old sequence (the newest id ever given).
    R"sql(
CREATE TABLE event_id_floor(id INTEGER NOT NULL);
INSERT INTO event_id_floor(id) SELECT max(
  ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
  ifnull((SELECT max(id) FROM events), 0));
CREATE TABLE events_v8(
  id INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  array_name TEXT NOT NULL,
  instance_id INTEGER NOT NULL DEFAULT 0,
  address TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL CHECK(kind IN ('health', 'admin', 'damping', 'reload', 'panic')),
  old TEXT NOT NULL DEFAULT '',
  new TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  token TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '');
INSERT INTO events_v8(id, time_ms, array_name, instance_id, address, kind, old, new, reason, token, source)
  SELECT id, time_ms, array_name, instance_id, address, kind, old, new, reason, token, source FROM events;
DROP TABLE events;
ALTER TABLE events_v8 RENAME TO events;
)sql",
    // 9: the events' kind CHECK as comparisons instead of an IN list. SQLite
    // checks an IN list of more than two values through a temporary b-tree,
    // built again for every row inserted: each event opened, filled and closed
    // one, a fifth of the instructions of an API PATCH of an instance. The
    // table is copied as in 8, ids kept.
    R"sql(
CREATE TABLE events_v9(
  id INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  array_name TEXT NOT NULL,
  instance_id INTEGER NOT NULL DEFAULT 0,
  address TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL
    CHECK(kind = 'health' OR kind = 'admin' OR kind = 'damping' OR kind = 'reload' OR kind = 'panic'),
  old TEXT NOT NULL DEFAULT '',
  new TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  token TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL DEFAULT '');
INSERT INTO events_v9(id, time_ms, array_name, instance_id, address, kind, old, new, reason, token, source)
  SELECT id, time_ms, array_name, instance_id, address, kind, old, new, reason, token, source FROM events;
DROP TABLE events;
ALTER TABLE events_v9 RENAME TO events;
)sql",
};
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion);

std::string text(std::string_view view) { return std::string(view); }

template <typename T, typename Parse>
T parse_column(const SQLite::Column& column, Parse parse, const char* what) {
  // Read in place: the text stays valid until the row moves on. Its length
  // is asked after the text (sqlite3_column_bytes after sqlite3_column_text).
  const char* text = column.getText();
  const std::string_view value(text, static_cast<size_t>(column.getBytes()));
  if (auto parsed = parse(value)) return *parsed;
  throw StoreError(std::string("bad ") + what + " in the database: '" + std::string(value) + "'");
}

// The columns read_settings reads, in its order, after id and name.
constexpr const char* kArrayColumns =
    "id, name, created_ms, updated_ms, ttl, degraded_ttl, policy, max_answers, when_all_down, "
    "check_json, options_json";

// Column 1 on of kArrayColumns (the settings start at column 4).
arrays::ArraySettings read_settings(SQLite::Statement& row, int first) {
  arrays::ArraySettings settings;
  settings.ttl = static_cast<uint32_t>(row.getColumn(first).getInt64());
  settings.degraded_ttl = static_cast<uint32_t>(row.getColumn(first + 1).getInt64());
  settings.policy =
      parse_column<arrays::Policy>(row.getColumn(first + 2), arrays::policy_from_string, "policy");
  settings.max_answers = static_cast<uint16_t>(row.getColumn(first + 3).getInt());
  settings.when_all_down = parse_column<arrays::WhenAllDown>(
      row.getColumn(first + 4), arrays::when_all_down_from_string, "when_all_down");
  settings.check = row.getColumn(first + 5).getString();
  try {
    read_array_options(row.getColumn(first + 6).getString(), settings);
  } catch (const std::exception& error) {
    throw StoreError(std::string("bad options_json in the database: ") + error.what());
  }
  return settings;
}

StoredArray read_array(SQLite::Statement& row) {
  StoredArray array;
  array.id = row.getColumn(0).getInt64();
  array.name = row.getColumn(1).getString();
  array.created_ms = row.getColumn(2).getInt64();
  array.updated_ms = row.getColumn(3).getInt64();
  array.settings = read_settings(row, 4);
  return array;
}

constexpr const char* kInstanceColumns =
    "id, address, weight, region, lat, lon, state, health, health_changed_ms, health_reason, "
    "check_json";

Instance read_instance(SQLite::Statement& row) {
  Instance instance;
  instance.id = row.getColumn(0).getInt64();
  instance.spec.address = parse_column<arrays::IpAddress>(
      row.getColumn(1), [](std::string_view t) { return arrays::IpAddress::parse(t); }, "address");
  instance.spec.weight = static_cast<uint16_t>(row.getColumn(2).getInt());
  instance.spec.region = row.getColumn(3).getString();
  if (!row.getColumn(4).isNull()) instance.spec.lat = row.getColumn(4).getDouble();
  if (!row.getColumn(5).isNull()) instance.spec.lon = row.getColumn(5).getDouble();
  instance.spec.state =
      parse_column<arrays::AdminState>(row.getColumn(6), arrays::admin_state_from_string, "state");
  instance.health =
      parse_column<arrays::Health>(row.getColumn(7), arrays::health_from_string, "health");
  instance.health_changed_ms = row.getColumn(8).getInt64();
  instance.health_reason = row.getColumn(9).getString();
  instance.spec.check = row.getColumn(10).getString();
  return instance;
}

void bind_optional(SQLite::Statement& statement, int index, const std::optional<double>& value) {
  if (value) {
    statement.bind(index, *value);
  } else {
    statement.bind(index);  // NULL
  }
}

}  // namespace

// BEGIN IMMEDIATE at the outermost level (a writer takes the lock up front
// instead of failing to upgrade later), savepoints inside, so that the
// registry can group several store calls into one atomic write.
class SqliteStore::Transaction {
 public:
  explicit Transaction(SqliteStore& store) : store_(store), depth_(store.transaction_depth_) {
    if (depth_ == 0) {
      store_.statements_->get("BEGIN IMMEDIATE")->exec();
    } else {
      store_.statements_->get("SAVEPOINT " + savepoint())->exec();
    }
    ++store_.transaction_depth_;
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() {
    if (depth_ == 0) {
      // The commit moves the pager's data version on: the next event's id
      // stays known across it if it was known (read or checked in this
      // transaction, or no other connection's commit seen when it began).
      const bool known = store_.next_event_id_ != 0 &&
                         store_.data_version() == store_.next_event_id_version_;
      store_.statements_->get("COMMIT")->exec();
      if (known) {
        store_.next_event_id_version_ = store_.data_version();
      } else {
        store_.next_event_id_ = 0;
      }
    } else {
      store_.statements_->get("RELEASE " + savepoint())->exec();
    }
    committed_ = true;
    --store_.transaction_depth_;
  }

  ~Transaction() {
    if (committed_) return;
    --store_.transaction_depth_;
    store_.next_event_id_ = 0;  // the rolled-back events' ids: read the table again
    try {
      if (depth_ == 0) {
        store_.db_->exec("ROLLBACK");
      } else {
        store_.db_->exec("ROLLBACK TO " + savepoint() + "; RELEASE " + savepoint());
      }
    } catch (const std::exception&) {
      // SQLite already rolled back (e.g. after an I/O error); nothing is left to undo.
    }
  }

 private:
  std::string savepoint() const { return "rotor_" + std::to_string(depth_); }

  SqliteStore& store_;
  int depth_;
  bool committed_ = false;
};

[[noreturn]] void SqliteStore::fail(const std::exception& error) const {
  if (dynamic_cast<const StoreError*>(&error) != nullptr) throw;
  throw StoreError(path_ + ": " + error.what());
}

SqliteStore::SqliteStore(const std::string& path, StoreOptions options) : path_(path), options_(options) {
  try {
    // SQLite's own VFS but for a WAL frame written in one write, not two
    // (sqlite_wal_vfs.h).
    db_ = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                                             /*aBusyTimeoutMs=*/0, wal_frame_vfs_name());
    db_->setBusyTimeout(options_.busy_timeout_ms);
    statements_ = std::make_unique<StatementCache>(*db_);
    // Reading the header first: a corrupt or foreign file is refused before
    // anything (the WAL switch included) writes to it.
    const int application_id = db_->execAndGet("PRAGMA application_id").getInt();
    const int version = db_->execAndGet("PRAGMA user_version").getInt();
    const int tables =
        db_->execAndGet("SELECT count(*) FROM sqlite_master WHERE type = 'table'").getInt();
    if (tables > 0 && (application_id != kApplicationId || version == 0)) {
      throw StoreError(path_ + ": not a rotor database (it has tables but no rotor schema)");
    }
    if (version > kSchemaVersion) {
      throw StoreError(path_ + ": schema version " + std::to_string(version) +
                       " is newer than this rotor understands (" + std::to_string(kSchemaVersion) +
                       "); upgrade rotor");
    }
    if (sqlite3_db_readonly(db_->getHandle(), "main") == 1) {
      throw StoreError(path_ + ": the database file is read-only");
    }
    db_->execAndGet("PRAGMA journal_mode = WAL");
    // In WAL mode NORMAL survives a crash of rotor; only a power loss may
    // forget the last transitions, which the next probe round re-learns.
    db_->exec("PRAGMA synchronous = NORMAL");
    // SQLite's default page cache is 2 MiB, which a registry of 10,000 arrays
    // of 8 outgrows: 2.8 page reads from the file per change. Up to 32 MiB
    // (allocated only as pages are read) keeps it in memory: 1.7 reads per
    // change, the WAL checkpoints' (tests/bench/README.md, Registry writes).
    db_->exec("PRAGMA cache_size = -32768");
    db_->exec("PRAGMA foreign_keys = ON");
    migrate();
  } catch (const std::exception& error) {
    fail(error);
  }
}

SqliteStore::~SqliteStore() = default;

void SqliteStore::migrate() {
  Transaction transaction(*this);
  // Read again under the write lock: another process may have migrated meanwhile.
  int version = db_->execAndGet("PRAGMA user_version").getInt();
  if (version >= kSchemaVersion) return;  // rolls back an empty transaction
  if (version == 0) db_->exec("PRAGMA application_id = " + std::to_string(kApplicationId));
  for (; version < kSchemaVersion; ++version) db_->exec(kMigrations[version]);
  db_->exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
  transaction.commit();
}

int SqliteStore::schema_version() const {
  try {
    return db_->execAndGet("PRAGMA user_version").getInt();
  } catch (const std::exception& error) {
    fail(error);
  }
}

void SqliteStore::atomically(const std::function<void()>& work) {
  try {
    Transaction transaction(*this);
    work();
    transaction.commit();
  } catch (const std::exception& error) {
    fail(error);
  }
}

int64_t SqliteStore::array_id(std::string_view name) const {
  auto query = statements_->get("SELECT id FROM arrays WHERE name = ?");
  query->bind(1, text(name));
  if (!query->executeStep()) throw NotFoundError("no array " + text(name));
  return query->getColumn(0).getInt64();
}

std::optional<arrays::ArraySettings> SqliteStore::stored_settings(std::string_view name) const {
  auto query = statements_->get(std::string("SELECT ") + kArrayColumns + " FROM arrays WHERE name = ?");
  query->bind(1, text(name));
  if (!query->executeStep()) return std::nullopt;
  return read_array(*query).settings;
}

uint32_t SqliteStore::data_version() const {
  unsigned int version = 0;
  sqlite3_file_control(db_->getHandle(), "main", SQLITE_FCNTL_DATA_VERSION, &version);
  return version;
}

void SqliteStore::append_event(const Event& event) {
  // The id as AUTOINCREMENT gave it (never one given before), without its
  // sqlite_sequence write: migration 8. Read from the table only when not
  // known: two subqueries per event were a sixth of its insert.
  if (next_event_id_ == 0 || data_version() != next_event_id_version_) {
    auto next = statements_->get(
        "SELECT max(ifnull((SELECT max(id) FROM events), 0), (SELECT id FROM event_id_floor)) + 1");
    next->executeStep();
    next_event_id_ = next->getColumn(0).getInt64();
    next_event_id_version_ = data_version();
  }
  auto insert = statements_->get(
      "INSERT INTO events(id, time_ms, array_name, instance_id, address, kind, old, new, reason, token, "
      "source) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  // Without copies: the strings outlive the statement's use (its end clears
  // the bindings), and a copy was one malloc and free per text.
  insert->bind(1, next_event_id_);
  insert->bind(2, event.time_ms);
  insert->bindNoCopy(3, event.array_name);
  insert->bind(4, event.instance_id);
  insert->bindNoCopy(5, event.address);
  insert->bindNoCopy(6, event.kind);
  insert->bindNoCopy(7, event.old_value);
  insert->bindNoCopy(8, event.new_value);
  insert->bindNoCopy(9, event.reason);
  insert->bindNoCopy(10, event_origin_.token);
  insert->bindNoCopy(11, event_origin_.source);
  insert->exec();
  ++next_event_id_;
  if (++events_since_prune_ >= 1024) prune_events();
}

void SqliteStore::prune_events() {
  events_since_prune_ = 0;
  // Whatever is deleted below, the next event's id is above every id given.
  auto floor = statements_->get(
      "UPDATE event_id_floor SET id = max(id, ifnull((SELECT max(id) FROM events), 0))");
  floor->exec();
  auto prune = statements_->get("DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?");
  prune->bind(1, static_cast<int64_t>(options_.events.max_count));
  prune->exec();
  if (options_.events.max_age_ms == 0) return;
  auto expire = statements_->get("DELETE FROM events WHERE time_ms < ?");
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  expire->bind(1, now - options_.events.max_age_ms);
  expire->exec();
}

int64_t SqliteStore::upsert_array(std::string_view name, const arrays::ArraySettings& settings,
                            int64_t now_ms) {
  try {
    Transaction transaction(*this);
    const std::optional<arrays::ArraySettings> old_settings = stored_settings(name);
    auto upsert = statements_->get(
        "INSERT INTO arrays(name, ttl, degraded_ttl, policy, max_answers, "
        "when_all_down, check_json, created_ms, updated_ms, options_json) "
        "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET ttl = excluded.ttl, "
        "degraded_ttl = excluded.degraded_ttl, policy = excluded.policy, "
        "max_answers = excluded.max_answers, "
        "when_all_down = excluded.when_all_down, check_json = excluded.check_json, "
        "updated_ms = excluded.updated_ms, options_json = excluded.options_json");
    upsert->bind(1, text(name));
    upsert->bind(2, static_cast<int64_t>(settings.ttl));
    upsert->bind(3, static_cast<int64_t>(settings.degraded_ttl));
    upsert->bind(4, text(arrays::to_string(settings.policy)));
    upsert->bind(5, static_cast<int>(settings.max_answers));
    upsert->bind(6, text(arrays::to_string(settings.when_all_down)));
    upsert->bind(7, settings.check);
    upsert->bind(8, now_ms);
    upsert->bind(9, now_ms);
    upsert->bind(10, array_options_text(settings));
    upsert->exec();
    const int64_t id = array_id(name);
    if (auto event = audit::array_written(name, old_settings, settings, now_ms)) append_event(*event);
    transaction.commit();
    return id;
  } catch (const std::exception& error) {
    fail(error);
  }
}

void SqliteStore::delete_array(std::string_view name, int64_t now_ms) {
  try {
    Transaction transaction(*this);
    const int64_t id = array_id(name);
    const std::optional<arrays::ArraySettings> settings = stored_settings(name);
    size_t instances = 0;
    {
      auto count = statements_->get("SELECT count(*) FROM instances WHERE array_id = ?");
      count->bind(1, id);
      count->executeStep();
      instances = static_cast<size_t>(count->getColumn(0).getInt64());
    }
    auto remove = statements_->get("DELETE FROM arrays WHERE name = ?");
    remove->bind(1, text(name));
    remove->exec();
    append_event(audit::array_deleted(name, settings.value_or(arrays::ArraySettings{}), instances, now_ms));
    transaction.commit();
  } catch (const std::exception& error) {
    fail(error);
  }
}

namespace {

Instance find_instance(StatementCache& statements, int64_t array_id, std::string_view array, int64_t id) {
  auto query = statements.get(std::string("SELECT ") + kInstanceColumns +
                                  " FROM instances WHERE id = ? AND array_id = ?");
  query->bind(1, id);
  query->bind(2, array_id);
  if (!query->executeStep()) {
    throw NotFoundError("no instance " + std::to_string(id) + " in " + std::string(array));
  }
  return read_instance(*query);
}

// ConflictError when the array already has an instance at `address`.
void require_free_address(StatementCache& statements, int64_t array_id, std::string_view array,
                          const std::string& address) {
  auto query = statements.get("SELECT id FROM instances WHERE array_id = ? AND address = ?");
  query->bind(1, array_id);
  query->bind(2, address);
  if (query->executeStep()) {
    throw ConflictError(text(array) + " already has an instance with address " + address);
  }
}

// The spec's fields but the address, from parameter `first` on: weight,
// region, lat, lon, state, check.
// An admin state's name as the database stores it, made once.
const std::string& state_text(arrays::AdminState state) {
  static const std::string kNames[] = {text(arrays::to_string(arrays::AdminState::enabled)),
                                       text(arrays::to_string(arrays::AdminState::draining)),
                                       text(arrays::to_string(arrays::AdminState::disabled))};
  return kNames[static_cast<size_t>(state)];
}

// A health's name as the database stores it, made once.
const std::string& health_text(arrays::Health health) {
  static const std::string kNames[] = {text(arrays::to_string(arrays::Health::unknown)),
                                       text(arrays::to_string(arrays::Health::up)),
                                       text(arrays::to_string(arrays::Health::down))};
  return kNames[static_cast<size_t>(health)];
}

// The texts without copies: `spec` outlives the statement's use, and the
// state's name is a constant.
void bind_spec_fields(SQLite::Statement& statement, const InstanceSpec& spec, int first) {
  statement.bind(first, static_cast<int>(spec.weight));
  statement.bindNoCopy(first + 1, spec.region);
  bind_optional(statement, first + 2, spec.lat);
  bind_optional(statement, first + 3, spec.lon);
  statement.bindNoCopy(first + 4, state_text(spec.state));
  statement.bindNoCopy(first + 5, spec.check);
}

void bind_spec(SQLite::Statement& statement, const InstanceSpec& spec) {
  statement.bind(1, spec.address.to_string());
  bind_spec_fields(statement, spec, 2);
}

}  // namespace

Instance SqliteStore::add_instance(std::string_view array, const InstanceSpec& spec, int64_t now_ms) {
  try {
    Transaction transaction(*this);
    const int64_t owner = array_id(array);
    const std::string address = spec.address.to_string();
    require_free_address(*statements_, owner, array, address);
    auto insert = statements_->get("INSERT INTO instances(address, weight, region, lat, lon, state, "
                             "check_json, array_id) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    bind_spec(*insert, spec);
    insert->bind(8, owner);
    insert->exec();
    Instance instance{.id = db_->getLastInsertRowid(), .spec = spec};
    append_event(audit::instance_added(array, instance, now_ms));
    transaction.commit();
    return instance;
  } catch (const std::exception& error) {
    fail(error);
  }
}

Instance SqliteStore::update_instance(std::string_view array, int64_t id, const InstanceSpec& spec,
                                int64_t now_ms) {
  try {
    Transaction transaction(*this);
    // One read finds the array and the instance in it: the statements of a
    // write, each a pass through SQLite's VM, are most of its CPU after the I/O.
    static const std::string find_in_array = std::string("SELECT ") + kInstanceColumns +
                                             ", array_id FROM instances WHERE id = ? AND "
                                             "array_id = (SELECT id FROM arrays WHERE name = ?)";
    auto query = statements_->get(find_in_array);
    query->bind(1, id);
    query->bind(2, text(array));
    if (!query->executeStep()) {
      array_id(array);  // NotFoundError naming the array when that is what is missing
      throw NotFoundError("no instance " + std::to_string(id) + " in " + std::string(array));
    }
    Instance instance = read_instance(*query);
    const int64_t owner = query->getColumn(11).getInt64();
    query->reset();
    const bool moved = !(instance.spec.address == spec.address);
    if (moved) {
      require_free_address(*statements_, owner, array, spec.address.to_string());
      // A new address is a new endpoint: what we knew about the old one does not carry over.
      auto update = statements_->get(
          "UPDATE instances SET address = ?, weight = ?, region = ?, lat = ?, lon = ?, state = ?, "
          "check_json = ?, health = 'unknown', health_changed_ms = ?, health_reason = 'address changed' "
          "WHERE id = ?");
      bind_spec(*update, spec);
      update->bind(8, now_ms);
      update->bind(9, id);
      update->exec();
      instance.health = arrays::Health::unknown;
      instance.health_changed_ms = now_ms;
      instance.health_reason = "address changed";
    } else {
      // Without the address, so that its index (array_id, address) is not
      // rewritten: one page less in the WAL per write.
      auto update = statements_->get("UPDATE instances SET weight = ?, region = ?, lat = ?, lon = ?, "
                                     "state = ?, check_json = ? WHERE id = ?");
      bind_spec_fields(*update, spec, 1);
      update->bind(7, id);
      update->exec();
    }
    if (auto event = audit::instance_changed(array, id, instance.spec, spec, now_ms)) append_event(*event);
    instance.spec = spec;
    transaction.commit();
    return instance;
  } catch (const std::exception& error) {
    fail(error);
  }
}

Instance SqliteStore::update_known_instance(std::string_view array, const Instance& current,
                                            const InstanceSpec& spec, int64_t now_ms) {
  // A new address resets health and needs its index checked: update_instance.
  if (!(current.spec.address == spec.address)) return update_instance(array, current.id, spec, now_ms);
  try {
    Transaction transaction(*this);
    int changed = 0;
    {
      // One statement instead of a SELECT and an UPDATE (the SELECT, its row
      // read and its reset were a fifth of a write): the row changes only
      // where it still holds `current`, spec and health, so what the audit
      // diff below shows as old and what is returned are the database's.
      // (Not RETURNING: SQLite gathers its rows in a temporary b-tree built
      // for every execution, which cost more than the SELECT.)
      auto update = statements_->get(
          "UPDATE instances SET weight = ?1, region = ?2, lat = ?3, lon = ?4, state = ?5, check_json = ?6 "
          "WHERE id = ?7 AND array_id = (SELECT id FROM arrays WHERE name = ?8) AND address = ?9 "
          "AND weight = ?10 AND region = ?11 AND lat IS ?12 AND lon IS ?13 AND state = ?14 "
          "AND check_json = ?15 AND health = ?16 AND health_changed_ms = ?17 AND health_reason = ?18");
      const std::string array_text = text(array);
      const std::string address = current.spec.address.to_string();
      bind_spec_fields(*update, spec, 1);
      update->bind(7, current.id);
      update->bindNoCopy(8, array_text);
      update->bindNoCopy(9, address);
      bind_spec_fields(*update, current.spec, 10);
      update->bindNoCopy(16, health_text(current.health));
      update->bind(17, current.health_changed_ms);
      update->bindNoCopy(18, current.health_reason);
      changed = update->exec();
    }
    if (changed == 0) {
      // Absent, or not what the caller holds: read, check and write it as update_instance does.
      Instance instance = update_instance(array, current.id, spec, now_ms);
      transaction.commit();
      return instance;
    }
    if (auto event = audit::instance_changed(array, current.id, current.spec, spec, now_ms)) append_event(*event);
    transaction.commit();
    return Instance{.id = current.id,
                    .spec = spec,
                    .health = current.health,
                    .health_changed_ms = current.health_changed_ms,
                    .health_reason = current.health_reason};
  } catch (const std::exception& error) {
    fail(error);
  }
}

void SqliteStore::remove_instance(std::string_view array, int64_t id, int64_t now_ms) {
  remove_instance_if(array, id, now_ms, [](const Instance&) { return std::string(); });
}

bool SqliteStore::remove_instance_if(std::string_view array, int64_t id, int64_t now_ms,
                                     const RemovalDecision& decide) {
  try {
    Transaction transaction(*this);
    const int64_t owner = array_id(array);
    const Instance instance = find_instance(*statements_, owner, array, id);
    const std::optional<std::string> why = decide(instance);
    if (!why) return false;
    auto remove = statements_->get("DELETE FROM instances WHERE id = ?");
    remove->bind(1, id);
    remove->exec();
    append_event(audit::instance_removed(array, instance, now_ms, *why));
    transaction.commit();
    return true;
  } catch (const std::exception& error) {
    fail(error);
  }
}

std::vector<Instance> SqliteStore::replace_instances(std::string_view array,
                                               const std::vector<InstanceSpec>& specs,
                                               int64_t now_ms) {
  try {
    Transaction transaction(*this);
    const int64_t owner = array_id(array);
    std::map<std::string, int64_t> existing;  // address -> id
    {
      auto query = statements_->get("SELECT address, id FROM instances WHERE array_id = ?");
      query->bind(1, owner);
      while (query->executeStep()) {
        existing.emplace(query->getColumn(0).getString(), query->getColumn(1).getInt64());
      }
    }
    const InstanceReplacement plan = plan_instance_replacement(array, specs, existing);
    for (int64_t id : plan.removed) remove_instance(array, id, now_ms);
    for (const auto& [spec, id] : plan.written) {
      if (id) {
        update_instance(array, *id, *spec, now_ms);
      } else {
        add_instance(array, *spec, now_ms);
      }
    }
    std::vector<Instance> instances;
    auto query = statements_->get(std::string("SELECT ") + kInstanceColumns +
                                      " FROM instances WHERE array_id = ? ORDER BY id");
    query->bind(1, owner);
    while (query->executeStep()) instances.push_back(read_instance(*query));
    transaction.commit();
    return instances;
  } catch (const std::exception& error) {
    fail(error);
  }
}

bool SqliteStore::set_health(const HealthChange& change) {
  try {
    Transaction transaction(*this);
    auto query = statements_->get("SELECT a.name, i.address, i.health FROM instances i "
                            "JOIN arrays a ON a.id = i.array_id WHERE i.id = ?");
    query->bind(1, change.instance_id);
    if (!query->executeStep()) {
      throw NotFoundError("no instance " + std::to_string(change.instance_id));
    }
    const arrays::Health old_health =
        parse_column<arrays::Health>(query->getColumn(2), arrays::health_from_string, "health");
    if (old_health == change.health) return false;
    const std::string new_health = text(arrays::to_string(change.health));
    auto update = statements_->get("UPDATE instances SET health = ?, health_changed_ms = ?, "
                             "health_reason = ? WHERE id = ?");
    update->bind(1, new_health);
    update->bind(2, change.time_ms);
    update->bind(3, change.reason);
    update->bind(4, change.instance_id);
    update->exec();
    append_event(audit::health_changed(query->getColumn(0).getString(), change.instance_id,
                                       query->getColumn(1).getString(), old_health, change.health,
                                       change.reason, change.time_ms));
    transaction.commit();
    return true;
  } catch (const std::exception& error) {
    fail(error);
  }
}

void SqliteStore::append_events(const std::vector<Event>& events) {
  atomically([&] {
    for (const Event& event : events) append_event(event);
  });
}

std::vector<HealthChange> SqliteStore::set_health_many(const std::vector<HealthChange>& changes) {
  std::vector<HealthChange> applied;
  atomically([&] {
    for (const HealthChange& change : changes) {
      try {
        if (set_health(change)) applied.push_back(change);
      } catch (const NotFoundError&) {
        // Removed while its probe ran: nothing to record.
      }
    }
  });
  return applied;
}

std::vector<StoredArray> SqliteStore::load_all() const {
  try {
    std::vector<StoredArray> arrays;
    std::map<int64_t, size_t> by_id;
    auto query = statements_->get(std::string("SELECT ") + kArrayColumns +
                                  " FROM arrays ORDER BY name");
    while (query->executeStep()) {
      arrays.push_back(read_array(*query));
      by_id.emplace(arrays.back().id, arrays.size() - 1);
    }
    auto instances = statements_->get(std::string("SELECT ") + kInstanceColumns +
                                      ", array_id FROM instances ORDER BY id");
    while (instances->executeStep()) {
      const auto owner = by_id.find(instances->getColumn(11).getInt64());
      if (owner != by_id.end()) arrays[owner->second].instances.push_back(read_instance(*instances));
    }
    return arrays;
  } catch (const std::exception& error) {
    fail(error);
  }
}

std::optional<StoredArray> SqliteStore::load_array(std::string_view name) const {
  try {
    auto query = statements_->get(std::string("SELECT ") + kArrayColumns +
                                  " FROM arrays WHERE name = ?");
    query->bind(1, text(name));
    if (!query->executeStep()) return std::nullopt;
    StoredArray array = read_array(*query);
    query->reset();
    auto instances = statements_->get(std::string("SELECT ") + kInstanceColumns +
                                      " FROM instances WHERE array_id = ? ORDER BY id");
    instances->bind(1, array.id);
    while (instances->executeStep()) array.instances.push_back(read_instance(*instances));
    return array;
  } catch (const std::exception& error) {
    fail(error);
  }
}

std::vector<Event> SqliteStore::events(const EventFilter& filter) const {
  try {
    std::vector<Event> events;
    // One statement for every filter: an unset field matches everything.
    auto query = statements_->get(
        "SELECT id, time_ms, array_name, instance_id, address, kind, old, new, reason, token, source "
        "FROM events "
        "WHERE id > ?1 AND (?2 = '' OR array_name = ?2) AND (?3 = 0 OR instance_id = ?3) "
        "AND (?4 = '' OR kind = ?4) AND (?5 = 0 OR time_ms >= ?5) AND (?6 = 0 OR time_ms < ?6) "
        "ORDER BY id LIMIT ?7");
    query->bind(1, filter.since_id);
    query->bind(2, filter.array);
    query->bind(3, filter.instance_id);
    query->bind(4, filter.kind);
    query->bind(5, filter.from_ms);
    query->bind(6, filter.until_ms);
    query->bind(7, static_cast<int64_t>(std::min<size_t>(filter.limit, INT64_MAX)));
    while (query->executeStep()) {
      events.push_back({.id = query->getColumn(0).getInt64(),
                        .time_ms = query->getColumn(1).getInt64(),
                        .array_name = query->getColumn(2).getString(),
                        .instance_id = query->getColumn(3).getInt64(),
                        .address = query->getColumn(4).getString(),
                        .kind = query->getColumn(5).getString(),
                        .old_value = query->getColumn(6).getString(),
                        .new_value = query->getColumn(7).getString(),
                        .reason = query->getColumn(8).getString(),
                        .source = query->getColumn(10).getString(),
                        .token = query->getColumn(9).getString()});
    }
    return events;
  } catch (const std::exception& error) {
    fail(error);
  }
}

std::optional<uint32_t> SqliteStore::zone_serial(std::string_view zone) const {
  try {
    auto query = statements_->get("SELECT serial FROM zone_serials WHERE zone = ?");
    query->bind(1, text(zone));
    if (!query->executeStep()) return std::nullopt;
    return static_cast<uint32_t>(query->getColumn(0).getInt64());
  } catch (const std::exception& error) {
    fail(error);
  }
}

uint32_t SqliteStore::bump_zone_serial(std::string_view zone) {
  try {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    // One statement, atomic on its own (no savepoint around a read and a
    // write): every API write in a synthetic zone bumps its serial.
    // max(old + 1, now) in serial arithmetic (RFC 1982 wraps at 2^32), and
    // never 0, which some tools read as unset.
    auto upsert = statements_->get(
        "INSERT INTO zone_serials(zone, serial) VALUES(?1, max(?2, 1)) "
        "ON CONFLICT(zone) DO UPDATE SET serial = max((serial + 1) % 4294967296, ?2, 1) "
        "RETURNING serial");
    upsert->bind(1, text(zone));
    upsert->bind(2, static_cast<int64_t>(static_cast<uint32_t>(now)));
    if (!upsert->executeStep()) throw StoreError("zone " + text(zone) + ": no serial written");
    const auto serial = static_cast<uint32_t>(upsert->getColumn(0).getInt64());
    // Run to its end: outside a transaction that is the commit, whose error must not be lost.
    while (upsert->executeStep()) {
    }
    return serial;
  } catch (const std::exception& error) {
    fail(error);
  }
}

}  // namespace rotor::registry
