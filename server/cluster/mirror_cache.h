#pragma once
// The node's copy of the cluster's keys on disk: the mirror of the etcd
// prefix (key, value, create and mod revision), the revision it reflects and
// the id of the etcd cluster it came from, in two tables of the node's SQLite file (--db), so that a node restarts
// and answers at once, even while etcd is unreachable, then catches up from
// that revision. A cache only: it is never the truth, and a cache of another
// prefix is dropped. The file may also hold a single-node rotor database;
// the cache's tables are its own.
//
// Contract: not thread-safe (the store's sync thread alone writes it, after
// the constructor's load). Failures throw registry::StoreError naming the
// file; a failed write leaves the previous state whole (one transaction).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace SQLite {
class Database;
class Transaction;
}

namespace rotor::cluster {

struct MirrorEntry {
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};
using MirrorMap = std::map<std::string, MirrorEntry, std::less<>>;  // key relative to the prefix

class MirrorCache {
 public:
  MirrorCache(const std::string& path, const std::string& prefix);
  ~MirrorCache();
  MirrorCache(const MirrorCache&) = delete;
  MirrorCache& operator=(const MirrorCache&) = delete;

  // What the file holds; revision 0, cluster id 0 and nothing for a new file
  // (cluster id 0 also for a cache written before it was stored).
  int64_t revision() const { return revision_; }
  uint64_t cluster_id() const { return cluster_id_; }
  MirrorMap load() const;

  // Replaces everything (after a full read of that etcd cluster).
  void replace(const MirrorMap& entries, int64_t revision, uint64_t cluster_id);
  // Writes the changed keys (nullptr entry: deleted) and the new revision.
  void update(const std::vector<std::pair<std::string, const MirrorEntry*>>& changes,
              int64_t revision);

 private:
  [[noreturn]] void fail(const std::exception& error) const;
  // Records `revision` with the keys written in `transaction`, and commits.
  void commit_at(SQLite::Transaction& transaction, int64_t revision, uint64_t cluster_id);

  std::string path_;
  std::string prefix_;
  std::unique_ptr<SQLite::Database> db_;
  int64_t revision_ = 0;
  uint64_t cluster_id_ = 0;
};

}  // namespace rotor::cluster
