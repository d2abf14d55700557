#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <doctest/doctest.h>

namespace rotor::itest {

namespace {

using Clock = std::chrono::steady_clock;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// 127.0.0.1, port 0: the kernel picks one.
sockaddr_in loopback_any_port() {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = "/tmp/rotor-itest-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(const std::string& name, const std::string& text) const {
  std::filesystem::path file = path_ / name;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + file.string());
  return file.string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Process::Process(std::vector<std::string> argv, const std::string& working_directory) {
  int out_pipe[2];
  int err_pipe[2];
  int wake_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(wake_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  }
  // Everything the child needs is prepared before fork: only async-signal-safe
  // calls may run between fork and execv in a threaded parent.
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // Its own process group: NSD signals its whole group on some paths, and
    // the test must not receive that; the group also lets the destructor
    // reach grandchildren.
    ::setpgid(0, 0);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (!working_directory.empty() && ::chdir(working_directory.c_str()) != 0) ::_exit(127);
    ::execv(args[0], args.data());
    static constexpr char kMessage[] = "execv failed\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  stdout_fd_ = out_pipe[0];
  stderr_fd_ = err_pipe[0];
  wake_read_fd_ = wake_pipe[0];
  wake_write_fd_ = wake_pipe[1];
  reader_ = std::thread([this] { read_output(); });
}

Process::~Process() {
  if (!exit_code_) {
    signal(SIGTERM);
    if (!wait_exit(2s)) {
      // The whole group: a stuck NSD also has server processes under it.
      ::kill(-pid_, SIGKILL);
      wait_exit(5s);
    }
  }
  ::close(wake_write_fd_);  // stops the reader even if a grandchild keeps the pipes open
  reader_.join();
  ::close(wake_read_fd_);
  ::close(stdout_fd_);
  ::close(stderr_fd_);
}

void Process::read_output() {
  bool stdout_open = true;
  bool stderr_open = true;
  while (stdout_open || stderr_open) {
    pollfd entries[3] = {
        {.fd = stdout_open ? stdout_fd_ : -1, .events = POLLIN, .revents = 0},
        {.fd = stderr_open ? stderr_fd_ : -1, .events = POLLIN, .revents = 0},
        {.fd = wake_read_fd_, .events = POLLIN, .revents = 0},
    };
    if (::poll(entries, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (entries[2].revents != 0) break;
    for (int index = 0; index < 2; ++index) {
      if (entries[index].revents == 0) continue;
      char buffer[4096];
      ssize_t got = ::read(entries[index].fd, buffer, sizeof buffer);
      std::lock_guard lock(mutex_);
      if (got <= 0) {
        (index == 0 ? stdout_open : stderr_open) = false;
      } else {
        (index == 0 ? stdout_ : stderr_).append(buffer, static_cast<size_t>(got));
      }
      output_changed_.notify_all();
    }
  }
  std::lock_guard lock(mutex_);
  output_closed_ = true;
  output_changed_.notify_all();
}

std::optional<std::string> Process::wait_for_stdout_line(const std::string& prefix,
                                                         std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::optional<std::string> found;
  output_changed_.wait_for(lock, timeout, [&]() -> bool {
    std::istringstream lines(stdout_);
    std::string line;
    while (std::getline(lines, line)) {
      // Only whole lines count: the newline is what says the line is complete.
      if (lines.eof()) break;
      if (line.rfind(prefix, 0) == 0) {
        found = line;
        return true;
      }
    }
    return output_closed_;
  });
  return found;
}

std::string Process::stdout_text() const {
  std::lock_guard lock(mutex_);
  return stdout_;
}

std::string Process::stderr_text() const {
  std::lock_guard lock(mutex_);
  return stderr_;
}

bool Process::wait_for_stderr(const std::string& text, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return output_changed_.wait_for(lock, timeout, [&] {
    return stderr_.find(text) != std::string::npos || output_closed_;
  }) && stderr_.find(text) != std::string::npos;
}

void Process::signal(int signo) const {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, signo);
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_code_ = decode_wait_status(status);
      // What the child wrote just before it exited may still sit in the
      // pipes: the caller reads stdout_text() next. A grandchild holding
      // the pipes open bounds this wait at the timeout's rest.
      std::unique_lock lock(mutex_);
      output_changed_.wait_until(lock, std::max(deadline, Clock::now() + 200ms),
                                 [&] { return output_closed_; });
      return exit_code_;
    }
    if (done < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

int run_to_exit(std::vector<std::string> argv, std::string& output,
                std::chrono::milliseconds timeout) {
  Process process(std::move(argv));
  std::optional<int> code = process.wait_exit(timeout);
  output = process.stdout_text() + process.stderr_text();
  return code.value_or(-1);
}

std::vector<Endpoint> parse_listening_line(const std::string& line) {
  std::vector<Endpoint> endpoints;
  std::istringstream words(line);
  std::string word;
  words >> word;  // "listening"
  while (words >> word) {
    size_t colon = word.rfind(':');
    if (colon == std::string::npos) continue;
    Endpoint endpoint;
    endpoint.host = word.substr(0, colon);
    if (endpoint.host.size() >= 2 && endpoint.host.front() == '[') {
      endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
    }
    endpoint.port = static_cast<uint16_t>(std::stoul(word.substr(colon + 1)));
    endpoints.push_back(endpoint);
  }
  return endpoints;
}

RotorServer::RotorServer(const std::vector<std::string>& extra_args) {
  // The API on a kernel-picked port too, so that servers never collide on 8053.
  std::vector<std::string> argv{ROTOR_BINARY, "serve", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<Process>(argv, working_directory_.path().string());
  std::optional<std::string> line = process_->wait_for_stdout_line("listening ", 10s);
  if (!line) {
    FAIL_CHECK("rotor did not print its listening line; stderr:\n" << process_->stderr_text());
    return;
  }
  std::vector<Endpoint> endpoints = parse_listening_line(*line);
  if (endpoints.empty() || endpoints.front().port == 0) {
    FAIL_CHECK("cannot parse rotor's listening line: " << *line);
    return;
  }
  endpoint_ = endpoints.front();
  ready_ = true;
}

int RotorServer::api_port() {
  if (!process_) return 0;
  const std::optional<std::string> line = process_->wait_for_stdout_line("api ", 5s);
  if (!line) return 0;
  const auto colon = line->rfind(':');
  return colon == std::string::npos ? 0 : std::stoi(line->substr(colon + 1));
}

uint16_t free_port() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    FileDescriptor udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in address = loopback_any_port();
    socklen_t length = sizeof address;
    if (::bind(udp.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) continue;
    ::getsockname(udp.get(), reinterpret_cast<sockaddr*>(&address), &length);
    FileDescriptor tcp(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::bind(tcp.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      return ntohs(address.sin_port);
    }
  }
  throw std::runtime_error("no free port on 127.0.0.1");
}

nlohmann::json declared_zone_config(const TempDir& dir) {
  return {{"db", (dir.path() / "rotor.db").string()},
          {"zones",
           {{{"name", "lb.example.test"},
             {"name_servers", {{{"name", "ns1.lb.example.test"}, {"addresses", {"192.0.2.53"}}}}}}}}};
}

}  // namespace rotor::itest
