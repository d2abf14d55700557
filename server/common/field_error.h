#pragma once
// The error of a bad value in a structured document (the config file, an API
// body, a health check): the key path of the value (`arrays[2].check.port`,
// empty for the document itself) and why it is wrong. Thrown by the JSON
// field helpers (json_fields.h) and the parsers above them; the config
// (config::ConfigError is this type), the API (a 400 naming the field) and
// the registry catch it. A plain value type.

#include <stdexcept>
#include <string>
#include <utility>

namespace rotor {

struct FieldError : std::runtime_error {
  FieldError(std::string path_in, std::string reason_in)
      : std::runtime_error(path_in + ": " + reason_in),
        path(std::move(path_in)),
        reason(std::move(reason_in)) {}
  std::string path;  // "listen[2]", "tcp.idle_timeout"; the file name for parse errors
  std::string reason;
};

}  // namespace rotor
