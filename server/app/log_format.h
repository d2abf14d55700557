#pragma once
// How rotor's log lines look (config `log_format`, flag `--log-format`):
// - text: "2026-11-30T15:39:12.123+00:00 info message";
// - json: one object a line, {"time": "2026-11-30T15:39:12.123+00:00",
//   "level": "info", "message": "..."}, the message escaped as JSON (bytes
//   that are not UTF-8 become U+FFFD), so a collector needs no parser of ours.
// Times are local time with the zone's offset (ISO 8601).
//
// Thread-safety: set the format at startup, before other threads log
// (spdlog's set_formatter is not atomic with logging). Errors: none.

#include <spdlog/logger.h>

#include "server/config/config.h"

namespace rotor::app {

void apply_log_format(spdlog::logger& logger, config::LogFormat format);

}  // namespace rotor::app
