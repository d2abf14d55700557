#pragma once
// Unix milliseconds as RFC 3339 UTC text ("2026-11-30T08:08:43.456Z"), for
// API replies, event reasons and logs. Pure; thread-safe (gmtime_r).

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace rotor {

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
