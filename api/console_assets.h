#pragma once
// The web console's files (api/console/, bundled by esbuild at build time),
// embedded in the binary: the build generates their definition
// (api/console/embed.cmake), so serving them reads no file at run time.
// Immutable data; thread-safe. A build without the console
// (-DROTOR_CONSOLE=OFF) embeds one page saying so.

#include <span>
#include <string_view>

namespace rotor::api {

struct ConsoleAsset {
  std::string_view name;          // "index.html", "console.js": the path under /ui/
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;
};

// Every embedded file; index.html among them.
std::span<const ConsoleAsset> console_assets() noexcept;

// The file named `name`, or null.
const ConsoleAsset* find_console_asset(std::string_view name) noexcept;

}  // namespace rotor::api
