#include "server/cluster/etcd_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <charconv>
#include <climits>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "server/common/lock_guarded.h"

namespace rotor::cluster {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using Kind = EtcdError::Kind;

constexpr auto kStopPoll = std::chrono::milliseconds(100);  // how often a watch looks at `stop`
constexpr size_t kIdleHandles = 8;

void init_curl_once() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) throw EtcdError(Kind::other, std::string("curl init: ") + curl_easy_strerror(code));
}

// --- base64 (the gateway's encoding of bytes fields), via OpenSSL ---

std::string base64_encode(std::string_view bytes) {
  if (bytes.size() > INT_MAX / 2) throw EtcdError(Kind::other, "etcd: value too large to encode");
  std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                               reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  text.resize(static_cast<size_t>(length));
  return text;
}

std::string base64_decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > INT_MAX / 2) throw EtcdError(Kind::other, "etcd sent invalid base64");
  std::string bytes(text.size() / 4 * 3, '\0');
  int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                               reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (length < 0) throw EtcdError(Kind::other, "etcd sent invalid base64");
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t padding = text.ends_with("==") ? 2 : text.ends_with('=') ? 1 : 0;
  bytes.resize(static_cast<size_t>(length) - padding);
  return bytes;
}

// --- JSON fields (the gateway writes int64 as strings and omits zero values) ---

template <typename Integer>
Integer integer_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<Integer>();
  if (it->is_string()) {
    const auto& text = it->get_ref<const std::string&>();
    Integer number = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error == std::errc() && end == text.data() + text.size()) return number;
  }
  throw EtcdError(Kind::other, std::string("etcd sent a non-integer ") + name);
}

int64_t int64_field(const json& object, const char* name) { return integer_field<int64_t>(object, name); }

std::string bytes_field(const json& object, const char* name) {
  auto it = object.find(name);
  return it == object.end() || !it->is_string() ? std::string() : base64_decode(it->get_ref<const std::string&>());
}

const json& object_field(const json& object, const char* name) {
  static const json empty = json::object();
  auto it = object.find(name);
  return it != object.end() && it->is_object() ? *it : empty;
}

KeyValue parse_kv(const json& kv) {
  return {bytes_field(kv, "key"),          bytes_field(kv, "value"),   int64_field(kv, "create_revision"),
          int64_field(kv, "mod_revision"), int64_field(kv, "version"), int64_field(kv, "lease")};
}

RangeResult parse_range(const json& response) {
  RangeResult result;
  result.revision = int64_field(object_field(response, "header"), "revision");
  // A uint64 (often past int64's range).
  result.cluster_id = integer_field<uint64_t>(object_field(response, "header"), "cluster_id");
  if (auto it = response.find("kvs"); it != response.end() && it->is_array())
    for (const auto& kv : *it) result.kvs.push_back(parse_kv(kv));
  result.more = response.value("more", false);
  result.count = int64_field(response, "count");
  return result;
}

// Sets `key`/`range_end` of a request, base64-encoded; an empty range_end is omitted.
json key_request(const std::string& key, const std::string& range_end) {
  json request{{"key", base64_encode(key)}};
  if (!range_end.empty()) request["range_end"] = base64_encode(range_end);
  return request;
}

json operation_json(const Operation& operation) {
  json request = key_request(operation.key, operation.range_end);
  switch (operation.kind) {
    case Operation::Kind::put:
      request.erase("range_end");
      request["value"] = base64_encode(operation.value);
      if (operation.lease != 0) request["lease"] = operation.lease;
      return {{"request_put", request}};
    case Operation::Kind::delete_range:
      return {{"request_delete_range", request}};
    case Operation::Kind::range:
      return {{"request_range", request}};
  }
  throw EtcdError(Kind::other, "etcd: unknown operation");
}

json compare_json(const Compare& compare) {
  static constexpr const char* kResults[] = {"EQUAL", "NOT_EQUAL", "LESS", "GREATER"};
  json request{{"key", base64_encode(compare.key)}, {"result", kResults[static_cast<int>(compare.result)]}};
  switch (compare.target) {
    case Compare::Target::mod_revision:
      request["target"] = "MOD";
      request["mod_revision"] = compare.number;
      break;
    case Compare::Target::create_revision:
      request["target"] = "CREATE";
      request["create_revision"] = compare.number;
      break;
    case Compare::Target::version:
      request["target"] = "VERSION";
      request["version"] = compare.number;
      break;
    case Compare::Target::value:
      request["target"] = "VALUE";
      request["value"] = base64_encode(compare.value);
      break;
  }
  return request;
}

// --- errors: the gateway answers {"error":"..","code":N} (unary) or
// {"error":{"grpc_code":N,"message":".."}} (streams); codes are gRPC's ---

struct GatewayError {
  int code = 0;
  std::string message;
};

GatewayError parse_gateway_error(const json& reply) {
  GatewayError error;
  const json& field = reply.contains("error") ? reply["error"] : reply;
  if (field.is_object()) {
    error.code = static_cast<int>(int64_field(field, "grpc_code"));
    error.message = field.value("message", std::string());
  } else {
    error.code = static_cast<int>(int64_field(reply, "code"));
    error.message = reply.value("message", field.is_string() ? field.get<std::string>() : std::string());
  }
  return error;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

bool is_invalid_token(const std::string& message) { return contains(message, "invalid auth token"); }
bool is_no_leader(const std::string& message) { return contains(message, "no leader"); }

EtcdError to_etcd_error(const std::string& what, int code, const std::string& message) {
  std::string text = "etcd " + what + ": " + message;
  if (contains(message, "compacted")) return {Kind::compacted, text};
  if (code == 14 || code == 4 || is_no_leader(message) || contains(message, "timed out") ||
      contains(message, "leader changed"))
    return {Kind::unavailable, text};
  if (code == 16 || code == 7 || contains(message, "authentication failed") || contains(message, "permission denied") ||
      contains(message, "user name is empty") || is_invalid_token(message))
    return {EtcdError::Refused::credentials, text};
  return {Kind::other, text};
}

bool is_tls_setup_error(CURLcode code) {
  switch (code) {
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

// An `auth` error for a TLS setup error (is_tls_setup_error), naming the file at fault.
EtcdError tls_error(const std::string& endpoint, CURLcode code, const std::string& what) {
  using Refused = EtcdError::Refused;
  const Refused refused = code == CURLE_SSL_CACERT_BADFILE || code == CURLE_PEER_FAILED_VERIFICATION ||
                                  code == CURLE_SSL_ISSUER_ERROR
                              ? Refused::ca
                          : code == CURLE_SSL_CERTPROBLEM || code == CURLE_SSL_CLIENTCERT ? Refused::client_certificate
                                                                                          : Refused::tls;
  return {refused, "etcd " + endpoint + ": TLS: " + what};
}

// --- curl plumbing ---

// CURL and CURLM are both `void`, so each needs its own deleter type.
struct EasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct MultiDeleter {
  void operator()(CURLM* handle) const { curl_multi_cleanup(handle); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

size_t append_body(char* data, size_t size, size_t count, void* target) {
  try {
    static_cast<std::string*>(target)->append(data, size * count);
    return size * count;
  } catch (...) {
    return 0;  // curl then fails the transfer with CURLE_WRITE_ERROR
  }
}

// One finished HTTP exchange with one endpoint.
struct Attempt {
  CURLcode code = CURLE_OK;
  bool connected = false;  // the TCP connection was made (the request may have been sent)
  long status = 0;
  std::string body;
  std::string error;  // curl's text when code != CURLE_OK
};

std::string milliseconds_text(std::chrono::milliseconds duration) { return std::to_string(duration.count()) + " ms"; }

}  // namespace

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: "\0" as range_end means every key >= key
}

struct EtcdClient::Impl {
  explicit Impl(const EtcdOptions& options) : options(options) {
    for (auto& endpoint : this->options.endpoints)
      while (endpoint.ends_with('/')) endpoint.pop_back();
  }

  EtcdOptions options;
  std::atomic<size_t> preferred{0};  // the endpoint that answered last
  LockGuarded<std::vector<EasyPtr>> idle;  // kept for their open connections
  // One call authenticates for all: the others wait (within their deadline)
  // for `authenticating` to clear, then use its token or try themselves.
  struct Auth {
    std::string token;
    bool authenticating = false;
  };
  LockGuarded<Auth> auth;
  std::condition_variable auth_done;

  EasyPtr take_handle() {
    {
      auto handles = idle.lock();
      if (!handles->empty()) {
        EasyPtr handle = std::move(handles->back());
        handles->pop_back();
        curl_easy_reset(handle.get());
        return handle;
      }
    }
    EasyPtr handle(curl_easy_init());
    if (!handle) throw EtcdError(Kind::other, "curl_easy_init failed");
    return handle;
  }

  void give_back(EasyPtr handle) {
    auto handles = idle.lock();
    if (handles->size() < kIdleHandles) handles->push_back(std::move(handle));
  }

  // Options shared by every request: URL, body, headers, TLS.
  SlistPtr prepare(CURL* handle, const std::string& url, const std::string& body, const std::string& auth_token,
                   bool watch, std::string* sink, char* error_buffer) const {
    SlistPtr headers(curl_slist_append(nullptr, "Content-Type: application/json"));
    headers.reset(curl_slist_append(headers.release(), "Expect:"));
    if (!auth_token.empty())
      headers.reset(curl_slist_append(headers.release(), ("Authorization: " + auth_token).c_str()));
    // A leaderless member then refuses the watch at once instead of holding it silently.
    if (watch) headers.reset(curl_slist_append(headers.release(), "Grpc-Metadata-hasleader: true"));
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &append_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(handle, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(handle, CURLOPT_TCP_KEEPINTVL, 2L);
    const auto& tls = options.tls;
    if (!tls.ca.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, tls.ca.c_str());
    if (!tls.cert.empty()) curl_easy_setopt(handle, CURLOPT_SSLCERT, tls.cert.c_str());
    if (!tls.key.empty()) curl_easy_setopt(handle, CURLOPT_SSLKEY, tls.key.c_str());
    return headers;
  }

  Attempt post_once(const std::string& url, const std::string& body, const std::string& auth_token,
                    std::chrono::milliseconds budget) {
    EasyPtr handle = take_handle();
    Attempt attempt;
    char error_buffer[CURL_ERROR_SIZE] = {};
    SlistPtr headers = prepare(handle.get(), url, body, auth_token, false, &attempt.body, error_buffer);
    auto connect_budget = std::min(options.connect_timeout, budget);
    curl_easy_setopt(handle.get(), CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, connect_budget.count())));
    curl_easy_setopt(handle.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, budget.count())));
    attempt.code = curl_easy_perform(handle.get());
    curl_off_t connect_time = 0;
    curl_easy_getinfo(handle.get(), CURLINFO_CONNECT_TIME_T, &connect_time);
    attempt.connected = connect_time > 0;
    curl_easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &attempt.status);
    if (attempt.code != CURLE_OK)
      attempt.error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(attempt.code);
    if (attempt.code == CURLE_OK) give_back(std::move(handle));
    return attempt;
  }

  // POSTs `body` to `path`, trying the endpoints in order from the preferred
  // one. A refused connection or a "no leader" answer moves on to the next;
  // so does a broken connection when the request is `idempotent`. Returns the
  // first answer with an HTTP status; throws `unavailable` when none came
  // before `deadline`, `auth` on a TLS setup error.
  Attempt post(const std::string& path, const std::string& body, const std::string& auth_token,
               Clock::time_point deadline, bool idempotent) {
    const size_t count = options.endpoints.size();
    const size_t first = preferred.load();
    std::string failures;
    for (size_t i = 0; i < count; ++i) {
      auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (budget.count() <= 0) {
        failures += (failures.empty() ? "" : "; ") + std::string("request_timeout (") +
                    milliseconds_text(options.request_timeout) + ") reached";
        break;
      }
      const size_t index = (first + i) % count;
      const std::string& endpoint = options.endpoints[index];
      Attempt attempt = post_once(endpoint + path, body, auth_token, budget);
      if (attempt.code == CURLE_OK) {
        if (attempt.status == 200 || !is_no_leader(attempt.body)) {
          preferred.store(index);
          return attempt;
        }
        failures += (failures.empty() ? "" : "; ") + endpoint + ": no leader";
        continue;
      }
      if (is_tls_setup_error(attempt.code)) throw tls_error(endpoint, attempt.code, attempt.error);
      failures += (failures.empty() ? "" : "; ") + endpoint + ": " + attempt.error;
      bool may_retry = !attempt.connected || (idempotent && attempt.code != CURLE_OPERATION_TIMEDOUT);
      if (!may_retry) break;
    }
    throw EtcdError(Kind::unavailable, "etcd unavailable (" + path + "): " + failures);
  }

  // The token to send; authenticates first when there is none yet.
  std::string current_token(Clock::time_point deadline) {
    if (options.username.empty()) return {};
    {
      auto state = auth.lock();
      // Waiting for another call's authentication counts against the deadline too.
      if (!auth_done.wait_until(state.lock(), deadline, [&] { return !state->authenticating; }))
        throw EtcdError(Kind::unavailable, "etcd: request_timeout reached while waiting for authentication");
      if (!state->token.empty()) return state->token;
      state->authenticating = true;
    }
    std::string token;
    try {
      token = authenticate(deadline);
    } catch (...) {
      finish_authentication({});
      throw;
    }
    finish_authentication(token);
    return token;
  }

  void finish_authentication(const std::string& token) {
    {
      auto state = auth.lock();
      state->token = token;
      state->authenticating = false;
    }
    auth_done.notify_all();
  }

  // A new token from etcd (the caller has set `authenticating`).
  std::string authenticate(Clock::time_point deadline) {
    json request{{"name", options.username}, {"password", options.password}};
    Attempt attempt = post("/v3/auth/authenticate", request.dump(), {}, deadline, true);
    json reply = parse_reply("/v3/auth/authenticate", attempt);
    if (attempt.status != 200) {
      GatewayError error = parse_gateway_error(reply);
      EtcdError mapped = to_etcd_error("authenticate as " + options.username, error.code, error.message);
      if (mapped.kind == Kind::other) throw EtcdError(EtcdError::Refused::credentials, mapped.what());
      throw mapped;
    }
    std::string token = reply.value("token", std::string());
    if (token.empty()) throw EtcdError(EtcdError::Refused::credentials, "etcd authenticate as " + options.username + ": no token");
    return token;
  }

  void forget_token(const std::string& stale) {
    auto state = auth.lock();
    if (state->token == stale) state->token.clear();
  }

  static json parse_reply(const std::string& path, const Attempt& attempt) {
    json reply = json::parse(attempt.body, nullptr, false);
    if (reply.is_discarded() || !reply.is_object())
      throw EtcdError(Kind::other, "etcd " + path + ": HTTP " + std::to_string(attempt.status) +
                                       ", not JSON: " + attempt.body.substr(0, 200));
    return reply;
  }

  // One unary call: POST the request, map errors, re-authenticate once when
  // the token was refused. Bounded by request_timeout as a whole.
  json call(const std::string& path, const json& request, bool idempotent) {
    const auto deadline = Clock::now() + options.request_timeout;
    const std::string body = request.dump();
    for (bool reauthenticated = false;; reauthenticated = true) {
      std::string auth_token = current_token(deadline);
      Attempt attempt = post(path, body, auth_token, deadline, idempotent);
      json reply = parse_reply(path, attempt);
      // Streams (lease keepalive) answer 200 with {"result":..} or an error object inside.
      const bool failed = attempt.status != 200 || (reply.contains("error") && reply["error"].is_object());
      if (!failed) return reply.contains("result") ? reply["result"] : reply;
      GatewayError error = parse_gateway_error(reply);
      if (is_invalid_token(error.message) && !auth_token.empty() && !reauthenticated) {
        forget_token(auth_token);
        continue;
      }
      throw to_etcd_error(path, error.code, error.message);
    }
  }

  // How one watch attempt on one endpoint ended when it did not throw.
  struct WatchOutcome {
    enum class Kind { stopped, not_connected, refused, invalid_token } kind;
    std::string reason;
  };

  WatchOutcome watch_on(size_t index, const std::string& body, const std::string& auth_token,
                        const std::atomic<bool>& stop, const std::function<void(const json& result)>& on_result);

  // Watches on the preferred endpoint, moving on to the next when one cannot
  // be reached or has no leader, and renewing a refused token once.
  void watch(const json& request, const std::atomic<bool>& stop,
             const std::function<void(const json& result)>& on_result) {
    const std::string body = request.dump();
    const size_t count = options.endpoints.size();
    const size_t first = preferred.load();
    std::string failures;
    bool reauthenticated = false;
    for (size_t i = 0; i < count && !stop.load();) {
      std::string auth_token = current_token(Clock::now() + options.request_timeout);
      WatchOutcome outcome = watch_on((first + i) % count, body, auth_token, stop, on_result);
      switch (outcome.kind) {
        case WatchOutcome::Kind::stopped:
          return;
        case WatchOutcome::Kind::invalid_token:
          if (reauthenticated || auth_token.empty()) throw EtcdError(EtcdError::Refused::credentials, outcome.reason);
          forget_token(auth_token);
          reauthenticated = true;
          break;
        case WatchOutcome::Kind::not_connected:
        case WatchOutcome::Kind::refused:
          failures += (failures.empty() ? "" : "; ") + outcome.reason;
          ++i;
          break;
      }
    }
    if (!stop.load()) throw EtcdError(Kind::unavailable, "etcd watch unavailable: " + failures);
  }
};

// --- watch: one streamed POST, read with a multi handle so `stop` is seen
// every kStopPoll; the body is JSON objects one per line ---

namespace {

struct WatchTransfer {
  EasyPtr easy{curl_easy_init()};
  MultiPtr multi{curl_multi_init()};
  SlistPtr headers;
  std::string buffer;
  char error[CURL_ERROR_SIZE] = {};
  ~WatchTransfer() {
    if (multi && easy) curl_multi_remove_handle(multi.get(), easy.get());
  }

  // The next complete line that is not blank.
  std::optional<std::string> next_line() {
    for (size_t newline; (newline = buffer.find('\n')) != std::string::npos;) {
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      if (line.find_first_not_of(" \r\t") != std::string::npos) return line;
    }
    return std::nullopt;
  }

  // Why the transfer ended (after curl reported it done).
  std::pair<CURLcode, std::string> result() {
    int queued = 0;
    CURLMsg* done = curl_multi_info_read(multi.get(), &queued);
    CURLcode code = done != nullptr ? done->data.result : CURLE_OK;
    if (code == CURLE_OK) return {code, "the stream ended"};
    return {code, error[0] != '\0' ? std::string(error) : std::string(curl_easy_strerror(code))};
  }
};

// The error a watch response carries (a gateway error or a cancellation).
std::optional<EtcdError> watch_error(const json& message, const std::string& endpoint) {
  if (message.contains("error")) {
    GatewayError error = parse_gateway_error(message);
    return to_etcd_error("watch " + endpoint, error.code, error.message);
  }
  const json& result = object_field(message, "result");
  if (!result.value("canceled", false)) return std::nullopt;
  if (int64_t compacted = int64_field(result, "compact_revision"); compacted > 0)
    return EtcdError(Kind::compacted, "etcd watch " + endpoint + ": revision compacted", compacted);
  const std::string reason = result.value("cancel_reason", std::string());
  return to_etcd_error("watch " + endpoint, 0, reason.empty() ? "canceled" : reason);
}

}  // namespace

EtcdClient::Impl::WatchOutcome EtcdClient::Impl::watch_on(size_t index, const std::string& body,
                                                          const std::string& auth_token, const std::atomic<bool>& stop,
                                                          const std::function<void(const json& result)>& on_result) {
  const std::string& endpoint = options.endpoints[index];
  WatchTransfer transfer;
  if (!transfer.easy || !transfer.multi) throw EtcdError(Kind::other, "curl init failed");
  transfer.headers =
      prepare(transfer.easy.get(), endpoint + "/v3/watch", body, auth_token, true, &transfer.buffer, transfer.error);
  curl_easy_setopt(transfer.easy.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  curl_multi_add_handle(transfer.multi.get(), transfer.easy.get());
  bool delivered = false;  // a response other than the creation reached on_result
  for (int running = 1; !stop.load();) {
    if (curl_multi_perform(transfer.multi.get(), &running) != CURLM_OK)
      throw EtcdError(Kind::other, "etcd watch: curl_multi_perform failed");
    if (running == 0) transfer.buffer.push_back('\n');  // a last line without its newline
    while (auto line = transfer.next_line()) {
      json message = json::parse(*line, nullptr, false);
      if (message.is_discarded() || !message.is_object())
        throw EtcdError(Kind::other, "etcd watch: not JSON: " + line->substr(0, 200));
      if (auto error = watch_error(message, endpoint)) {
        // Refused before anything was delivered: another member or a new token may do.
        if (!delivered && is_invalid_token(error->what())) return {WatchOutcome::Kind::invalid_token, error->what()};
        if (!delivered && is_no_leader(error->what())) return {WatchOutcome::Kind::refused, error->what()};
        throw *error;
      }
      const json& result = object_field(message, "result");
      if (result.value("created", false))
        preferred.store(index);
      else
        delivered = true;
      on_result(result);
    }
    if (running == 0) {
      auto [code, what] = transfer.result();
      curl_off_t connect_time = 0;
      curl_easy_getinfo(transfer.easy.get(), CURLINFO_CONNECT_TIME_T, &connect_time);
      if (code != CURLE_OK && is_tls_setup_error(code))
        throw tls_error(endpoint, code, what);
      if (code != CURLE_OK && connect_time == 0) return {WatchOutcome::Kind::not_connected, endpoint + ": " + what};
      throw EtcdError(Kind::unavailable, "etcd watch " + endpoint + ": " + what);
    }
    curl_multi_poll(transfer.multi.get(), nullptr, 0, static_cast<int>(kStopPoll.count()), nullptr);
  }
  return {WatchOutcome::Kind::stopped, {}};
}

// --- the public calls ---

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {
  if (options_.endpoints.empty()) throw EtcdError(Kind::other, "etcd: no endpoints");
  init_curl_once();
  impl_ = std::make_unique<Impl>(options_);
}

EtcdClient::~EtcdClient() = default;

RangeResult EtcdClient::range(const std::string& key, const std::string& range_end, int64_t revision, bool serializable,
                              int64_t limit) {
  json request = key_request(key, range_end);
  if (revision != 0) request["revision"] = revision;
  if (serializable) request["serializable"] = true;
  if (limit != 0) request["limit"] = limit;
  return parse_range(impl_->call("/v3/kv/range", request, true));
}

int64_t EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) {
  json request{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) request["lease"] = lease;
  return int64_field(object_field(impl_->call("/v3/kv/put", request, false), "header"), "revision");
}

int64_t EtcdClient::delete_range(const std::string& key, const std::string& range_end) {
  return int64_field(impl_->call("/v3/kv/deleterange", key_request(key, range_end), false), "deleted");
}

TxnResult EtcdClient::txn(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                          const std::vector<Operation>& failure) {
  json request{{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& compare : compares) request["compare"].push_back(compare_json(compare));
  for (const auto& operation : success) request["success"].push_back(operation_json(operation));
  for (const auto& operation : failure) request["failure"].push_back(operation_json(operation));
  json reply = impl_->call("/v3/kv/txn", request, false);
  TxnResult result;
  result.succeeded = reply.value("succeeded", false);
  result.revision = int64_field(object_field(reply, "header"), "revision");
  if (auto it = reply.find("responses"); it != reply.end() && it->is_array())
    for (const auto& response : *it)
      if (response.contains("response_range")) result.ranges.push_back(parse_range(response["response_range"]));
  return result;
}

int64_t EtcdClient::lease_grant(std::chrono::seconds ttl) {
  json reply = impl_->call("/v3/lease/grant", {{"TTL", ttl.count()}, {"ID", 0}}, false);
  if (auto error = reply.value("error", std::string()); !error.empty())
    throw EtcdError(Kind::other, "etcd lease grant: " + error);
  return int64_field(reply, "ID");
}

int64_t EtcdClient::lease_keepalive(int64_t lease) {
  return int64_field(impl_->call("/v3/lease/keepalive", {{"ID", lease}}, true), "TTL");
}

void EtcdClient::lease_revoke(int64_t lease) {
  try {
    impl_->call("/v3/lease/revoke", {{"ID", lease}}, true);
  } catch (const EtcdError& error) {
    // Revoking a lease that is already gone has done what was asked.
    if (error.kind != Kind::other || !contains(error.what(), "lease not found")) throw;
  }
}

void EtcdClient::compact(int64_t revision) {
  impl_->call("/v3/kv/compaction", {{"revision", revision}, {"physical", true}}, true);
}

void EtcdClient::watch(const std::string& key, const std::string& range_end, int64_t start_revision,
                       const std::function<void(const std::vector<WatchEvent>&, int64_t revision)>& on_events,
                       const std::atomic<bool>& stop, const std::function<void(int64_t revision)>& on_progress) {
  json create = key_request(key, range_end);
  if (start_revision != 0) create["start_revision"] = start_revision;
  create["progress_notify"] = true;
  impl_->watch({{"create_request", create}}, stop, [&](const json& result) {
    const int64_t revision = int64_field(object_field(result, "header"), "revision");
    auto events = result.find("events");
    if (events == result.end() || !events->is_array() || events->empty()) {
      if (!result.value("created", false) && on_progress) on_progress(revision);
      return;
    }
    std::vector<WatchEvent> batch;
    batch.reserve(events->size());
    for (const auto& event : *events)
      batch.push_back(
          {event.value("type", std::string("PUT")) == "DELETE" ? WatchEvent::Type::remove : WatchEvent::Type::put,
           parse_kv(object_field(event, "kv"))});
    on_events(batch, revision);
  });
}

}  // namespace rotor::cluster
