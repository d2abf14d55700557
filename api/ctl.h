#pragma once
// `rotor ctl`: the API's command-line client, a subcommand of the rotor
// binary. Each command is one or a few requests to the JSON API (`--api URL`
// or ROTOR_API_URL, bearer token from ROTOR_API_TOKEN, `--ca FILE` for an
// HTTPS API with its own CA) printed as a table for people or, with
// `--json`, as the API's JSON for scripts. `rotor ctl completion bash`
// prints a completion script for the whole binary (api/shell_completion.h)
// and needs no API.
//
// Exit codes say what failed (kExit* below); the API's error message goes to
// stderr. Single-threaded: it runs in the process's main thread and holds no
// state between commands. Nothing here is used by the server.

#include <CLI/CLI.hpp>

#include <memory>

namespace rotor::api::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;       // the API refused the request (400, 409, 413, 415)
inline constexpr int kExitUsage = 2;         // bad flags or arguments (as every rotor command)
inline constexpr int kExitNotFound = 3;      // no such array, instance or route (404)
inline constexpr int kExitUnauthorized = 4;  // a missing, wrong or read-only token (401, 403)
inline constexpr int kExitUnavailable = 5;   // the API cannot be reached, timed out, or failed (5xx)

class CtlCommand {
 public:
  // Adds `ctl` with its commands to `parent`.
  explicit CtlCommand(CLI::App& parent);
  ~CtlCommand();
  CtlCommand(const CtlCommand&) = delete;
  CtlCommand& operator=(const CtlCommand&) = delete;

  // True when the command line chose `ctl`.
  bool parsed() const;
  // Runs the chosen command; returns the exit code. Writes to stdout and stderr.
  int run();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace rotor::api::ctl
