#pragma once
// Typed access to JSON config values that names the key path in every error.
// Shared by the parts of the config parser; not a public interface.

#include <cmath>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "server/config/config.h"

namespace rotor::config::json_fields {

using json = nlohmann::json;

inline std::string describe(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number with a fraction (" + value.dump() + ")";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

[[noreturn]] inline void wrong_type(const std::string& path, const char* expected, const json& value) {
  throw ConfigError(path, std::string("expected ") + expected + ", got " + describe(value));
}

inline const std::string& expect_string(const json& value, const std::string& path) {
  if (!value.is_string()) wrong_type(path, "a string", value);
  return value.get_ref<const std::string&>();
}

inline const json& expect_array(const json& value, const std::string& path) {
  if (!value.is_array()) wrong_type(path, "an array", value);
  return value;
}

inline const json& expect_object(const json& value, const std::string& path) {
  if (!value.is_object()) wrong_type(path, "an object", value);
  return value;
}

// An integer, however JSON spells it: 1000, 1e3 and 1000.0 are the same
// number (RFC 8259 has no separate integer type). A fraction (1.5) and a
// string ("2") are refused so that typos do not pass silently.
inline int64_t expect_integer(const json& value, const std::string& path) {
  if (value.is_number_unsigned()) {
    auto unsigned_value = value.get<uint64_t>();
    if (unsigned_value > static_cast<uint64_t>(INT64_MAX)) throw ConfigError(path, "too large");
    return static_cast<int64_t>(unsigned_value);
  }
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (number != std::trunc(number)) wrong_type(path, "an integer", value);
    // 2^63 is the first double past INT64_MAX; NaN and infinities cannot be parsed from JSON.
    if (number >= 9223372036854775808.0 || number < -9223372036854775808.0) {
      throw ConfigError(path, "too large");
    }
    return static_cast<int64_t>(number);
  }
  if (!value.is_number_integer()) wrong_type(path, "an integer", value);
  return value.get<int64_t>();
}

inline std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

inline std::string index_path(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

}  // namespace rotor::config::json_fields
