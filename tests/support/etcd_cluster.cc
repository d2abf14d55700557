#include "tests/support/etcd_cluster.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace rotor::cluster::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kStartTimeout = std::chrono::seconds(20);

// The lowest port the kernel hands out for bind(port 0) and outgoing
// connections (net.ipv4.ip_local_port_range; 32768 when unreadable).
uint16_t ephemeral_low() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0;
  if (!(range >> low) || low < 2048 || low > 65535) low = 32768;
  return static_cast<uint16_t>(low);
}

// Free ports on 127.0.0.1 below the ephemeral range, all held at once so
// they differ, then released for etcd to bind (a race with another etcd
// cluster is caught by the retry). Below the ephemeral range because a
// killed member is restarted on its old ports: an ephemeral port could be
// taken meanwhile as the source port of any test's outgoing connection
// (seen in CI: "bind: address already in use" on a member's restart),
// which the kernel never picks below the range's low bound.
std::vector<uint16_t> free_ports(size_t count) {
  const uint16_t high = ephemeral_low();
  const uint16_t low = high / 2;
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<unsigned> pick(low, high - 1u);
  std::vector<int> sockets;
  std::vector<uint16_t> ports;
  for (int attempt = 0; ports.size() < count && attempt < 1000; ++attempt) {
    const auto port = static_cast<uint16_t>(pick(random));
    if (std::find(ports.begin(), ports.end(), port) != ports.end()) continue;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("free port: ") + std::strerror(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      close(fd);
      continue;
    }
    sockets.push_back(fd);
    ports.push_back(port);
  }
  for (int fd : sockets) close(fd);
  if (ports.size() < count) throw std::runtime_error("free port: none free below " + std::to_string(high));
  return ports;
}

// Forks and execs argv[0] (found on PATH) with stdout and stderr appended to
// `log`; the child dies with this thread's process.
pid_t spawn_process(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) throw std::runtime_error("open " + log.string() + ": " + std::strerror(errno));
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test run
    int null = open("/dev/null", O_RDONLY);
    dup2(null, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(out);
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  return pid;
}

// Runs a command to completion; throws with its output when it fails.
void run_command(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::filesystem::remove(log);
  pid_t pid = spawn_process(args, log);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  std::ifstream in(log);
  std::stringstream output;
  output << in.rdbuf();
  std::string command;
  for (const auto& arg : args) command += (command.empty() ? "" : " ") + arg;
  throw std::runtime_error(command + " failed: " + output.str());
}

std::string tail(const std::filesystem::path& file, size_t bytes) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

size_t append_body(char* data, size_t size, size_t count, void* target) {
  static_cast<std::string*>(target)->append(data, size * count);
  return size * count;
}

}  // namespace

EtcdCluster::EtcdCluster(EtcdClusterOptions options) : options_(options) {
  if (options_.members < 1) throw std::runtime_error("EtcdCluster: at least one member");
  std::string pattern = (std::filesystem::temp_directory_path() / "rotor-etcd-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  directory_ = pattern;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  try {
    if (options_.tls) make_certificates();
    bool started = false;
    for (int attempt = 0; attempt < 3 && !started; ++attempt) started = start_all();
    if (!started) throw std::runtime_error("etcd did not start:\n" + member_log_tails());
    if (options_.auth) enable_auth();
  } catch (...) {
    stop_all();
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
    throw;
  }
}

EtcdCluster::~EtcdCluster() {
  stop_all();
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

std::string EtcdCluster::endpoint(int member) const {
  return std::string(options_.tls ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(members_.at(static_cast<size_t>(member)).client_port);
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> urls;
  for (int i = 0; i < members(); ++i) urls.push_back(endpoint(i));
  return urls;
}

EtcdTls EtcdCluster::tls() const {
  if (!options_.tls) return {};
  return {(directory_ / "ca.pem").string(), (directory_ / "client.pem").string(),
          (directory_ / "client-key.pem").string()};
}

EtcdOptions EtcdCluster::client_options() const {
  EtcdOptions client;
  client.endpoints = endpoints();
  client.tls = tls();
  if (options_.auth) {
    client.username = kUser;
    client.password = kPassword;
  }
  client.connect_timeout = std::chrono::milliseconds(1000);
  client.request_timeout = std::chrono::milliseconds(3000);
  return client;
}

std::string EtcdCluster::peer_url(const Member& member) const {
  return "http://127.0.0.1:" + std::to_string(member.peer_port);
}

bool EtcdCluster::start_all() {
  stop_all();
  members_.clear();
  auto ports = free_ports(2 * static_cast<size_t>(options_.members));
  for (int i = 0; i < options_.members; ++i)
    members_.push_back(
        {"m" + std::to_string(i), ports[2 * static_cast<size_t>(i)], ports[2 * static_cast<size_t>(i) + 1], -1});
  for (auto& member : members_) {
    std::filesystem::remove_all(directory_ / (member.name + ".data"));
    std::filesystem::remove(directory_ / (member.name + ".log"));
    spawn(member);
  }
  try {
    std::vector<int> all;
    for (int i = 0; i < members(); ++i) all.push_back(i);
    wait_until(all, true);
    return true;
  } catch (const std::runtime_error&) {
    // A member that exited probably lost a port race: the caller tries other ports.
    for (const auto& member : members_)
      if (member.pid <= 0) return false;
    throw;
  }
}

void EtcdCluster::spawn(Member& member) {
  std::string cluster;
  for (const auto& peer : members_) cluster += (cluster.empty() ? "" : ",") + peer.name + "=" + peer_url(peer);
  const std::string client_url = endpoint(static_cast<int>(&member - members_.data()));
  std::vector<std::string> args{"etcd",
                                "--name=" + member.name,
                                "--data-dir=" + (directory_ / (member.name + ".data")).string(),
                                "--listen-client-urls=" + client_url,
                                "--advertise-client-urls=" + client_url,
                                "--listen-peer-urls=" + peer_url(member),
                                "--initial-advertise-peer-urls=" + peer_url(member),
                                "--initial-cluster=" + cluster,
                                "--initial-cluster-state=new",
                                "--initial-cluster-token=rotor-test-" + std::to_string(getpid()),
                                "--auth-token-ttl=" + std::to_string(options_.auth_token_ttl.count()),
                                "--logger=zap",
                                "--log-outputs=stderr",
                                "--log-level=warn"};
  if (options_.progress_notify_interval.count() > 0)
    args.push_back("--experimental-watch-progress-notify-interval=" +
                   std::to_string(options_.progress_notify_interval.count()) + "ms");
  if (options_.tls) {
    args.push_back("--client-cert-auth");
    args.push_back("--trusted-ca-file=" + (directory_ / "ca.pem").string());
    args.push_back("--cert-file=" + (directory_ / "server.pem").string());
    args.push_back("--key-file=" + (directory_ / "server-key.pem").string());
  }
  member.pid = spawn_process(args, directory_ / (member.name + ".log"));
}

void EtcdCluster::stop_all() {
  for (auto& member : members_)
    if (member.pid > 0) {
      ::kill(member.pid, SIGKILL);
      waitpid(member.pid, nullptr, 0);
      member.pid = -1;
    }
}

void EtcdCluster::kill(int member) {
  auto& target = members_.at(static_cast<size_t>(member));
  if (target.pid <= 0) return;
  ::kill(target.pid, SIGKILL);
  waitpid(target.pid, nullptr, 0);
  target.pid = -1;
}

void EtcdCluster::restart(int member) {
  auto& target = members_.at(static_cast<size_t>(member));
  if (target.pid > 0) return;
  spawn(target);
  wait_until({member}, false);
}

// POST /v3/maintenance/status (needs no token): the member answers, and
// with `need_leader` it knows a leader.
bool EtcdCluster::answers(int member, bool need_leader) const {
  std::unique_ptr<CURL, void (*)(CURL*)> handle(curl_easy_init(), &curl_easy_cleanup);
  std::string body;
  const std::string url = endpoint(member) + "/v3/maintenance/status";
  curl_easy_setopt(handle.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle.get(), CURLOPT_POSTFIELDS, "{}");
  curl_easy_setopt(handle.get(), CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &body);
  EtcdTls files = tls();
  if (options_.tls) {
    curl_easy_setopt(handle.get(), CURLOPT_CAINFO, files.ca.c_str());
    curl_easy_setopt(handle.get(), CURLOPT_SSLCERT, files.cert.c_str());
    curl_easy_setopt(handle.get(), CURLOPT_SSLKEY, files.key.c_str());
  }
  long status = 0;
  if (curl_easy_perform(handle.get()) != CURLE_OK) return false;
  curl_easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return false;
  if (!need_leader) return true;
  auto reply = nlohmann::json::parse(body, nullptr, false);
  if (reply.is_discarded() || !reply.contains("leader")) return false;
  const auto& leader = reply["leader"];
  return leader.is_string() ? leader.get<std::string>() != "0" : leader.is_number() && leader.get<uint64_t>() != 0;
}

bool EtcdCluster::has_leader(int member) const { return answers(member, true); }

void EtcdCluster::wait_until(const std::vector<int>& members, bool need_leader) {
  const auto deadline = Clock::now() + kStartTimeout;
  for (int member : members) {
    while (!answers(member, need_leader)) {
      auto& target = members_.at(static_cast<size_t>(member));
      if (target.pid > 0 && waitpid(target.pid, nullptr, WNOHANG) == target.pid) {
        target.pid = -1;
        throw std::runtime_error("etcd " + target.name + " exited:\n" + member_log_tails());
      }
      if (Clock::now() > deadline)
        throw std::runtime_error("etcd " + target.name + " not ready in 20 s:\n" + member_log_tails());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

std::string EtcdCluster::member_log_tails() const {
  std::string text;
  for (const auto& member : members_)
    text += "--- " + member.name + ".log\n" + tail(directory_ / (member.name + ".log"), 1500) + "\n";
  return text;
}

// A CA, a server certificate for 127.0.0.1 (also used by etcd's gateway as a
// client of its own gRPC port) and a client certificate for kUser.
void EtcdCluster::make_certificates() {
  const auto file = [&](const char* name) { return (directory_ / name).string(); };
  const auto log = directory_ / "openssl.log";
  const std::vector<std::string> ec_key{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
  auto request = [&](std::vector<std::string> head, const std::vector<std::string>& tail_args) {
    head.insert(head.end(), ec_key.begin(), ec_key.end());
    head.insert(head.end(), tail_args.begin(), tail_args.end());
    run_command(head, log);
  };
  request({"openssl", "req", "-x509"},
          {"-days", "1", "-subj", "/CN=rotor test CA", "-keyout", file("ca-key.pem"), "-out", file("ca.pem")});
  std::ofstream(file("server.ext")) << "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n";
  std::ofstream(file("client.ext")) << "extendedKeyUsage=clientAuth\n";
  for (const char* who : {"server", "client"}) {
    const std::string name = who;
    request({"openssl", "req"}, {"-subj", name == "server" ? "/CN=127.0.0.1" : std::string("/CN=") + kUser, "-keyout",
                                 file((name + "-key.pem").c_str()), "-out", file((name + ".csr").c_str())});
    run_command({"openssl", "x509", "-req", "-in", file((name + ".csr").c_str()), "-CA", file("ca.pem"), "-CAkey",
                 file("ca-key.pem"), "-CAcreateserial", "-days", "1", "-extfile", file((name + ".ext").c_str()), "-out",
                 file((name + ".pem").c_str())},
                log);
  }
}

// root (required before `auth enable`) and kUser with a role that may read
// and write kPrefix, then authentication on; through etcdctl.
void EtcdCluster::enable_auth() {
  std::vector<std::string> base{"etcdctl", "--endpoints=" + endpoint(0), "--dial-timeout=3s", "--command-timeout=5s"};
  if (options_.tls) {
    EtcdTls files = tls();
    base.push_back("--cacert=" + files.ca);
    base.push_back("--cert=" + files.cert);
    base.push_back("--key=" + files.key);
  }
  const std::string user = kUser;
  const std::vector<std::vector<std::string>> commands{
      {"user", "add", std::string("root:") + kRootPassword},
      {"user", "grant-role", "root", "root"},
      {"role", "add", user},
      {"role", "grant-permission", user, "--prefix=true", "readwrite", kPrefix},
      {"user", "add", user + ":" + kPassword},
      {"user", "grant-role", user, user},
      {"auth", "enable"}};
  for (const auto& command : commands) {
    auto args = base;
    args.insert(args.end(), command.begin(), command.end());
    run_command(args, directory_ / "etcdctl.log");
  }
}

}  // namespace rotor::cluster::testing
