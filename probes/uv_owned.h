#pragma once
// Heap-owned libuv handles for the checkers. libuv may still touch a handle
// after uv_close() until the loop runs its close callback, so the deleter
// closes the handle and frees the memory from that callback, never before.
// And the checkers' epoll set of their own sockets, watched by one such handle.

#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

namespace rotor::probes {

template <typename Handle>
struct UvCloseDeleter {
  void operator()(Handle* handle) const {
    uv_close(reinterpret_cast<uv_handle_t*>(handle),
             [](uv_handle_t* closed) { delete reinterpret_cast<Handle*>(closed); });
  }
};

// Only for handles that were successfully initialised; free an uninitialised
// one with plain delete.
template <typename Handle>
using UvOwned = std::unique_ptr<Handle, UvCloseDeleter<Handle>>;

// An epoll set of a checker's own sockets, watched as one fd by a uv_poll on
// the checker's loop (`data` for its callback): one epoll_ctl per socket
// change instead of a uv_poll per socket. close() (or the destructor) stops
// the watch and closes the set; a checker whose teardown still touches the
// set (curl's socket callback) calls close() after it. Throws
// std::runtime_error when either cannot be made.
class EpollWatch {
 public:
  EpollWatch(uv_loop_t* loop, void* data) {
    fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    auto* watch = new uv_poll_t;
    if (int rc = uv_poll_init(loop, watch, fd_); rc != 0) {
      delete watch;
      ::close(fd_);
      throw std::runtime_error(std::string("uv_poll_init: ") + uv_strerror(rc));
    }
    watch->data = data;
    watch_.reset(watch);
  }
  ~EpollWatch() { close(); }
  EpollWatch(const EpollWatch&) = delete;
  EpollWatch& operator=(const EpollWatch&) = delete;

  int fd() const { return fd_; }
  uv_poll_t* watch() const { return watch_.get(); }
  void close() {
    if (fd_ < 0) return;
    watch_.reset();  // uv_close stops watching at once; the fd is ours to close
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  UvOwned<uv_poll_t> watch_;
};

}  // namespace rotor::probes
