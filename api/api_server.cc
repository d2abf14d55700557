#include "api/api_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/routes.h"

namespace rotor::api {

namespace {

struct HostPort {
  std::string host;  // without brackets
  int port = 0;
};

// "127.0.0.1:8053", "[::1]:8053"; the config layer has validated it.
HostPort split_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("api: bad address \"" + listen + "\"");
  HostPort out;
  out.host = listen.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  out.port = std::stoi(listen.substr(colon + 1));
  return out;
}

// The console's files hold no data (the console asks the API with the
// user's token), so a browser can load them before it has one.
bool is_open_route(const std::string& path) {
  return path == "/healthz" || path == "/metrics" || path == "/ui" || path.starts_with("/ui/");
}

std::unique_ptr<GuardedServer> make_unbound_server(const ApiOptions& options) {
  auto server = std::make_unique<GuardedServer>(options.limits, options.tls);
  // httplib's default sets SO_REUSEPORT, which would let a second rotor bind
  // the same address and take half the requests; SO_REUSEADDR alone still
  // allows a restart while old connections linger in TIME_WAIT.
  server->set_socket_options([](socket_t socket) {
    const int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  return server;
}

// Binds `server` to `listen`; returns the bound address.
std::string bind_server(GuardedServer& server, const std::string& listen) {
  const HostPort address = split_listen(listen);
  // httplib reports failure as a bool; the errno of its last bind() or
  // listen() is still set when it returns.
  errno = 0;
  int port = address.port;
  if (port == 0) {
    port = server.bind_to_any_port(address.host);
    if (port < 0) port = 0;
  } else if (!server.bind_to_port(address.host, port)) {
    port = 0;
  }
  if (port == 0) {
    const int error = errno;
    throw std::runtime_error("api.listen: cannot bind \"" + listen + "\": " +
                             (error != 0 ? std::strerror(error) : "address not usable"));
  }
  const bool v6 = address.host.find(':') != std::string::npos;
  return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(port);
}

// A read served while the cluster's store is unreachable says since when:
// the node's data may lag the cluster by that much.
void mark_stale(const registry::StoreStatus& status, httplib::Response& response) {
  if (status.reachable || status.unreachable_since_ms == 0) return;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  response.set_header("Rotor-Stale-Seconds",
                      std::to_string(std::max<int64_t>(0, now - status.unreachable_since_ms) / 1000));
}

// A path as a log may show it: control bytes (a decoded %0A could forge a log
// line) become '?', and a long one is cut.
std::string loggable(const std::string& path) {
  constexpr size_t kMaxLogged = 200;
  std::string out = path.substr(0, kMaxLogged);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (path.size() > kMaxLogged) out += "...";
  return out;
}

// Names cannot hold parentheses, so these never look like a token's name.
constexpr const char* kNoAuth = "(none)";
constexpr const char* kRefused = "(refused)";

void log_request(const httplib::Request& request, int status, const std::string& token) {
  const bool notable = Router::is_write(request.method) || status == 401 || status == 403;
  const auto level = notable ? spdlog::level::info : spdlog::level::debug;
  // The loggable copy of the path is an allocation per request: only when the line is written.
  if (!spdlog::should_log(level)) return;
  spdlog::log(level, "api {} {} {} token {} from {}", request.method, loggable(request.path), status, token,
              request.remote_addr);
}

}  // namespace

ApiListener::ApiListener(const ApiOptions& options)
    : server_(make_unbound_server(options)), bound_(bind_server(*server_, options.listen)) {}

ApiServer::ApiServer(ApiContext context, ApiOptions options)
    : context_(std::move(context)),
      options_(std::move(options)),
      auth_(std::make_shared<const BearerAuth>(options_.token, options_.tokens)),
      server_(make_unbound_server(options_)) {
  install_handlers();
}

ApiServer::ApiServer(ApiContext context, ApiOptions options, ApiListener listener)
    : context_(std::move(context)),
      options_(std::move(options)),
      auth_(std::make_shared<const BearerAuth>(options_.token, options_.tokens)),
      server_(std::move(listener.server_)),
      bound_(std::move(listener.bound_)) {
  install_handlers();
}

void ApiServer::install_handlers() {
  context_.stopping = &stopping_;
  add_api_routes(router_, context_);

  server_->set_payload_max_length(kMaxBodyBytes);

  const httplib::Server::Handler dispatch = [this](const httplib::Request& request,
                                                   httplib::Response& response) {
    std::string token = kNoAuth;  // open routes and an API without tokens
    try {
      const std::shared_ptr<const BearerAuth> auth = *auth_.lock();
      if (!is_open_route(request.path) && auth->required()) {
        token = kRefused;
        token = authorize(*auth, request, response);
      }
      // httplib refuses a declared length over the limit itself (413), not a
      // chunked body; GuardedServer's byte budget bounds what that can read.
      if (request.body.size() > kMaxBodyBytes) throw ApiError(413, "body larger than 1 MiB");
      if (!Router::is_write(request.method)) mark_stale(context_.registry.store_status(), response);
      router_.dispatch(request, response, token == kNoAuth || token == kRefused ? "" : token);
    } catch (...) {
      reply_current_exception(response);
    }
    log_request(request, response.status, token);
  };
  // Every method and path goes to the router, which knows the routes'
  // methods (405) and refuses control characters in a path (400).
  // httplib's own refusals (413 for a large body, 400 for a bad request line)
  // arrive at the error handler without a body: give them the API's error shape.
  const httplib::Server::HandlerWithResponse error_handler =
      [](const httplib::Request&, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        reply_error(response, response.status, status_message(response.status));
        return httplib::Server::HandlerResponse::Handled;
      };
  server_->serve_with(
      dispatch, error_handler,
      [](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
        try {
          std::rethrow_exception(error);
        } catch (...) {
          reply_current_exception(response);
        }
      });
}

ApiServer::~ApiServer() { stop(); }

void ApiServer::set_tokens(const std::string& token, const std::vector<config::ApiToken>& tokens) {
  auto fresh = std::make_shared<const BearerAuth>(token, tokens);
  *auth_.lock() = std::move(fresh);
}

std::string ApiServer::authorize(const BearerAuth& auth, const httplib::Request& request,
                                 httplib::Response& response) const {
  Caller caller;
  if (!auth.identify(request.get_header_value("Authorization"), caller)) {
    response.set_header("WWW-Authenticate", "Bearer");
    throw ApiError(401, request.has_header("Authorization") ? "wrong bearer token"
                                                            : "missing Authorization: Bearer <token>");
  }
  if (caller.scope == config::TokenScope::read && Router::is_write(request.method)) {
    // RFC 6750 3.1: the token is good but lacks the scope.
    response.set_header("WWW-Authenticate", R"(Bearer error="insufficient_scope", scope="write")");
    throw ApiError(403, "token \"" + caller.token_name + "\" has scope read; " + request.method +
                            " needs a token with scope write");
  }
  return caller.token_name;
}

void ApiServer::start() {
  if (bound_.empty()) bound_ = bind_server(*server_, options_.listen);
  thread_ = std::thread([this] {
    if (!server_->listen_after_bind()) spdlog::error("api {}: stopped serving", bound_);
    listen_returned_ = true;
  });
}

void ApiServer::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;  // a long poll returns within its poll interval
  // httplib's stop() does nothing until the listen loop has started, so a
  // stop right after start() waits for it (briefly) rather than hang in join.
  while (!server_->is_running() && !listen_returned_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->stop();
  thread_.join();
}

}  // namespace rotor::api
