#pragma once
// Test harness for the integration tests: child processes (rotor, NSD) with
// captured output, temporary directories, and the rotor binary started on
// loopback. They talk DNS with the shared client, tests/support/dns_client.h,
// whose names are used here unqualified.
// Thread-safety: a Process may be read from any thread; the rest belongs to
// the test's thread. Errors: setup failures (mkdtemp, fork, a file that
// cannot be written) throw std::runtime_error; RotorServer fails the current
// test instead.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/dns_client.h"

namespace rotor::itest {

using namespace std::chrono_literals;
using namespace rotor::test;

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
  // Once it has one, the child's output is read to its end (EOF on both
  // pipes, within what is left of the timeout).
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

// A config whose registry lives in `dir` and that declares the zone
// lb.example.test. (rotor makes its SOA and NS); tests add their arrays.
nlohmann::json declared_zone_config(const TempDir& dir);

uint16_t free_port();  // a port that was free on 127.0.0.1 for both UDP and TCP

}  // namespace rotor::itest
