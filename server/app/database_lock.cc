#include "server/app/database_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace rotor::app {

namespace {

// The PID the holder wrote, or "" when the file is empty or being written.
std::string holder_pid(int fd) {
  char text[32] = {};
  const ssize_t size = ::pread(fd, text, sizeof text - 1, 0);
  std::string pid;
  for (ssize_t i = 0; i < size && text[i] >= '0' && text[i] <= '9'; ++i) pid += text[i];
  return pid;
}

void write_pid(int fd) {
  const std::string pid = std::to_string(::getpid()) + "\n";
  // Best effort: the lock is what excludes; the PID only names the holder.
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
}

}  // namespace

DatabaseLock::DatabaseLock(const std::string& database_path) : lock_path_(database_path + ".lock") {
  fd_.reset(::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd_) {
    throw std::runtime_error("database " + database_path + ": cannot open its lock file " + lock_path_ +
                             ": " + std::strerror(errno));
  }
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      throw std::runtime_error("database " + database_path + ": cannot lock " + lock_path_ + ": " +
                               std::strerror(errno));
    }
    const std::string pid = holder_pid(fd_.get());
    throw std::runtime_error("database " + database_path + " is in use by another rotor" +
                             (pid.empty() ? "" : " (pid " + pid + ")") + ", which holds " + lock_path_ +
                             "; one database has one writer");
  }
  write_pid(fd_.get());
}

}  // namespace rotor::app
