#pragma once
// Heap-owned libuv handles for the checkers. libuv may still touch a handle
// after uv_close() until the loop runs its close callback, so the deleter
// closes the handle and frees the memory from that callback, never before.

#include <uv.h>

#include <memory>

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

}  // namespace rotor::probes
