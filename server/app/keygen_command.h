#pragma once
// `rotor keygen ZONE --dir DIR [--algorithm 13|15] [--activate WHEN]`: makes
// a combined signing key (CSK) for a zone, writes it into DIR in BIND's
// format (server/dnssec/key_files.h) and prints on stdout the DS record
// (SHA-256) to give the parent. The files written go to stderr.
//
// Exit codes: 0 written; 1 not written (a key file of that name exists, DIR
// is not a directory or not writable); 2 usage (bad flags, a zone name that
// is not a plain host name, an unreadable --activate time).
// Single-threaded, in the process's main thread; nothing here is used by the server.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace rotor::app {

class KeygenCommand {
 public:
  using Clock = std::function<int64_t()>;  // Unix seconds
  // Adds `keygen` to `parent`.
  explicit KeygenCommand(CLI::App& parent, Clock now);
  KeygenCommand(const KeygenCommand&) = delete;
  KeygenCommand& operator=(const KeygenCommand&) = delete;

  bool parsed() const;
  // Makes and writes the key; returns the exit code.
  int run();

 private:
  CLI::App* command_ = nullptr;
  Clock now_;
  std::string zone_;
  std::string dir_;
  int algorithm_ = 13;
  std::string activate_ = "now";
};

}  // namespace rotor::app
