#pragma once
// A real etcd cluster (1 or 3 members of Debian's etcd-server) on 127.0.0.1
// for the cluster tests: free ports, a temporary directory for data, logs and
// certificates, optional TLS with client certificates (a CA made with the
// openssl command) and optional username/password authentication. The
// constructor returns once every member answers and has a leader (bounded,
// throws std::runtime_error with the members' log tails otherwise); the
// destructor kills every member by PID and removes the directory. Members die
// with the test process (PR_SET_PDEATHSIG). Not thread-safe: one test thread
// drives it.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "server/cluster/etcd_client.h"

namespace rotor::cluster::testing {

struct EtcdClusterOptions {
  int members = 1;
  bool tls = false;                          // https client URLs, --client-cert-auth with the test CA
  bool auth = false;                         // users root and kUser; kUser may read and write kPrefix only
  std::chrono::seconds auth_token_ttl{300};  // etcd --auth-token-ttl (a simple token's idle life)
  // How often watches with progress_notify get a progress response; 0: etcd's default (10 min).
  std::chrono::milliseconds progress_notify_interval{0};
};

class EtcdCluster {
 public:
  static constexpr const char* kPrefix = "/rotor/";
  static constexpr const char* kUser = "rotor";
  static constexpr const char* kPassword = "rotor-test-password";
  static constexpr const char* kRootPassword = "root-test-password";

  explicit EtcdCluster(EtcdClusterOptions options = {});
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int members() const { return static_cast<int>(members_.size()); }
  std::string endpoint(int member) const;  // its client URL
  std::vector<std::string> endpoints() const;
  // Every endpoint, the TLS files and kUser's credentials when enabled, and
  // short timeouts (1 s connect, 3 s request).
  EtcdOptions client_options() const;
  // The client certificate and key, and the CA (empty strings without TLS).
  EtcdTls tls() const;
  const std::filesystem::path& directory() const { return directory_; }

  pid_t pid(int member) const { return members_.at(static_cast<size_t>(member)).pid; }
  // SIGKILL and reap; the member keeps its data directory and ports.
  void kill(int member);
  // Starts a killed member again on its data and ports; returns once it answers.
  void restart(int member);
  // The member's own view: it answers and knows a leader.
  bool has_leader(int member) const;

 private:
  struct Member {
    std::string name;
    uint16_t client_port = 0;
    uint16_t peer_port = 0;
    pid_t pid = -1;
  };

  bool start_all();  // false: a member exited early (a port was taken); the caller retries
  void spawn(Member& member);
  void stop_all();
  bool answers(int member, bool need_leader) const;
  void wait_until(const std::vector<int>& members, bool need_leader);
  void make_certificates();
  void enable_auth();
  std::string member_log_tails() const;
  std::string peer_url(const Member& member) const;

  EtcdClusterOptions options_;
  std::filesystem::path directory_;
  std::vector<Member> members_;
};

}  // namespace rotor::cluster::testing
