#include "server/app/keygen_command.h"

#include <cstdio>
#include <optional>

#include "server/dnssec/key_files.h"
#include "server/dnssec/signing_key.h"

namespace rotor::app {
namespace {

constexpr int kExitNotWritten = 1;
constexpr int kExitUsage = 2;

}  // namespace

KeygenCommand::KeygenCommand(CLI::App& parent, Clock now) : now_(std::move(now)) {
  command_ = parent.add_subcommand(
      "keygen", "Make a DNSSEC signing key (CSK) for a zone and print its DS record");
  command_->add_option("zone", zone_, "The zone, e.g. example.com")->required();
  command_->add_option("--dir", dir_, "Directory to write K<zone>.+<alg>+<tag>.key/.private into")
      ->required();
  command_->add_option("--algorithm", algorithm_, "13 (ECDSA P-256, default) or 15 (Ed25519)")
      ->check(CLI::IsMember({13, 15}));
  command_->add_option("--activate", activate_,
                       "When the key starts signing: now (default), YYYYMMDDHHMMSS (UTC), or "
                       "none to publish it only (the first step of a rollover)");
}

bool KeygenCommand::parsed() const { return command_->parsed(); }

int KeygenCommand::run() {
  const int64_t now = now_();
  std::optional<int64_t> activate;
  if (activate_ == "now") {
    activate = now;
  } else if (activate_ != "none") {
    activate = dnssec::parse_key_time(activate_);
    if (!activate) {
      std::fprintf(stderr, "rotor keygen: --activate '%s' is not now, none or YYYYMMDDHHMMSS\n",
                   activate_.c_str());
      return kExitUsage;
    }
  }
  std::optional<dnssec::SigningKey> key;
  try {
    key.emplace(dnssec::SigningKey::generate(zone_, algorithm_, now, activate));
  } catch (const dnssec::KeyError& error) {
    std::fprintf(stderr, "rotor keygen: %s\n", error.what());
    return kExitUsage;
  }
  try {
    const dnssec::KeyFilePaths paths = dnssec::write_key_files(dir_, *key);
    std::fprintf(stderr, "rotor keygen: wrote %s and %s (key tag %u, algorithm %u)\n",
                 paths.key.c_str(), paths.private_file.c_str(), key->tag(), key->algorithm());
  } catch (const dnssec::KeyError& error) {
    std::fprintf(stderr, "rotor keygen: %s\n", error.what());
    return kExitNotWritten;
  }
  std::fputs(key->ds_text().c_str(), stdout);
  return 0;
}

}  // namespace rotor::app
