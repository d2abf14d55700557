#pragma once
// The array settings that have no column or field of their own in a store
// (min_healthy, fallback, remove_after: the health-logic keys of issue 15), as one JSON
// object text: the SQLite store keeps it in arrays.options_json, the etcd
// codec in the array's "options". A new setting of this kind then needs no
// schema migration, only a line in each function below.
//
// Only keys that differ from their default are written, so that an array
// without them stores "" (and every older store reads back the defaults).
// Stateless and thread-safe.

#include <string>

#include "server/arrays/array.h"

namespace rotor::registry {

// The options of `settings` that differ from the defaults; "" when none do.
std::string array_options_text(const arrays::ArraySettings& settings);

// Sets the options `text` holds into `settings` ("" holds none; unknown keys,
// a newer rotor's, are ignored). Throws std::runtime_error for text that is
// not a JSON object or a known key of the wrong type.
void read_array_options(const std::string& text, arrays::ArraySettings& settings);

}  // namespace rotor::registry
