#include "server/registry/statement_cache.h"

#include <utility>

namespace rotor::registry {

StatementCache::Use::Use(SQLite::Statement* statement, bool* in_use,
                         std::unique_ptr<SQLite::Statement> owned)
    : statement_(statement), in_use_(in_use), owned_(std::move(owned)) {
  if (in_use_ != nullptr) *in_use_ = true;
}

StatementCache::Use::Use(Use&& other) noexcept
    : statement_(std::exchange(other.statement_, nullptr)),
      in_use_(std::exchange(other.in_use_, nullptr)),
      owned_(std::move(other.owned_)) {}

StatementCache::Use::~Use() {
  if (statement_ == nullptr || in_use_ == nullptr) return;
  statement_->tryReset();
  try {
    statement_->clearBindings();
  } catch (const SQLite::Exception&) {
    // sqlite3_clear_bindings only fails on a finalized statement; ours live as long as the cache.
  }
  *in_use_ = false;
}

StatementCache::Use StatementCache::get(std::string_view sql) {
  auto found = entries_.find(sql);
  if (found == entries_.end()) {
    const std::string text(sql);
    found = entries_.emplace(text, Entry{.statement = std::make_unique<SQLite::Statement>(db_, text)}).first;
  }
  Entry& entry = found->second;
  if (entry.in_use) {
    auto owned = std::make_unique<SQLite::Statement>(db_, std::string(sql));
    SQLite::Statement* statement = owned.get();
    return Use(statement, nullptr, std::move(owned));
  }
  return Use(entry.statement.get(), &entry.in_use, nullptr);
}

}  // namespace rotor::registry
