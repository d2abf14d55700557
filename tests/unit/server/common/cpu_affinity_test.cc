#include "server/common/cpu_affinity.h"

#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

TEST_SUITE_BEGIN("unit/server/common/cpu_affinity");

namespace {

// The calling thread's CPUs as the kernel reports them.
std::vector<int> cpus_of_this_thread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

// The process's Cpus_allowed_list line of /proc/self/status, as written there.
std::string proc_allowed_list() {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string key = "Cpus_allowed_list:";
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) {
      const size_t start = line.find_first_not_of(" \t", key.size());
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "";
}

}  // namespace

TEST_CASE("CPU lists are written as Linux writes Cpus_allowed_list") {
  CHECK(rotor::format_cpu_list({}) == "");
  CHECK(rotor::format_cpu_list({3}) == "3");
  CHECK(rotor::format_cpu_list({0, 1}) == "0-1");
  CHECK(rotor::format_cpu_list({0, 1, 2, 3, 6}) == "0-3,6");
  CHECK(rotor::format_cpu_list({6, 0, 1, 9, 8}) == "0-1,6,8-9");
  CHECK(rotor::format_cpu_list({2, 2, 3}) == "2-3");
}

TEST_CASE("the startup set is what the kernel says this process may run on") {
  // No test narrows the main thread's set, so /proc still shows the start's.
  const std::vector<int>& allowed = rotor::allowed_cpus_at_startup();
  REQUIRE_FALSE(allowed.empty());
  CHECK(rotor::format_cpu_list(allowed) == proc_allowed_list());
}

TEST_CASE("a pinned thread runs on its CPUs and what it starts inherits them") {
  const int cpu = rotor::allowed_cpus_at_startup().back();
  std::vector<int> pinned;
  std::vector<int> child;
  std::thread thread([&] {
    if (rotor::pin_this_thread({cpu}) != 0) return;
    pinned = cpus_of_this_thread();
    std::thread([&] { child = cpus_of_this_thread(); }).join();
  });
  thread.join();
  CHECK(pinned == std::vector<int>{cpu});
  CHECK(child == std::vector<int>{cpu});
  // The caller's own set is untouched.
  CHECK(cpus_of_this_thread() == rotor::allowed_cpus_at_startup());
}

TEST_CASE("another thread is pinned by its handle") {
  const int cpu = rotor::allowed_cpus_at_startup().front();
  std::vector<int> seen;
  std::atomic<bool> go{false};
  std::thread thread([&] {
    while (!go.load()) std::this_thread::yield();
    seen = cpus_of_this_thread();
  });
  const int error = rotor::pin_thread(thread.native_handle(), {cpu});
  go.store(true);
  thread.join();
  CHECK(error == 0);
  CHECK(seen == std::vector<int>{cpu});
}

TEST_CASE("no CPU or one past the set's range is refused") {
  std::vector<int> before = cpus_of_this_thread();
  CHECK(rotor::pin_this_thread({}) == EINVAL);
  CHECK(rotor::pin_this_thread({rotor::kMaxCpuNumber + 1}) == EINVAL);
  CHECK(rotor::pin_this_thread({-1}) == EINVAL);
  CHECK(cpus_of_this_thread() == before);
}

TEST_SUITE_END();
