#pragma once
// The API's OpenAPI 3.1 document (api/openapi.json), embedded in the binary:
// CMake generates the definition from the file at build time
// (cmake/embed_text.cmake), so the binary serves the document it was built
// with and reads no file at run time. Thread-safe (a constant); no errors.

#include <string_view>

namespace rotor::api {

// The document's JSON text, as the file holds it.
std::string_view openapi_document() noexcept;

}  // namespace rotor::api
