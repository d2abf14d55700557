#pragma once
// Threads whose work can wait a little (the API, registry writes, snapshot
// building, probing) yield the CPU to the DNS workers: they run at nice +10,
// so that on a busy core a worker is scheduled first and a burst of registry
// changes does not delay answers.

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace rotor {

inline void lower_this_thread_priority() noexcept {
  // Linux applies a nice value to the one thread named by its id. Failure
  // (a sandbox forbidding it) only costs the preference.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
}

}  // namespace rotor
