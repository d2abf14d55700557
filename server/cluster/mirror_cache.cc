#include "server/cluster/mirror_cache.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include "server/registry/store.h"

namespace rotor::cluster {

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS cluster_mirror(
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cluster_mirror_state(
  id INTEGER PRIMARY KEY CHECK(id = 1),
  prefix TEXT NOT NULL,
  revision INTEGER NOT NULL,
  cluster_id INTEGER NOT NULL DEFAULT 0);
)sql";

// A cache written before the cluster id was stored: the column, 0 (a full
// read stamps it).
void add_cluster_id_column(SQLite::Database& db) {
  SQLite::Statement columns(db, "SELECT 1 FROM pragma_table_info('cluster_mirror_state') WHERE name = 'cluster_id'");
  if (!columns.executeStep()) {
    db.exec("ALTER TABLE cluster_mirror_state ADD COLUMN cluster_id INTEGER NOT NULL DEFAULT 0");
  }
}

void put(SQLite::Statement& insert, const std::string& key, const MirrorEntry& entry) {
  insert.bind(1, key);
  insert.bind(2, entry.value.data(), static_cast<int>(entry.value.size()));
  insert.bind(3, entry.create_revision);
  insert.bind(4, entry.mod_revision);
  insert.exec();
  insert.reset();
}

}  // namespace

[[noreturn]] void MirrorCache::fail(const std::exception& error) const {
  throw registry::StoreError(path_ + ": the cluster cache: " + error.what());
}

MirrorCache::MirrorCache(const std::string& path, const std::string& prefix)
    : path_(path), prefix_(prefix) {
  try {
    db_ = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db_->setBusyTimeout(5000);
    db_->execAndGet("PRAGMA journal_mode = WAL");
    db_->exec("PRAGMA synchronous = NORMAL");
    db_->exec(kSchema);
    add_cluster_id_column(*db_);
    SQLite::Statement state(*db_, "SELECT prefix, revision, cluster_id FROM cluster_mirror_state WHERE id = 1");
    if (state.executeStep()) {
      if (state.getColumn(0).getString() == prefix_) {
        revision_ = state.getColumn(1).getInt64();
        cluster_id_ = static_cast<uint64_t>(state.getColumn(2).getInt64());
      } else {
        // Another prefix's keys: not ours to serve.
        state.reset();
        replace({}, 0, 0);
      }
    }
  } catch (const registry::StoreError&) {
    throw;
  } catch (const std::exception& error) {
    fail(error);
  }
}

MirrorCache::~MirrorCache() = default;

MirrorMap MirrorCache::load() const {
  try {
    MirrorMap entries;
    SQLite::Statement query(*db_,
                            "SELECT key, value, create_revision, mod_revision FROM cluster_mirror");
    while (query.executeStep()) {
      const SQLite::Column value = query.getColumn(1);
      entries.emplace(query.getColumn(0).getString(),
                      MirrorEntry{std::string(static_cast<const char*>(value.getBlob()),
                                              static_cast<size_t>(value.getBytes())),
                                  query.getColumn(2).getInt64(), query.getColumn(3).getInt64()});
    }
    return entries;
  } catch (const std::exception& error) {
    fail(error);
  }
}

void MirrorCache::commit_at(SQLite::Transaction& transaction, int64_t revision, uint64_t cluster_id) {
  SQLite::Statement state(*db_, "INSERT OR REPLACE INTO cluster_mirror_state VALUES(1, ?, ?, ?)");
  state.bind(1, prefix_);
  state.bind(2, revision);
  state.bind(3, static_cast<int64_t>(cluster_id));  // SQLite has no unsigned 64-bit integer
  state.exec();
  transaction.commit();
  revision_ = revision;
  cluster_id_ = cluster_id;
}

void MirrorCache::replace(const MirrorMap& entries, int64_t revision, uint64_t cluster_id) {
  try {
    SQLite::Transaction transaction(*db_);
    db_->exec("DELETE FROM cluster_mirror");
    SQLite::Statement insert(*db_, "INSERT INTO cluster_mirror VALUES(?, ?, ?, ?)");
    for (const auto& [key, entry] : entries) put(insert, key, entry);
    commit_at(transaction, revision, cluster_id);
  } catch (const std::exception& error) {
    fail(error);
  }
}

void MirrorCache::update(const std::vector<std::pair<std::string, const MirrorEntry*>>& changes,
                         int64_t revision) {
  try {
    SQLite::Transaction transaction(*db_);
    SQLite::Statement insert(*db_, "INSERT OR REPLACE INTO cluster_mirror VALUES(?, ?, ?, ?)");
    SQLite::Statement remove(*db_, "DELETE FROM cluster_mirror WHERE key = ?");
    for (const auto& [key, entry] : changes) {
      if (entry != nullptr) {
        put(insert, key, *entry);
      } else {
        remove.bind(1, key);
        remove.exec();
        remove.reset();
      }
    }
    commit_at(transaction, revision, cluster_id_);
  } catch (const std::exception& error) {
    fail(error);
  }
}

}  // namespace rotor::cluster
