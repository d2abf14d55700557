#include "server/registry/sqlite_wal_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>

namespace rotor::registry {

namespace {

constexpr int kFrameHeaderBytes = 24;  // WAL_FRAME_HDRSIZE in SQLite's wal.c
constexpr int kMaxPageBytes = 65536;   // SQLITE_MAX_PAGE_SIZE

// One file SQLite opened through this VFS. SQLite allocates it (szOsFile
// bytes, not constructed: plain fields only) and the unix VFS's own file
// object follows it.
struct File {
  sqlite3_file base;  // pMethods: kMethods
  sqlite3_file* real;
  bool wal;  // a WAL file: frame headers are held back
  bool held;
  sqlite3_int64 held_offset;
  // Where the last call, a read, read: a header written there is a frame's
  // checksum rewritten in place (wal.c, walRewriteChecksums), whose page is
  // not written after it, so it goes out at once.
  sqlite3_int64 read_offset;
  unsigned char header[kFrameHeaderBytes];
  unsigned char* joined;  // header + page, sqlite3_malloc'ed on first use
  int joined_capacity;
};

sqlite3_vfs* real_vfs = nullptr;
sqlite3_vfs vfs;
std::atomic<uint64_t> frames_joined{0};

// The file whose header this thread holds (at most one: the next call on
// any file, made by the same thread, writes or joins it). Validated against
// the open WAL files before use, so that a file closed elsewhere after an
// error left its header held is never touched.
thread_local File* held_by_thread = nullptr;
std::mutex open_wal_files_mutex;
std::set<File*>* open_wal_files = nullptr;  // under the mutex; never freed

sqlite3_file* real_of(sqlite3_file* file) { return reinterpret_cast<File*>(file)->real; }

// A failed write keeps the header held: the file's next call tries again and
// reports the error.
int write_held(File* file) {
  const int rc = file->real->pMethods->xWrite(file->real, file->header, kFrameHeaderBytes, file->held_offset);
  if (rc == SQLITE_OK) file->held = false;
  return rc;
}

// Writes the header this thread holds, if any: before any other call, so
// that every byte reaches the file in SQLite's order relative to every other
// operation (the wal-index's header is published after a barrier call).
// `self`'s own held header is written too: it is this thread's, unless the
// connection moved to this thread after an error left it held.
int flush_held(File* self) {
  if (File* file = std::exchange(held_by_thread, nullptr); file != nullptr) {
    std::lock_guard lock(open_wal_files_mutex);
    if (open_wal_files->contains(file) && file->held) {
      if (const int rc = write_held(file); rc != SQLITE_OK) return rc;
    }
  }
  return self->held ? write_held(self) : SQLITE_OK;
}

int file_close(sqlite3_file* file) {
  File* self = reinterpret_cast<File*>(file);
  const int rc = flush_held(self);
  if (self->wal) {
    std::lock_guard lock(open_wal_files_mutex);
    open_wal_files->erase(self);
  }
  sqlite3_free(self->joined);
  self->joined = nullptr;
  const int closed = self->real->pMethods->xClose(self->real);
  return rc != SQLITE_OK ? rc : closed;
}

int file_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  File* self = reinterpret_cast<File*>(file);
  if (self->held && offset == self->held_offset + kFrameHeaderBytes &&
      amount > 0 && amount <= kMaxPageBytes) {
    // The page of the held header: one write for the frame.
    const int size = kFrameHeaderBytes + amount;
    if (self->joined_capacity < size) {
      sqlite3_free(self->joined);
      self->joined = static_cast<unsigned char*>(sqlite3_malloc(size));
      self->joined_capacity = self->joined != nullptr ? size : 0;
    }
    if (self->joined != nullptr) {
      std::memcpy(self->joined, self->header, kFrameHeaderBytes);
      std::memcpy(self->joined + kFrameHeaderBytes, data, static_cast<size_t>(amount));
      self->held = false;
      if (held_by_thread == self) held_by_thread = nullptr;
      const int rc = self->real->pMethods->xWrite(self->real, self->joined, size, self->held_offset);
      if (rc == SQLITE_OK) frames_joined.fetch_add(1, std::memory_order_relaxed);
      return rc;
    }
  }
  if (const int rc = flush_held(self); rc != SQLITE_OK) return rc;
  const bool rewrite = offset == std::exchange(self->read_offset, -1);
  if (self->wal && amount == kFrameHeaderBytes && !rewrite) {
    std::memcpy(self->header, data, kFrameHeaderBytes);
    self->held = true;
    self->held_offset = offset;
    held_by_thread = self;
    return SQLITE_OK;
  }
  return self->real->pMethods->xWrite(self->real, data, amount, offset);
}

// The other methods: the held header first, then the unix VFS's own.
#define ROTOR_PASS(call)                                  \
  do {                                                    \
    if (const int rc = flush_held(reinterpret_cast<File*>(file)); rc != SQLITE_OK) return rc; \
    sqlite3_file* real = real_of(file);                   \
    return real->pMethods->call;                          \
  } while (false)

int file_read(sqlite3_file* file, void* data, int amount, sqlite3_int64 offset) {
  reinterpret_cast<File*>(file)->read_offset = offset;
  ROTOR_PASS(xRead(real, data, amount, offset));
}
int file_truncate(sqlite3_file* file, sqlite3_int64 size) { ROTOR_PASS(xTruncate(real, size)); }
int file_sync(sqlite3_file* file, int flags) { ROTOR_PASS(xSync(real, flags)); }
int file_size(sqlite3_file* file, sqlite3_int64* size) { ROTOR_PASS(xFileSize(real, size)); }
int file_lock(sqlite3_file* file, int level) { ROTOR_PASS(xLock(real, level)); }
int file_unlock(sqlite3_file* file, int level) { ROTOR_PASS(xUnlock(real, level)); }
int file_check_reserved(sqlite3_file* file, int* reserved) {
  ROTOR_PASS(xCheckReservedLock(real, reserved));
}
int file_control(sqlite3_file* file, int op, void* arg) { ROTOR_PASS(xFileControl(real, op, arg)); }
int file_sector_size(sqlite3_file* file) {
  flush_held(reinterpret_cast<File*>(file));  // cannot fail here: a failed write fails the next call
  return real_of(file)->pMethods->xSectorSize(real_of(file));
}
int file_device_characteristics(sqlite3_file* file) {
  flush_held(reinterpret_cast<File*>(file));
  return real_of(file)->pMethods->xDeviceCharacteristics(real_of(file));
}
int file_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** mapped) {
  ROTOR_PASS(xShmMap(real, region, size, extend, mapped));
}
int file_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  ROTOR_PASS(xShmLock(real, offset, n, flags));
}
void file_shm_barrier(sqlite3_file* file) {
  flush_held(reinterpret_cast<File*>(file));
  real_of(file)->pMethods->xShmBarrier(real_of(file));
}
int file_shm_unmap(sqlite3_file* file, int delete_flag) { ROTOR_PASS(xShmUnmap(real, delete_flag)); }
int file_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** page) {
  ROTOR_PASS(xFetch(real, offset, amount, page));
}
int file_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  ROTOR_PASS(xUnfetch(real, offset, page));
}

#undef ROTOR_PASS

const sqlite3_io_methods kMethods = {
    3,
    file_close,
    file_read,
    file_write,
    file_truncate,
    file_sync,
    file_size,
    file_lock,
    file_unlock,
    file_check_reserved,
    file_control,
    file_sector_size,
    file_device_characteristics,
    file_shm_map,
    file_shm_lock,
    file_shm_barrier,
    file_shm_unmap,
    file_fetch,
    file_unfetch,
};

int vfs_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  File* self = reinterpret_cast<File*>(file);
  std::memset(self, 0, sizeof(File));
  self->real = reinterpret_cast<sqlite3_file*>(self + 1);
  const int rc = real_vfs->xOpen(real_vfs, name, self->real, flags, out_flags);
  if (rc != SQLITE_OK || self->real->pMethods == nullptr) {
    // SQLite calls xClose only on a file whose pMethods is set.
    if (self->real->pMethods != nullptr) self->real->pMethods->xClose(self->real);
    self->base.pMethods = nullptr;
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  // A unix file object of another version (never, today) is used as it is.
  if (self->real->pMethods->iVersion < kMethods.iVersion) {
    self->base.pMethods = nullptr;
    self->real->pMethods->xClose(self->real);
    return SQLITE_CANTOPEN;
  }
  self->wal = (flags & SQLITE_OPEN_WAL) != 0;
  self->read_offset = -1;
  if (self->wal) {
    std::lock_guard lock(open_wal_files_mutex);
    open_wal_files->insert(self);
  }
  self->base.pMethods = &kMethods;
  return SQLITE_OK;
}

}  // namespace

const char* wal_frame_vfs_name() {
  static std::once_flag registered;
  std::call_once(registered, [] {
    real_vfs = sqlite3_vfs_find(nullptr);
    open_wal_files = new std::set<File*>();
    // Everything but the file objects is the default VFS's, called with our
    // sqlite3_vfs: the unix VFS reads only mxPathname and pAppData from it,
    // both copied.
    vfs = *real_vfs;
    vfs.zName = "rotor-wal";
    vfs.szOsFile = static_cast<int>(sizeof(File)) + real_vfs->szOsFile;
    vfs.xOpen = vfs_open;
    vfs.pNext = nullptr;
    sqlite3_vfs_register(&vfs, /*makeDflt=*/0);
  });
  return vfs.zName;
}

uint64_t wal_frames_joined() { return frames_joined.load(std::memory_order_relaxed); }

}  // namespace rotor::registry
