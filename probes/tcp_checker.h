#pragma once
// TCP checks: the instance passes when a TCP connection to address:port
// completes within the timeout. Nothing is sent; the connection is closed at once.

#include <uv.h>

#include <cstddef>
#include <memory>
#include <unordered_set>

#include "probes/checker.h"

namespace rotor::probes {

// Contract (beyond Checker's): used only on its loop's thread. Passes with
// "connected"; fails with "connection refused", "no route to host",
// "timeout after N ms" (the timer beat the handshake), "connect failed: <why>",
// or "cannot bind source address A: <why>" (target.source not usable).
// HTTP fields of the target are ignored.
class TcpChecker final : public Checker {
 public:
  explicit TcpChecker(uv_loop_t* loop);
  ~TcpChecker() override;
  TcpChecker(const TcpChecker&) = delete;
  TcpChecker& operator=(const TcpChecker&) = delete;

  void start(const CheckTarget& target, Done done) override;

  size_t in_flight() const { return attempts_.size(); }

 private:
  struct Attempt;

  uv_loop_t* loop_;
  // Each attempt frees itself once libuv has closed both its handles; the
  // checker only tracks the unfinished ones so it can cancel them.
  std::unordered_set<Attempt*> attempts_;
};

}  // namespace rotor::probes
