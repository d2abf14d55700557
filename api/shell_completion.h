#pragma once
// Shell completion for the rotor binary, generated from its CLI11 command
// tree (`rotor ctl completion bash`): every subcommand, every option's long
// and short names, which options take a value, and the values an option
// accepts when CLI11 knows them (IsMember's {a,b} set, ExistingFile's FILE).
// Generated from the same CLI::App that parses the command line, so the
// completion cannot drift from the commands; nothing is listed by hand.
//
// Pure: reads the app and returns text, so it may run on any thread while
// nothing changes the app. Throws nothing of its own; every name goes into
// the script single-quoted, so no name can break it.

#include <CLI/CLI.hpp>

#include <string>

namespace rotor::api {

// A bash script defining the completion function and registering it with
// `complete -F` for `program` (the command's name, as typed: "rotor").
std::string bash_completion(const CLI::App& root, const std::string& program);

}  // namespace rotor::api
