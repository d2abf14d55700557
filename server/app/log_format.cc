#include "server/app/log_format.h"

#include <spdlog/pattern_formatter.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace rotor::app {

namespace {

// %Y-%m-%dT%H:%M:%S.%e%z: milliseconds and the zone offset, "+00:00".
constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v";
// '*' is the message as a JSON string, quotes included (JsonMessage).
constexpr const char* kJsonPattern = R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","message":%*})";

class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&,
              spdlog::memory_buf_t& out) override {
    const std::string text =
        nlohmann::json(std::string(message.payload.data(), message.payload.size()))
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

}  // namespace

void apply_log_format(spdlog::logger& logger, config::LogFormat format) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (format == config::LogFormat::json) {
    formatter->add_flag<JsonMessage>('*').set_pattern(kJsonPattern);
  } else {
    formatter->set_pattern(kTextPattern);
  }
  logger.set_formatter(std::move(formatter));
}

}  // namespace rotor::app
