#pragma once
// A zone's keys on disk, in BIND's file layout: each key is a pair
// K<zone>.+<alg>+<tag>.key (the DNSKEY record) and .private (the private key,
// mode 0600). `rotor keygen` writes a pair; the server reads the directory.
//
// Which key signs (the documented manual rollover, server/dnssec/README.md):
// every key in the directory is published in the DNSKEY RRset (and CDS and
// CDNSKEY); the one that signs is the key whose Activate time (BIND's timing
// metadata in the .private file) is the latest one not in the future. A key
// without Activate, or activated later, is published only; a .private with
// no timing metadata at all (ldns-keygen's) counts as activated long ago.
//
// Thread-safety: free functions without shared state.
// Errors: KeyError naming the file and the reason.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/dnssec/signing_key.h"

namespace rotor::dnssec {

struct KeyFilePaths {
  std::string key;           // DIR/K<zone>.+<alg>+<tag>.key
  std::string private_file;  // DIR/K<zone>.+<alg>+<tag>.private
};

// Writes the key's two files into `dir`; the .private with mode 0600, the
// .key with 0644. Never overwrites: an existing file of either name is an
// error, and nothing is left behind by a failed write. Throws KeyError.
KeyFilePaths write_key_files(const std::string& dir, const SigningKey& key);

struct ZoneKeys {
  std::vector<SigningKey> keys;  // every key found, by file name
  size_t active = 0;             // index of the key that signs
};

// Reads every K<zone>+*.private in `dir` with its .key, validates each
// (SigningKey::from_texts) and picks the active key at `now` (Unix seconds).
// Throws KeyError when the directory cannot be read, a file is bad, a
// .private has no .key, or no key is active (naming the directory).
ZoneKeys load_zone_keys(const std::string& dir, std::string_view zone, int64_t now);

}  // namespace rotor::dnssec
