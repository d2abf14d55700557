#pragma once
// A client of etcd v3's JSON gateway (/v3/kv/*, /v3/lease/*, /v3/watch,
// /v3/auth/authenticate), on libcurl. rotor needs no gRPC stack: the gateway
// speaks JSON with base64 keys and values; this class hides both.
//
// Contract: every call is synchronous and thread-safe (each call uses its own
// curl handle; the auth token is shared under a lock) and bounded by
// `request_timeout`. Endpoints are tried in order, starting from the last one
// that answered; a call fails over to the next endpoint on a connection error
// or a "no leader" answer. Failures throw EtcdError with a kind the caller can
// act on: `unavailable` (no endpoint answered, no leader, timeout: the API
// answers 503), `compacted` (a watch or range asked for a revision etcd
// compacted: read everything again), `auth` (bad credentials or TLS files:
// a config error at startup), `other`. Keys and values are raw bytes here;
// base64 happens inside. Exceptions stay at this edge: the watch callback is
// called on the caller's thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rotor::cluster {

struct EtcdTls {
  std::string ca;    // PEM file of the CA that signed the members' certificates; empty: system CAs
  std::string cert;  // client certificate (PEM); empty: none
  std::string key;   // its private key (PEM)
};

struct EtcdOptions {
  std::vector<std::string> endpoints{"http://127.0.0.1:2379"};
  std::string username;  // empty: no authentication
  std::string password;
  EtcdTls tls;
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds connect_timeout{1000};
};

struct EtcdError : std::runtime_error {
  enum class Kind { unavailable, compacted, auth, other };
  // With `auth`: which option was refused, so that the caller can name its
  // setting. `credentials`: username/password (or the user's role);
  // `ca`: the members' certificate is not trusted with tls.ca; `client_certificate`:
  // tls.cert or tls.key cannot be used; `tls`: the handshake failed otherwise.
  enum class Refused { none, credentials, ca, client_certificate, tls };
  EtcdError(Kind kind, const std::string& message, int64_t compact_revision = 0)
      : std::runtime_error(message), kind(kind), compact_revision(compact_revision) {}
  EtcdError(Refused refused, const std::string& message) : EtcdError(Kind::auth, message) { this->refused = refused; }
  Kind kind;
  int64_t compact_revision;  // with `compacted` from a watch: the oldest revision still kept (a range: 0)
  Refused refused = Refused::none;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeResult {
  int64_t revision = 0;  // the store's revision when the range was read
  uint64_t cluster_id = 0;  // which etcd cluster answered (a new one after a replacement)
  std::vector<KeyValue> kvs;
  bool more = false;
  int64_t count = 0;
};

// One compare of a transaction (the subset rotor uses).
struct Compare {
  enum class Target { mod_revision, create_revision, version, value };
  enum class Result { equal, not_equal, less, greater };
  std::string key;
  Target target = Target::mod_revision;
  Result result = Result::equal;
  int64_t number = 0;  // for the revision and version targets (0 = "key absent")
  std::string value;   // for Target::value
};

// One operation of a transaction.
struct Operation {
  enum class Kind { put, delete_range, range };
  Kind kind = Kind::put;
  std::string key;
  std::string range_end;  // delete_range/range: empty = the one key
  std::string value;      // put
  int64_t lease = 0;      // put: 0 = no lease
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;  // the store's revision after the transaction
  // For each `range` operation of the branch that ran, in order.
  std::vector<RangeResult> ranges;
};

// One event of a watch response.
struct WatchEvent {
  enum class Type { put, remove };
  Type type = Type::put;
  KeyValue kv;  // for `remove`, key and mod_revision (the deletion's revision)
};

// The range_end that makes a range cover every key starting with `prefix`.
std::string prefix_end(const std::string& prefix);

class EtcdClient {
 public:
  explicit EtcdClient(EtcdOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // `range_end` empty: the one key. `revision` 0: the newest. `serializable`:
  // answered from the member's local data without consulting the leader
  // (still works when the cluster has no quorum; may be stale). `limit` 0: all.
  RangeResult range(const std::string& key, const std::string& range_end = {},
                    int64_t revision = 0, bool serializable = false, int64_t limit = 0);
  // Returns the revision after the put.
  int64_t put(const std::string& key, const std::string& value, int64_t lease = 0);
  // Returns how many keys were deleted.
  int64_t delete_range(const std::string& key, const std::string& range_end = {});
  TxnResult txn(const std::vector<Compare>& compares, const std::vector<Operation>& success,
                const std::vector<Operation>& failure = {});

  // Leases. grant returns the lease id; keepalive returns the remaining TTL
  // in seconds (0: the lease has expired and is gone).
  int64_t lease_grant(std::chrono::seconds ttl);
  int64_t lease_keepalive(int64_t lease);
  void lease_revoke(int64_t lease);  // a lease already gone is not an error

  // Compacts the history up to `revision` (tests and the benchmark).
  void compact(int64_t revision);

  // Watches keys in [key, range_end) from `start_revision` (0: from now),
  // calling `on_events(events, revision)` for each response that carries
  // events, and `on_progress(revision)` for progress notifications when
  // given. Blocks until `stop` becomes true (checked at least every 200 ms),
  // or throws EtcdError: `compacted` when start_revision is older than the
  // last compaction (re-read, then watch from the new revision),
  // `unavailable` when the stream breaks or the cluster has no leader (the
  // request carries the `hasleader` metadata so a leaderless member refuses
  // at once). A callback's exception ends the watch and propagates.
  void watch(const std::string& key, const std::string& range_end, int64_t start_revision,
             const std::function<void(const std::vector<WatchEvent>&, int64_t revision)>& on_events,
             const std::atomic<bool>& stop,
             const std::function<void(int64_t revision)>& on_progress = {});

  const EtcdOptions& options() const noexcept { return options_; }

 private:
  struct Impl;
  EtcdOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rotor::cluster
