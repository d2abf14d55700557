#pragma once
// Unix milliseconds: the wall clock's now, and as RFC 3339 UTC text
// ("2026-11-30T08:08:43.456Z") for API replies, event reasons and logs.
// Thread-safe (gmtime_r). Code that must be testable takes a clock and uses
// unix_now_ms only as its default.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace rotor {

inline int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::string utc_text(int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return std::string(text, length) + millis;
}

}  // namespace rotor
