#pragma once
// Test harness for the integration tests: child processes (rotor, NSD) with
// captured output, and a DNS client built on ldns so the tests never share
// rotor's own wire code (and therefore its bugs).

// stdbool.h first: it keeps ldns/common.h from #defining true and false,
// which breaks <optional>.
#include <stdbool.h>
#include <ldns/ldns.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace rotor::itest {

using namespace std::chrono_literals;

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Writes `text` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::string& path);

// A child process started with execv, stdout and stderr captured by a reader
// thread (so the child never blocks on a full pipe). The destructor sends
// SIGTERM, then SIGKILL if the child has not exited within two seconds.
class Process {
 public:
  // `working_directory`: the child's, when not empty (else the test's).
  explicit Process(std::vector<std::string> argv, const std::string& working_directory = "");
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // The first stdout line starting with `prefix`, or nullopt on timeout or EOF.
  std::optional<std::string> wait_for_stdout_line(const std::string& prefix,
                                                  std::chrono::milliseconds timeout);
  std::string stdout_text() const;
  std::string stderr_text() const;
  // Waits until stderr contains `text`; false on timeout.
  bool wait_for_stderr(const std::string& text, std::chrono::milliseconds timeout);

  void signal(int signo) const;
  // The exit code (128+signal when killed by a signal), nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool exited() const { return exit_code_.has_value(); }

 private:
  void read_output();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int wake_read_fd_ = -1;   // closing wake_write_fd_ stops the reader thread
  int wake_write_fd_ = -1;
  std::optional<int> exit_code_;
  mutable std::mutex mutex_;
  std::condition_variable output_changed_;
  std::string stdout_;
  std::string stderr_;
  bool output_closed_ = false;
  std::thread reader_;
};

// Runs a command to completion; returns its exit code, stdout+stderr in `output`.
int run_to_exit(std::vector<std::string> argv, std::string& output,
                std::chrono::milliseconds timeout = 10s);

struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
};

// Parses "listening 127.0.0.1:40123 [::1]:40123" into endpoints.
std::vector<Endpoint> parse_listening_line(const std::string& line);

// The rotor binary under test, started with `serve --listen 127.0.0.1:0` in
// a working directory of its own, so that servers without --db or a config
// "db" never share ./rotor.db (one database has one writer). Construction
// fails the current test (with rotor's stderr) unless rotor prints its
// `listening` line within ten seconds.
class RotorServer {
 public:
  explicit RotorServer(const std::vector<std::string>& extra_args);
  Process& process() { return *process_; }
  const Endpoint& endpoint() const { return endpoint_; }
  bool ready() const { return ready_; }
  // The port of rotor's "api 127.0.0.1:PORT" line (waits up to 5 s for it);
  // 0 when it did not come (API off, or rotor failed).
  int api_port();

 private:
  TempDir working_directory_;  // outlives the process
  std::unique_ptr<Process> process_;
  Endpoint endpoint_;
  bool ready_ = false;
};

// The addresses of the A (or AAAA) records of one UDP answer; empty when no
// answer came.
std::set<std::string> answered_addresses(const Endpoint& server, const std::string& name,
                                         const std::string& type = "A");

// A config whose registry lives in `dir` and that declares the zone
// lb.example.test. (rotor makes its SOA and NS); tests add their arrays.
nlohmann::json declared_zone_config(const TempDir& dir);

uint16_t free_port();  // a port that was free on 127.0.0.1 for both UDP and TCP

struct PacketDeleter {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
};
using PacketPtr = std::unique_ptr<ldns_pkt, PacketDeleter>;

struct QueryOptions {
  bool edns = true;
  uint16_t payload = 1232;
  uint8_t edns_version = 0;
  bool dnssec_ok = false;
  bool nsid = false;
  bool recursion_desired = false;
  bool qr = false;           // a response-flagged packet, which a server must ignore
  uint16_t id = 0x1234;
};

// Query wire bytes. The name keeps its case; throws on a malformed name or type.
std::vector<uint8_t> build_query(const std::string& name, ldns_rr_type type,
                                 const QueryOptions& options = {});
std::vector<uint8_t> build_query(const std::string& name, const std::string& type,
                                 const QueryOptions& options = {});

struct Response {
  std::vector<uint8_t> wire;
  PacketPtr packet;  // null when the bytes do not parse
};

// One UDP exchange; nullopt when nothing arrives within `timeout`.
std::optional<Response> exchange_udp(const Endpoint& server, const std::vector<uint8_t>& query,
                                     std::chrono::milliseconds timeout = 2s);
// Sends every query in ONE write on one TCP connection (pipelining) and reads
// as many length-prefixed responses; fewer on timeout or close.
std::vector<Response> exchange_tcp(const Endpoint& server,
                                   const std::vector<std::vector<uint8_t>>& queries,
                                   std::chrono::milliseconds timeout = 2s);
std::optional<Response> exchange_tcp(const Endpoint& server, const std::vector<uint8_t>& query,
                                     std::chrono::milliseconds timeout = 2s);

// One TCP connection driven by hand: partial writes, idle waits, closes.
class TcpConnection {
 public:
  explicit TcpConnection(const Endpoint& server);  // connected() says if it worked
  ~TcpConnection();
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool send_bytes(const std::vector<uint8_t>& bytes);
  // The next length-prefixed message; nullopt on timeout or close.
  std::optional<Response> receive(std::chrono::milliseconds timeout = 2s);
  // True when the server closes the connection within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::vector<uint8_t> pending_;
};

// The TCP framing of one message: a two-byte length, then the bytes.
std::vector<uint8_t> tcp_frame(const std::vector<uint8_t>& message);

// The parts of a response the differential test compares, normalized:
// owner and rdata names lower-cased, every section as a sorted list of RRs.
struct ResponseSummary {
  int rcode = -1;
  bool aa = false;
  bool tc = false;
  bool rd = false;  // copied from the query
  bool ra = false;  // never set by an authoritative-only server
  std::vector<std::string> answer;
  std::vector<std::string> authority;
  std::vector<std::string> additional;  // without OPT
  bool has_opt = false;
  bool dnssec_ok = false;       // DO in the reply's OPT (RFC 3225: copied from the query)
  uint16_t udp_payload = 0;     // the reply's advertised UDP size
};
ResponseSummary summarize(const ldns_pkt& packet);
std::string to_string(const ResponseSummary& summary);

// Empty when the two agree on rcode, AA, TC, RD, RA, answer and authority (as sets),
// and on additional when `with_additional`; otherwise a readable description
// of every difference.
std::string compare_responses(const ResponseSummary& expected, const ResponseSummary& actual,
                              bool with_additional = false);

// The RRs of a section as presentation text (owner lower-cased), for checks.
std::vector<std::string> section_text(const ldns_pkt& packet, ldns_pkt_section section);

}  // namespace rotor::itest
