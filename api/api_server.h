#pragma once
// The JSON HTTP API (api/README.md) on its own threads (GuardedServer's
// workers), never the DNS workers. Every request goes: auth (a bearer token
// when one is set; /healthz and /metrics are open), routing (404, 405),
// handler; every error is the API's JSON error shape, httplib's own (413 for
// an oversized body) included.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "api/api_context.h"
#include "api/bearer_auth.h"
#include "api/guarded_server.h"
#include "api/router.h"

namespace rotor::api {

struct ApiOptions {
  std::string listen = "127.0.0.1:0";  // ADDR:PORT or [V6]:PORT; port 0: the kernel picks
  std::string token;                   // empty: no auth
  ConnectionLimits limits;             // deadlines, per-client cap, worker ceiling
};

// Contract: start() once; stop() at most once (the destructor stops). The
// context's referents must outlive the server.
class ApiServer {
 public:
  ApiServer(ApiContext context, ApiOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and starts serving; throws std::runtime_error naming the address
  // when it cannot bind.
  void start();
  void stop();
  // The bound address, "127.0.0.1:40123" or "[::1]:40123"; empty before start().
  const std::string& bound() const noexcept { return bound_; }

 private:
  ApiContext context_;
  ApiOptions options_;
  BearerAuth auth_;
  Router router_;
  std::unique_ptr<GuardedServer> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  std::string bound_;
};

}  // namespace rotor::api
