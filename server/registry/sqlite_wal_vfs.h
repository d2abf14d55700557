#pragma once
// "rotor-wal": SQLite's default VFS (unix) with one difference: a WAL frame
// reaches the file in one write instead of two. SQLite writes each frame as
// its 24-byte header, then the page right after it (wal.c,
// walWriteOneFrame): two pwrite calls, each a pass through the kernel's
// write path, and a registry change commits two frames (tests/bench/README.md,
// "Registry writes"). This VFS holds a frame header back until the next call
// on any file: the page at the offset right after it goes out with it in one
// write; anything else (another write, a read, a sync, a lock, the
// wal-index's barrier before a commit is published, a close) writes the
// header first, alone, as SQLite would have. A header SQLite rewrites in
// place after reading its frame (a checksum rewritten) is not held. Nothing else
// changes: the file's bytes, their order relative to every other operation,
// the locks, the syncs and the errors are the unix VFS's, so other processes
// (the sqlite3 shell's .backup of a running rotor) see the same database.
//
// Thread-safety: SQLite serializes the calls on one file (a connection is
// used by one thread at a time); registration is once per process.

#include <cstdint>

namespace rotor::registry {

// The VFS's name for sqlite3_open_v2, registered (not as the default) on the
// first call. Thread-safe.
const char* wal_frame_vfs_name();

// Frames written in one write since the process started (tests, benchmarks).
uint64_t wal_frames_joined();

}  // namespace rotor::registry
