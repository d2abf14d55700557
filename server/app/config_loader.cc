#include "server/app/config_loader.h"

#include <cstdlib>

namespace rotor::app {

std::vector<std::string> load_config_collecting(const ConfigSources& sources, config::Config& config) {
  std::vector<std::string> errors;
  // Key paths are the file's: name it, unless the error already does.
  const auto in_file = [&](const config::ConfigError& error) {
    const bool names_file = sources.file.empty() || error.path == sources.file;
    errors.push_back(names_file ? error.what() : sources.file + ": " + error.what());
  };
  if (!sources.file.empty()) {
    for (const config::ConfigError& error : config::load_config_file_collecting(sources.file, config)) {
      in_file(error);
    }
  }
  if (!errors.empty()) return errors;
  try {
    config::apply_overrides(config, sources.overrides);
  } catch (const config::ConfigError& error) {
    return {error.what()};  // a flag's: named by the flag
  }
  try {
    config::resolve_api(config, std::getenv("ROTOR_API_TOKEN"));
  } catch (const config::ConfigError& error) {
    in_file(error);
  }
  if (!sources.host_name.empty()) {
    try {
      config::resolve_cluster(config, sources.host_name, std::getenv("ROTOR_ETCD_PASSWORD"));
    } catch (const config::ConfigError& error) {
      in_file(error);
    }
  }
  return errors;
}

}  // namespace rotor::app
