#pragma once
// The process's heap policy, set once at the start of main (rotor serve, and
// the benchmarks that measure what it serves). glibc gives the top of the
// heap back to the kernel (brk) whenever more than 128 KiB of it is free,
// and takes it again at the next allocation. In a process whose threads run
// on several cores each give-back is a TLB shootdown: an interrupt to every
// core running a rotor thread, DNS workers included. A registry write freed
// and retook the heap's top once per change (a SQLite savepoint's release):
// up to half of its CPU on a loaded 2-core VM (tests/bench/README.md,
// "Registry writes"). Keeping up to 32 MiB of free heap top costs at most
// that much resident memory, once.

#include <malloc.h>

namespace rotor {

inline void keep_freed_heap_top() { ::mallopt(M_TRIM_THRESHOLD, 32 << 20); }

}  // namespace rotor
