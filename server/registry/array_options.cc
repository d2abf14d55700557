#include "server/registry/array_options.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace rotor::registry {

using nlohmann::json;

std::string array_options_text(const arrays::ArraySettings& settings) {
  json options = json::object();
  if (settings.min_healthy != 0) options["min_healthy"] = settings.min_healthy;
  if (!settings.fallback.empty()) options["fallback"] = settings.fallback;
  if (settings.slow_start_ms != 0) options["slow_start_ms"] = settings.slow_start_ms;
  if (settings.remove_after.count() != 0) options["remove_after_ms"] = settings.remove_after.count();
  return options.empty() ? std::string() : options.dump();
}

void read_array_options(const std::string& text, arrays::ArraySettings& settings) {
  if (text.empty()) return;
  const json options = json::parse(text);
  if (!options.is_object()) throw std::runtime_error("not a JSON object: " + text);
  if (const auto share = options.find("min_healthy"); share != options.end()) {
    if (!share->is_number()) throw std::runtime_error("min_healthy is not a number");
    settings.min_healthy = share->get<double>();
  }
  if (const auto fallback = options.find("fallback"); fallback != options.end()) {
    if (!fallback->is_string()) throw std::runtime_error("fallback is not a string");
    settings.fallback = fallback->get<std::string>();
  }
  if (const auto ramp = options.find("slow_start_ms"); ramp != options.end()) {
    if (!ramp->is_number_integer()) throw std::runtime_error("slow_start_ms is not an integer");
    settings.slow_start_ms = ramp->get<int64_t>();
  }
  if (const auto after = options.find("remove_after_ms"); after != options.end()) {
    if (!after->is_number_integer()) throw std::runtime_error("remove_after_ms is not an integer");
    settings.remove_after = std::chrono::milliseconds(after->get<int64_t>());
  }
}

}  // namespace rotor::registry
