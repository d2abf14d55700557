#pragma once
// One database, one writer: `rotor serve` holds an exclusive flock(2) on a
// lock file beside its database ("rotor.db" -> "rotor.db.lock") for as long
// as it runs, and writes its PID into it. A second rotor on the same database
// fails at once, before it binds or writes anything, naming the file and the
// holder's PID.
//
// Why a separate file: SQLite itself takes POSIX (fcntl) locks on the
// database file, and those are per process and released by any close() of the
// file, so they cannot also carry "held for the process's life". flock locks
// belong to the open file description, which only this object holds (and
// O_CLOEXEC keeps it out of children). The kernel drops the lock when the
// process dies, however it dies, so a stale lock file never blocks a restart.
// The file is left in place on exit: removing it would race with a starting
// process that has just opened it.
//
// Not thread-safe (one per process, made and destroyed on the main thread).

#include <string>

#include "server/net/socket.h"

namespace rotor::app {

class DatabaseLock {
 public:
  // Takes the lock for `database_path`. Throws std::runtime_error naming the
  // database, the lock file and, when another process holds it, its PID;
  // or the OS reason when the lock file cannot be opened.
  explicit DatabaseLock(const std::string& database_path);

  const std::string& lock_path() const noexcept { return lock_path_; }

 private:
  std::string lock_path_;
  net::UniqueFd fd_;
};

}  // namespace rotor::app
