#pragma once
// A small zone rotor signs itself with a fresh key (compact denial, as a
// zone with "dnssec": {"keys": DIR} is), in a snapshot,
// for the tests of late compact denial (query path and workers). Uses
// doctest's REQUIRE; single-threaded test code.

#include <doctest/doctest.h>
#include <ldns/ldns.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "server/dns/wire.h"
#include "server/dnssec/online_signing.h"
#include "server/dnssec/signer.h"
#include "server/snapshot/snapshot.h"
#include "zones/zone_file.h"

namespace rotor::test {

inline const char* const kCompactOrigin = "compact.test.";

inline uint32_t now_seconds() { return static_cast<uint32_t>(std::time(nullptr)); }

// A small zone rotor signs itself (dnssec::build_signed_zone: compact
// denial, Zone::online_signer) with a fresh key: SOA, NS and www, and the
// records of `extra` (zone-file lines relative to compact.test.).
struct SignedZone {
  std::shared_ptr<Snapshot> snapshot;
  const dnssec::SigningKey* key = nullptr;  // the active key, held by the zone's signer
};

inline SignedZone make_compact_zone(const std::string& extra = "") {
  const std::string zone_text =
      "$ORIGIN compact.test.\n"
      "@ 3600 IN SOA ns.compact.test. admin.compact.test. 1 3600 600 86400 300\n"
      "@ 3600 IN NS ns.compact.test.\nns 3600 IN A 192.0.2.53\nwww 300 IN A 192.0.2.1\n" +
      extra;
  const std::string path = std::filesystem::temp_directory_path() /
                           ("rotor-compact-" + std::to_string(getpid()) + ".zone");
  std::ofstream(path) << zone_text;
  auto source = zones::load_zone_file(path, kCompactOrigin);
  std::filesystem::remove(path);
  dnssec::ZoneKeys keys;
  keys.keys.push_back(dnssec::SigningKey::generate(kCompactOrigin, dnssec::kEcdsaP256Sha256,
                                                   now_seconds(), now_seconds() - 10));
  const dnssec::SignedZone built = dnssec::build_signed_zone(
      source, std::move(keys), "keys", std::make_shared<dnssec::SharedSignatureCache>());
  REQUIRE(built.zone);
  REQUIRE(built.zone->denial() == zones::Zone::Denial::compact);
  SignedZone out;
  out.snapshot = std::make_shared<Snapshot>();
  out.snapshot->zones.add(built.zone);
  out.key = &dynamic_cast<const dnssec::ZoneSigningContext&>(*built.zone->online_signer()).active();
  return out;
}

}  // namespace rotor::test
