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

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// Polls `fd` for `events` until the deadline; false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd entry{.fd = fd, .events = events, .revents = 0};
    int ready = ::poll(&entry, 1, remaining_ms(deadline));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return false;
  }
}

sockaddr_in loopback_address(const Endpoint& endpoint) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(endpoint.port);
  if (::inet_pton(AF_INET, endpoint.host.c_str(), &address.sin_addr) != 1) {
    throw std::runtime_error("not an IPv4 address: " + endpoint.host);
  }
  return address;
}

Response parse_response(std::vector<uint8_t> wire) {
  Response response;
  ldns_pkt* packet = nullptr;
  if (ldns_wire2pkt(&packet, wire.data(), wire.size()) == LDNS_STATUS_OK) {
    response.packet.reset(packet);
  }
  response.wire = std::move(wire);
  return response;
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
  // Output written just before exit may still sit in the pipe.
  process.wait_for_stdout_line("\x01never", 200ms);
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

std::set<std::string> answered_addresses(const Endpoint& server, const std::string& name,
                                         const std::string& type) {
  std::set<std::string> addresses;
  const std::optional<Response> response = exchange_udp(server, build_query(name, type));
  if (!response || !response->packet) return addresses;
  for (const std::string& record : section_text(*response->packet, LDNS_SECTION_ANSWER)) {
    addresses.insert(record.substr(record.find_last_of(" \t") + 1));
  }
  return addresses;
}

uint16_t free_port() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    FileDescriptor udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in address = loopback_address({});
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

std::vector<uint8_t> build_query(const std::string& name, ldns_rr_type type,
                                 const QueryOptions& options) {
  ldns_rdf* owner = ldns_dname_new_frm_str(name.c_str());
  if (owner == nullptr) throw std::runtime_error("bad query name: " + name);
  uint16_t flags = options.recursion_desired ? LDNS_RD : 0;
  PacketPtr packet(ldns_pkt_query_new(owner, type, LDNS_RR_CLASS_IN, flags));
  ldns_pkt_set_id(packet.get(), options.id);
  ldns_pkt_set_qr(packet.get(), options.qr);
  uint8_t* data = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&data, packet.get(), &size) != LDNS_STATUS_OK) {
    throw std::runtime_error("cannot encode query for " + name);
  }
  std::vector<uint8_t> wire(data, data + size);
  std::free(data);
  if (!options.edns) return wire;

  // The OPT record is appended by hand so the tests control every bit of it
  // (version, DO, options) independently of ldns's EDNS helpers.
  std::vector<uint8_t> option_data;
  if (options.nsid) option_data = {0x00, 0x03, 0x00, 0x00};
  const uint8_t opt[] = {
      0x00,                                    // root owner
      0x00, 0x29,                              // type OPT
      static_cast<uint8_t>(options.payload >> 8), static_cast<uint8_t>(options.payload),
      0x00,                                    // extended rcode
      options.edns_version,
      static_cast<uint8_t>(options.dnssec_ok ? 0x80 : 0x00), 0x00,
      static_cast<uint8_t>(option_data.size() >> 8), static_cast<uint8_t>(option_data.size()),
  };
  wire.insert(wire.end(), std::begin(opt), std::end(opt));
  wire.insert(wire.end(), option_data.begin(), option_data.end());
  uint16_t arcount = static_cast<uint16_t>((wire[10] << 8 | wire[11]) + 1);
  wire[10] = static_cast<uint8_t>(arcount >> 8);
  wire[11] = static_cast<uint8_t>(arcount);
  return wire;
}

std::vector<uint8_t> build_query(const std::string& name, const std::string& type,
                                 const QueryOptions& options) {
  ldns_rr_type parsed = ldns_get_rr_type_by_name(type.c_str());
  if (parsed == 0) throw std::runtime_error("unknown type: " + type);
  return build_query(name, parsed, options);
}

std::optional<Response> exchange_udp(const Endpoint& server, const std::vector<uint8_t>& query,
                                     std::chrono::milliseconds timeout) {
  FileDescriptor socket_fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in address = loopback_address(server);
  if (::connect(socket_fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::send(socket_fd.get(), query.data(), query.size(), 0) < 0) {
    return std::nullopt;
  }
  auto deadline = Clock::now() + timeout;
  while (wait_fd(socket_fd.get(), POLLIN, deadline)) {
    std::vector<uint8_t> buffer(65535);
    ssize_t got = ::recv(socket_fd.get(), buffer.data(), buffer.size(), 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;  // e.g. ECONNREFUSED: nobody listens
    }
    buffer.resize(static_cast<size_t>(got));
    // A late answer to an earlier query would carry another ID; skip it.
    if (buffer.size() >= 2 && query.size() >= 2 && buffer[0] == query[0] && buffer[1] == query[1]) {
      return parse_response(std::move(buffer));
    }
  }
  return std::nullopt;
}

std::vector<Response> exchange_tcp(const Endpoint& server,
                                   const std::vector<std::vector<uint8_t>>& queries,
                                   std::chrono::milliseconds timeout) {
  std::vector<Response> responses;
  FileDescriptor socket_fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address = loopback_address(server);
  if (::connect(socket_fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return responses;
  }
  std::vector<uint8_t> out;
  for (const auto& query : queries) {
    out.push_back(static_cast<uint8_t>(query.size() >> 8));
    out.push_back(static_cast<uint8_t>(query.size()));
    out.insert(out.end(), query.begin(), query.end());
  }
  auto deadline = Clock::now() + timeout;
  size_t sent = 0;
  while (sent < out.size()) {
    if (!wait_fd(socket_fd.get(), POLLOUT, deadline)) return responses;
    ssize_t wrote = ::send(socket_fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return responses;
    }
    sent += static_cast<size_t>(wrote);
  }
  std::vector<uint8_t> in;
  while (responses.size() < queries.size()) {
    if (in.size() >= 2) {
      size_t length = static_cast<size_t>(in[0] << 8 | in[1]);
      if (in.size() >= 2 + length) {
        responses.push_back(parse_response(std::vector<uint8_t>(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(length))));
        in.erase(in.begin(), in.begin() + 2 + static_cast<std::ptrdiff_t>(length));
        continue;
      }
    }
    if (!wait_fd(socket_fd.get(), POLLIN, deadline)) break;
    uint8_t buffer[65536];
    ssize_t got = ::recv(socket_fd.get(), buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    in.insert(in.end(), buffer, buffer + got);
  }
  return responses;
}

std::optional<Response> exchange_tcp(const Endpoint& server, const std::vector<uint8_t>& query,
                                     std::chrono::milliseconds timeout) {
  std::vector<std::vector<uint8_t>> queries{query};
  std::vector<Response> responses = exchange_tcp(server, queries, timeout);
  if (responses.empty()) return std::nullopt;
  return std::move(responses.front());
}

TcpConnection::TcpConnection(const Endpoint& server) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback_address(server);
  if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

TcpConnection::~TcpConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool TcpConnection::send_bytes(const std::vector<uint8_t>& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t wrote = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    sent += static_cast<size_t>(wrote);
  }
  return true;
}

std::optional<Response> TcpConnection::receive(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pending_.size() >= 2) {
      size_t length = static_cast<size_t>(pending_[0] << 8 | pending_[1]);
      if (pending_.size() >= 2 + length) {
        auto end = pending_.begin() + 2 + static_cast<std::ptrdiff_t>(length);
        std::vector<uint8_t> message(pending_.begin() + 2, end);
        pending_.erase(pending_.begin(), end);
        return parse_response(std::move(message));
      }
    }
    if (!wait_fd(fd_, POLLIN, deadline)) return std::nullopt;
    uint8_t buffer[65536];
    ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return std::nullopt;
    pending_.insert(pending_.end(), buffer, buffer + got);
  }
}

bool TcpConnection::closed_by_peer(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (wait_fd(fd_, POLLIN, deadline)) {
    uint8_t buffer[4096];
    ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return true;  // EOF or reset
  }
  return false;
}

std::vector<uint8_t> tcp_frame(const std::vector<uint8_t>& message) {
  // Sized up front: GCC 12 at -O3 misreads insert() after a 2-byte initializer
  // list as an out-of-bounds copy.
  std::vector<uint8_t> framed(message.size() + 2);
  framed[0] = static_cast<uint8_t>(message.size() >> 8);
  framed[1] = static_cast<uint8_t>(message.size());
  std::copy(message.begin(), message.end(), framed.begin() + 2);
  return framed;
}

std::vector<std::string> section_text(const ldns_pkt& packet, ldns_pkt_section section) {
  std::vector<std::string> texts;
  ldns_rr_list* list = ldns_pkt_get_section_clone(&packet, section);
  if (list == nullptr) return texts;
  for (size_t index = 0; index < ldns_rr_list_rr_count(list); ++index) {
    ldns_rr* rr = ldns_rr_list_rr(list, index);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_OPT) continue;
    // Names compare case-insensitively: canonical form lower-cases the owner
    // and the names inside well-known rdata, and leaves text rdata alone.
    ldns_rr2canonical(rr);
    char* text = ldns_rr2str(rr);
    std::string line = text != nullptr ? text : "?";
    std::free(text);
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    texts.push_back(line);
  }
  ldns_rr_list_deep_free(list);
  std::sort(texts.begin(), texts.end());
  return texts;
}

ResponseSummary summarize(const ldns_pkt& packet) {
  ResponseSummary summary;
  summary.rcode = ldns_pkt_get_rcode(&packet);
  summary.aa = ldns_pkt_aa(&packet);
  summary.tc = ldns_pkt_tc(&packet);
  summary.rd = ldns_pkt_rd(&packet);
  summary.ra = ldns_pkt_ra(&packet);
  summary.answer = section_text(packet, LDNS_SECTION_ANSWER);
  summary.authority = section_text(packet, LDNS_SECTION_AUTHORITY);
  summary.additional = section_text(packet, LDNS_SECTION_ADDITIONAL);
  summary.has_opt = ldns_pkt_edns(&packet);
  if (summary.has_opt) {
    summary.dnssec_ok = ldns_pkt_edns_do(&packet);
    summary.udp_payload = ldns_pkt_edns_udp_size(&packet);
  }
  return summary;
}

namespace {

std::string rcode_name(int rcode) {
  ldns_lookup_table* entry = ldns_lookup_by_id(ldns_rcodes, rcode);
  return entry != nullptr ? entry->name : std::to_string(rcode);
}

void append_section(std::ostringstream& out, const char* title, const std::vector<std::string>& rrs) {
  out << "  " << title << ":";
  if (rrs.empty()) out << " (empty)";
  out << "\n";
  for (const std::string& rr : rrs) out << "    " << rr << "\n";
}

void compare_section(std::ostringstream& out, const char* title, const std::vector<std::string>& expected,
                     const std::vector<std::string>& actual) {
  std::vector<std::string> missing;
  std::vector<std::string> extra;
  std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(),
                      std::back_inserter(missing));
  std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  for (const std::string& rr : missing) out << "  " << title << " - " << rr << "\n";
  for (const std::string& rr : extra) out << "  " << title << " + " << rr << "\n";
}

}  // namespace

std::string to_string(const ResponseSummary& summary) {
  std::ostringstream out;
  out << "  rcode " << rcode_name(summary.rcode) << (summary.aa ? " aa" : "")
      << (summary.tc ? " tc" : "") << (summary.rd ? " rd" : "") << (summary.ra ? " ra" : "")
      << (summary.dnssec_ok ? " do" : "") << (summary.has_opt ? " opt" : "") << "\n";
  append_section(out, "answer", summary.answer);
  append_section(out, "authority", summary.authority);
  append_section(out, "additional", summary.additional);
  return out.str();
}

std::string compare_responses(const ResponseSummary& expected, const ResponseSummary& actual,
                              bool with_additional) {
  std::ostringstream out;
  if (expected.rcode != actual.rcode) {
    out << "  rcode: " << rcode_name(expected.rcode) << " vs " << rcode_name(actual.rcode) << "\n";
  }
  if (expected.aa != actual.aa) out << "  aa: " << expected.aa << " vs " << actual.aa << "\n";
  if (expected.tc != actual.tc) out << "  tc: " << expected.tc << " vs " << actual.tc << "\n";
  if (expected.rd != actual.rd) out << "  rd: " << expected.rd << " vs " << actual.rd << "\n";
  if (expected.ra != actual.ra) out << "  ra: " << expected.ra << " vs " << actual.ra << "\n";
  auto unique = [](std::vector<std::string> rrs) {
    rrs.erase(std::unique(rrs.begin(), rrs.end()), rrs.end());
    return rrs;
  };
  compare_section(out, "answer", unique(expected.answer), unique(actual.answer));
  compare_section(out, "authority", unique(expected.authority), unique(actual.authority));
  if (with_additional) {
    compare_section(out, "additional", unique(expected.additional), unique(actual.additional));
  }
  return out.str();
}

nlohmann::json declared_zone_config(const TempDir& dir) {
  return {{"db", (dir.path() / "rotor.db").string()},
          {"zones",
           {{{"name", "lb.example.test"},
             {"name_servers", {{{"name", "ns1.lb.example.test"}, {"addresses", {"192.0.2.53"}}}}}}}}};
}

}  // namespace rotor::itest
