#pragma once
// Reading the config as `rotor check` and a reload do: the file, then the
// command-line flags, then what the environment completes (the API token from
// ROTOR_API_TOKEN, the etcd password from ROTOR_ETCD_PASSWORD), with every
// error found rather than only the first. One path, so that check and reload
// refuse the same files with the same messages.
//
// Thread-safe (no shared state). Throws nothing: errors are returned.

#include <string>
#include <vector>

#include "server/config/config.h"

namespace rotor::app {

struct ConfigSources {
  std::string file;              // empty: no config file, only the flags
  config::Overrides overrides;   // the command line's
  // When set, the cluster section is completed for this host (rotor serve);
  // rotor check leaves it as written.
  std::string host_name;
};

// Fills `config` and returns every error, each "FILE: key.path: why" (a
// flag's as "--flag: why"). The file's errors come first; the flags and the
// environment are only applied to a file that loaded. Empty: `config` is
// complete.
std::vector<std::string> load_config_collecting(const ConfigSources& sources, config::Config& config);

}  // namespace rotor::app
