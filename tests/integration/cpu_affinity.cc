// cpu_affinity end to end: rotor started with its DNS workers on some CPUs
// and the rest on others, every thread of the running process read back from
// /proc/PID/task (its name and Cpus_allowed_list). On a one-CPU machine both
// sets are that CPU; the names, counts and the answers are still checked, and
// a CPU outside the process's set still stops startup.

#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "server/common/cpu_affinity.h"
#include "tests/integration/harness.h"

TEST_SUITE_BEGIN("integration/cpu_affinity");

namespace rotor::itest {
namespace {

const std::string kAffinityZone = std::string(ROTOR_TEST_DATA) + "/query/example.test.zone";

std::string affinity_json_list(const std::vector<int>& cpus) {
  return nlohmann::json(cpus).dump();
}

struct TaskAffinity {
  std::string name;      // /proc/PID/task/TID/comm
  std::string allowed;   // its Cpus_allowed_list
};

// Every thread of `pid`: TID -> name and CPUs.
std::map<std::string, TaskAffinity> affinity_of_tasks(pid_t pid) {
  std::map<std::string, TaskAffinity> tasks;
  const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    TaskAffinity task;
    std::ifstream comm(entry.path() / "comm");
    std::getline(comm, task.name);
    std::ifstream status(entry.path() / "status");
    const std::string key = "Cpus_allowed_list:";
    for (std::string line; std::getline(status, line);) {
      if (line.rfind(key, 0) != 0) continue;
      const size_t start = line.find_first_not_of(" \t", key.size());
      task.allowed = start == std::string::npos ? "" : line.substr(start);
    }
    // A thread that ended between the listing and the reads has no name.
    if (!task.name.empty()) tasks[entry.path().filename().string()] = task;
  }
  return tasks;
}

// The number N of a "rotor-worker-N" or "rotor-udp-N" name, or -1.
int affinity_thread_index(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return -1;
  return std::stoi(name.substr(prefix.size()));
}

TEST_CASE("DNS workers run on the worker CPUs and every other thread on the control CPUs") {
  const std::vector<int> allowed = rotor::cpus_of_calling_thread();
  REQUIRE_FALSE(allowed.empty());
  // Two workers when the machine has CPUs to spare, so that worker i's own
  // CPU is seen; the control plane on the last CPU (with one CPU: the same).
  std::vector<int> workers(allowed.begin(), allowed.begin() + static_cast<long>(std::min<size_t>(
                                                                  2, std::max<size_t>(1, allowed.size() - 1))));
  const std::vector<int> control{allowed.back()};
  const size_t threads = 2;  // with one worker CPU both share it (workers[i % n])
  CAPTURE(rotor::format_cpu_list(workers));
  CAPTURE(rotor::format_cpu_list(control));

  TempDir dir;
  const std::string config = dir.write("rotor.json", R"({
    "db": ")" + (dir.path() / "rotor.db").string() + R"(",
    "zones": [")" + kAffinityZone + R"("],
    "probes": {"threads": 2},
    "cpu_affinity": {"workers": )" + affinity_json_list(workers) + R"(, "control": )" +
                                                    affinity_json_list(control) + "}}");
  RotorServer rotor({"--config", config, "--listen", "127.0.0.2:0", "--threads", std::to_string(threads)});
  REQUIRE(rotor.ready());
  REQUIRE(rotor.api_port() != 0);  // the API's threads have started
  CHECK(rotor.process().wait_for_stderr("cpu affinity: DNS workers on CPUs " + rotor::format_cpu_list(workers) +
                                            ", everything else on CPUs " + rotor::format_cpu_list(control),
                                        5s));
  // Pinned, it answers over both transports.
  const Bytes query = make_query("www.example.test.", "A", resolver_options());
  const std::optional<Reply> udp = exchange_udp(rotor.endpoint(), query);
  const std::optional<Reply> tcp = exchange_tcp(rotor.endpoint(), query);
  CHECK((udp && udp->packet && ldns_pkt_ancount(udp->packet.get()) == 2));
  CHECK((tcp && tcp->packet && ldns_pkt_ancount(tcp->packet.get()) == 2));

  const std::map<std::string, TaskAffinity> tasks = affinity_of_tasks(rotor.process().pid());
  size_t worker_threads = 0;
  size_t udp_threads = 0;
  size_t other_threads = 0;
  for (const auto& [tid, task] : tasks) {
    CAPTURE(tid);
    CAPTURE(task.name);
    const int worker = affinity_thread_index(task.name, "rotor-worker-");
    const int udp_socket = affinity_thread_index(task.name, "rotor-udp-");
    if (worker >= 0) {
      ++worker_threads;
      CHECK(task.allowed == std::to_string(workers[static_cast<size_t>(worker) % workers.size()]));
    } else if (udp_socket >= 0) {
      // UDP socket i of every listen address belongs with worker i % threads.
      ++udp_threads;
      const size_t owner = static_cast<size_t>(udp_socket) % threads;
      CHECK(task.allowed == std::to_string(workers[owner % workers.size()]));
    } else {
      ++other_threads;
      CHECK(task.allowed == rotor::format_cpu_list(control));
    }
  }
  CHECK(worker_threads == threads);
  CHECK(udp_threads == threads * 2);  // two listen addresses
  // The main thread, the API's, the probers', the composer's and more.
  CHECK(other_threads >= 5);
}

TEST_CASE("a CPU the process may not run on stops startup naming the key") {
  const std::vector<int> allowed = rotor::cpus_of_calling_thread();
  int outside = 0;
  while (std::find(allowed.begin(), allowed.end(), outside) != allowed.end()) ++outside;
  TempDir dir;
  const std::string config = dir.write(
      "rotor.json", R"({"db": ")" + (dir.path() / "rotor.db").string() + R"(", "cpu_affinity": {"workers": [)" +
                        std::to_string(allowed.front()) + ", " + std::to_string(outside) + "]}}");
  const std::string expected = "rotor.json: cpu_affinity.workers[1]: CPU " + std::to_string(outside) +
                               " is not one rotor may run on (allowed: " + rotor::format_cpu_list(allowed) + ")";
  Process serve({ROTOR_BINARY, "serve", "--config", config, "--listen", "127.0.0.1:0", "--api", "off"});
  CHECK(serve.wait_exit(10s) == 1);
  CHECK(serve.stderr_text().find(expected) != std::string::npos);
  CHECK(serve.stdout_text().find("listening") == std::string::npos);
  std::string output;
  CHECK(run_to_exit({ROTOR_BINARY, "check", "--config", config}, output) == 1);
  CHECK(output.find(expected) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "rotor.db"));
}

}  // namespace
}  // namespace rotor::itest

TEST_SUITE_END();
