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

// The Cpus_allowed_list line of a /proc status file, as written there:
// /proc/self/status for the process (its main thread), /proc/thread-self/status
// for the calling thread. The kernel's own text, so an oracle for
// cpus_of_calling_thread and format_cpu_list alike.
std::string proc_allowed_list(const char* status_path = "/proc/self/status") {
  std::ifstream status(status_path);
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
  std::string pinned;
  std::string child;
  std::vector<int> pinned_as_read;
  std::thread thread([&] {
    if (rotor::pin_this_thread({cpu}) != 0) return;
    pinned = proc_allowed_list("/proc/thread-self/status");
    pinned_as_read = rotor::cpus_of_calling_thread();
    std::thread([&] { child = proc_allowed_list("/proc/thread-self/status"); }).join();
  });
  thread.join();
  CHECK(pinned == std::to_string(cpu));
  CHECK(pinned_as_read == std::vector<int>{cpu});
  CHECK(child == std::to_string(cpu));
  // The caller's own set is untouched.
  CHECK(rotor::cpus_of_calling_thread() == rotor::allowed_cpus_at_startup());
  CHECK(proc_allowed_list("/proc/thread-self/status") == proc_allowed_list());
}

TEST_CASE("another thread is pinned by its handle") {
  const int cpu = rotor::allowed_cpus_at_startup().front();
  std::string seen;
  std::atomic<bool> go{false};
  std::thread thread([&] {
    while (!go.load()) std::this_thread::yield();
    seen = proc_allowed_list("/proc/thread-self/status");
  });
  const int error = rotor::pin_thread(thread.native_handle(), {cpu});
  go.store(true);
  thread.join();
  CHECK(error == 0);
  CHECK(seen == std::to_string(cpu));
}

TEST_CASE("no CPU or one past the set's range is refused") {
  const std::string before = proc_allowed_list("/proc/thread-self/status");
  CHECK(rotor::pin_this_thread({}) == EINVAL);
  CHECK(rotor::pin_this_thread({rotor::kMaxCpuNumber + 1}) == EINVAL);
  CHECK(rotor::pin_this_thread({-1}) == EINVAL);
  CHECK(proc_allowed_list("/proc/thread-self/status") == before);
}

TEST_SUITE_END();
