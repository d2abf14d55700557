#include "server/common/cpu_affinity.h"

#include <algorithm>
#include <cerrno>

namespace rotor {

namespace {

// False when a CPU is out of cpu_set_t's range (the config refuses those).
bool to_cpu_set(const std::vector<int>& cpus, cpu_set_t& set) noexcept {
  CPU_ZERO(&set);
  for (int cpu : cpus) {
    if (cpu < 0 || cpu > kMaxCpuNumber) return false;
    CPU_SET(cpu, &set);
  }
  return true;
}

}  // namespace

std::vector<int> cpus_of_calling_thread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu <= kMaxCpuNumber; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

const std::vector<int>& allowed_cpus_at_startup() {
  static const std::vector<int> allowed = cpus_of_calling_thread();
  return allowed;
}

std::string format_cpu_list(std::vector<int> cpus) {
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  std::string text;
  for (size_t i = 0; i < cpus.size();) {
    size_t last = i;
    while (last + 1 < cpus.size() && cpus[last + 1] == cpus[last] + 1) ++last;
    if (!text.empty()) text += ',';
    text += std::to_string(cpus[i]);
    if (last > i) text += '-' + std::to_string(cpus[last]);
    i = last + 1;
  }
  return text;
}

int pin_this_thread(const std::vector<int>& cpus) noexcept {
  cpu_set_t set;
  if (cpus.empty() || !to_cpu_set(cpus, set)) return EINVAL;
  return ::sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
}

int pin_thread(pthread_t thread, const std::vector<int>& cpus) noexcept {
  cpu_set_t set;
  if (cpus.empty() || !to_cpu_set(cpus, set)) return EINVAL;
  return ::pthread_setaffinity_np(thread, sizeof set, &set);
}

}  // namespace rotor
