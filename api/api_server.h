#pragma once
// The JSON HTTP API (api/README.md) on its own threads (GuardedServer's
// workers), never the DNS workers. Every request goes: auth (a bearer token
// when any is configured, 401; a read-scoped token on a write, 403;
// /healthz, /metrics and the console's files under /ui/ are open), routing (404, 405), handler; every error
// is the API's JSON error shape, httplib's own (413 for an oversized body)
// included. Writes and refused tokens are logged at info with the token's
// name (never the secret), everything else at debug.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/api_context.h"
#include "api/bearer_auth.h"
#include "api/guarded_server.h"
#include "api/router.h"
#include "api/tls_context.h"
#include "server/common/lock_guarded.h"
#include "server/config/config.h"

namespace rotor::api {

struct ApiOptions {
  std::string listen = "127.0.0.1:0";  // ADDR:PORT or [V6]:PORT; port 0: the kernel picks
  std::string token;                   // the write token named "default"; empty: none
  std::vector<config::ApiToken> tokens;  // api.tokens; no token at all: no auth
  ConnectionLimits limits;             // deadlines, per-client cap, worker ceiling
  std::shared_ptr<const TlsContext> tls;  // api.tls (TlsContext::load); null: plain HTTP
};

// The API's listening socket, bound before the ApiServer that will serve it
// exists: `rotor serve` binds every socket before it opens the database, so a
// taken port stops startup before anything is written. Not thread-safe.
class ApiListener {
 public:
  // Binds options.listen. Throws std::runtime_error naming the address and
  // the OS reason: `api.listen: cannot bind "127.0.0.1:8053": Address already in use`.
  explicit ApiListener(const ApiOptions& options);
  // "127.0.0.1:40123" or "[::1]:40123" (the kernel's port when 0 was asked for).
  const std::string& bound() const noexcept { return bound_; }

 private:
  friend class ApiServer;
  std::unique_ptr<GuardedServer> server_;
  std::string bound_;
};

// Contract: start() once; stop() at most once (the destructor stops). The
// context's referents must outlive the server.
class ApiServer {
 public:
  ApiServer(ApiContext context, ApiOptions options);
  // Serves on `listener`'s socket (options.listen is then only informative).
  ApiServer(ApiContext context, ApiOptions options, ApiListener listener);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds (unless made with a listener) and starts serving; throws
  // std::runtime_error naming the address and the reason when it cannot bind.
  void start();
  void stop();
  // The bound address, "127.0.0.1:40123" or "[::1]:40123"; empty before start()
  // unless made with a listener.
  const std::string& bound() const noexcept { return bound_; }
  // Replaces the tokens (a config reload); requests after it are checked
  // against the new ones. Thread-safe.
  void set_tokens(const std::string& token, const std::vector<config::ApiToken>& tokens);

 private:
  void install_handlers();
  // The name of the token `request` carries; ApiError 401 or 403 (with
  // WWW-Authenticate set on `response`) when it may not make the request.
  std::string authorize(const BearerAuth& auth, const httplib::Request& request,
                        httplib::Response& response) const;

  ApiContext context_;
  ApiOptions options_;
  LockGuarded<std::shared_ptr<const BearerAuth>> auth_;  // swapped whole by set_tokens
  Router router_;
  std::unique_ptr<GuardedServer> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  std::atomic<bool> stopping_{false};  // ends long polls (context_.stopping) at stop()
  std::string bound_;
};

}  // namespace rotor::api
