#pragma once
// CPU affinity of rotor's threads (the config's `cpu_affinity`): the CPUs the
// process could run on at startup, and pinning threads to a set of them.
// Operators keep the control plane (API, registry writes, snapshot building,
// probes) off the cores that answer DNS, as NSD's cpu-affinity and PowerDNS's
// cpu-map let them: a registry change then costs the DNS workers only the
// snapshot swap, not the change's own CPU. Threads are pinned once, when they
// start; nothing here is on the query path.
// Thread-safety: every function may be called from any thread.
// Errors: the pinning functions return an errno value (0: done), never throw.

#include <pthread.h>
#include <sched.h>

#include <string>
#include <vector>

namespace rotor {

// The largest CPU number a cpu_set_t holds (glibc's fixed-size set).
inline constexpr int kMaxCpuNumber = CPU_SETSIZE - 1;

// The CPUs the calling thread may run on now (sched_getaffinity), ascending;
// empty if the kernel would not say.
std::vector<int> cpus_of_calling_thread();

// The CPUs this process could run on when this was first called (the calling
// thread's sched_getaffinity), ascending. rotor serve asks before it pins its
// main thread to the control CPUs (the config's validation asks, and main
// asks first thing), so a reload's validation, later on the pinned main
// thread, still checks against the set the process started with.
const std::vector<int>& allowed_cpus_at_startup();

// "0-3,6": ascending CPUs as Linux writes /proc/PID/status's Cpus_allowed_list.
std::string format_cpu_list(std::vector<int> cpus);

// Pins the calling thread to `cpus`; every thread it creates afterwards
// inherits the set. Returns 0 or the errno of sched_setaffinity.
int pin_this_thread(const std::vector<int>& cpus) noexcept;
// Pins `thread`, a thread of this process, to `cpus`. 0 or the error.
int pin_thread(pthread_t thread, const std::vector<int>& cpus) noexcept;

}  // namespace rotor
