#include "server/app/log_format.h"

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <regex>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

TEST_SUITE_BEGIN("unit/server/app/log_format");

namespace rotor::app {
namespace {

// ISO 8601 with milliseconds and the zone's offset.
const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d)");

std::string log_one(config::LogFormat format, spdlog::level::level_enum level, const std::string& text) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("log-format-test", sink);
  apply_log_format(logger, format);
  logger.log(level, "{}", text);
  logger.flush();
  return out.str();
}

TEST_CASE("json lines carry time - level and the escaped message") {
  const std::string message = "api PUT /v1/arrays/x \"quoted\"\nsecond line \xff";
  const std::string line = log_one(config::LogFormat::json, spdlog::level::warn, message);
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);  // one line, the newline escaped
  const nlohmann::json parsed = nlohmann::json::parse(line);
  CHECK(parsed.size() == 3);
  CHECK(std::regex_match(parsed["time"].get<std::string>(), kTime));
  CHECK(parsed["level"] == "warning");
  CHECK(parsed["message"] == "api PUT /v1/arrays/x \"quoted\"\nsecond line \xEF\xBF\xBD");
}

TEST_CASE("text lines start with the time and its zone offset") {
  const std::string line = log_one(config::LogFormat::text, spdlog::level::info, "hello");
  const auto space = line.find(' ');
  REQUIRE(space != std::string::npos);
  CHECK(std::regex_match(line.substr(0, space), kTime));
  CHECK(line.substr(space) == " info hello\n");
}

}  // namespace
}  // namespace rotor::app

TEST_SUITE_END();
