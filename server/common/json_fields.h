#pragma once
// Typed access to JSON values that names the key path in every error: the
// config parser, the health-check parser (probes) and the API bodies read
// their documents through these. Stateless; every error is a FieldError.

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "server/common/field_error.h"

namespace rotor::json_fields {

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
  throw FieldError(path, std::string("expected ") + expected + ", got " + describe(value));
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
    if (unsigned_value > static_cast<uint64_t>(INT64_MAX)) throw FieldError(path, "too large");
    return static_cast<int64_t>(unsigned_value);
  }
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (number != std::trunc(number)) wrong_type(path, "an integer", value);
    // 2^63 is the first double past INT64_MAX; NaN and infinities cannot be parsed from JSON.
    if (number >= 9223372036854775808.0 || number < -9223372036854775808.0) {
      throw FieldError(path, "too large");
    }
    return static_cast<int64_t>(number);
  }
  if (!value.is_number_integer()) wrong_type(path, "an integer", value);
  return value.get<int64_t>();
}

// A duration with its unit, as config and checks write them: "500ms", "10s",
// "1m", "1h".
inline std::chrono::milliseconds parse_duration(const std::string& text, const std::string& path) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) {
    throw FieldError(path, "expected a duration like \"10s\", got \"" + text + "\"");
  }
  const std::string unit = text.substr(digits);
  if (unit.empty()) throw FieldError(path, "expected a duration with a unit, like \"10s\"");
  int64_t unit_ms = 0;
  if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "s") {
    unit_ms = 1000;
  } else if (unit == "m") {
    unit_ms = 60 * 1000;
  } else if (unit == "h") {
    unit_ms = 60 * 60 * 1000;
  } else {
    throw FieldError(path, "unknown unit \"" + unit + "\" in \"" + text + "\"; use ms, s, m or h");
  }
  // Twelve digits of hours still fit in int64 milliseconds; more is a typo.
  if (digits > 12) throw FieldError(path, "duration \"" + text + "\" is too large");
  return std::chrono::milliseconds(std::stoll(text.substr(0, digits)) * unit_ms);
}

inline std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

inline std::string index_path(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

}  // namespace rotor::json_fields
