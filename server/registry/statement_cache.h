#pragma once
// Prepared statements of one SQLite connection, prepared once and reused.
// Compiling SQL was most of the cost of a write: registering a million
// instances spent more time in SQLite's parser than in writing rows.

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rotor::registry {

class StatementCache {
 public:
  explicit StatementCache(SQLite::Database& db) : db_(db) {}
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // One use of a statement. Ending the use resets the statement and clears its
  // bindings, so that it holds no read snapshot or stale value afterwards.
  class Use {
   public:
    Use(Use&& other) noexcept;
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    Use& operator=(Use&&) = delete;
    ~Use();

    SQLite::Statement& operator*() const noexcept { return *statement_; }
    SQLite::Statement* operator->() const noexcept { return statement_; }

   private:
    friend class StatementCache;
    Use(SQLite::Statement* statement, bool* in_use, std::unique_ptr<SQLite::Statement> owned);

    SQLite::Statement* statement_;
    bool* in_use_;  // the cache entry's flag; null for a one-off statement
    std::unique_ptr<SQLite::Statement> owned_;
  };

  // The statement for `sql`, prepared on first use. A statement already in use
  // (a nested call running the same SQL) gets a one-off copy instead. Looked
  // up by the text itself, without copying it into a std::string: a write's
  // six or so statements used to cost an allocation each just to find them.
  Use get(std::string_view sql);

 private:
  struct Entry {
    std::unique_ptr<SQLite::Statement> statement;
    bool in_use = false;
  };

  // Lets find() take a string_view (heterogeneous lookup).
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
  };

  SQLite::Database& db_;
  std::unordered_map<std::string, Entry, TextHash, std::equal_to<>> entries_;
};

}  // namespace rotor::registry
