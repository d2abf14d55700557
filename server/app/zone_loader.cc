#include "server/app/zone_loader.h"

#include <exception>

#include "server/dnssec/key_files.h"
#include "zones/zone.h"
#include "zones/zone_file.h"

namespace rotor::app {

namespace {

std::string join_lines(const std::vector<std::string>& lines) {
  std::string joined;
  for (const std::string& line : lines) {
    if (!joined.empty()) joined += '\n';
    joined += line;
  }
  return joined;
}

// The zone signed with the keys in source.dnssec_keys; null after adding the
// reason to `errors`, named by the key path ("zones[1].dnssec.keys").
std::shared_ptr<const zones::Zone> sign_zone_source(
    const config::Config& config, const config::ZoneSource& source,
    std::shared_ptr<const zones::Zone> zone,
    const std::shared_ptr<dnssec::SharedSignatureCache>& signatures,
    std::vector<std::string>& errors) {
  const std::string where = (config.file.empty() ? "" : config.file + ": ") +
                            (source.key_path.empty() ? "zones" : source.key_path) +
                            ".dnssec.keys: ";
  dnssec::ZoneKeys keys;
  try {
    keys = dnssec::load_zone_keys(source.dnssec_keys, zone->origin_text(),
                                  dnssec::RrsetSigner::system_now());
  } catch (const std::exception& error) {
    errors.push_back(where + error.what());
    return nullptr;
  }
  dnssec::SignedZone signed_zone =
      dnssec::build_signed_zone(std::move(zone), std::move(keys), source.dnssec_keys, signatures);
  if (!signed_zone.zone) errors.push_back(where + source.file + ": " + signed_zone.error);
  return std::move(signed_zone.zone);
}

}  // namespace

SnapshotError::SnapshotError(std::vector<std::string> reasons_in)
    : std::runtime_error(join_lines(reasons_in)), reasons(std::move(reasons_in)) {}

SnapshotBuild try_build_snapshot(const config::Config& config, uint64_t generation,
                                 std::shared_ptr<dnssec::SharedSignatureCache> signatures) {
  if (!signatures) signatures = std::make_shared<dnssec::SharedSignatureCache>();
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->options.nsid = config.nsid;
  snapshot->generation = generation;

  SnapshotBuild build;
  std::vector<std::string> files_added;  // parallel to snapshot->zones.zones(), for duplicate errors
  for (const config::ZoneSource& source : config.zones) {
    std::shared_ptr<const zones::Zone> zone;
    try {
      zone = zones::load_zone_file(source.file, source.origin);
    } catch (const std::exception& error) {
      // ZoneFileError already reads "FILE:LINE: reason"; anything else (bad_alloc,
      // a filesystem error) gets the file name so the reason is never anonymous.
      if (dynamic_cast<const zones::ZoneFileError*>(&error) != nullptr) {
        build.errors.emplace_back(error.what());
      } else {
        build.errors.push_back(source.file + ": " + error.what());
      }
      continue;
    }
    if (!source.dnssec_keys.empty()) {
      zone = sign_zone_source(config, source, std::move(zone), signatures, build.errors);
      if (!zone) continue;
    }
    if (!snapshot->zones.add(zone)) {
      std::string first_file = "another file";
      for (size_t i = 0; i < snapshot->zones.zones().size(); ++i) {
        if (snapshot->zones.zones()[i]->origin() == zone->origin()) first_file = files_added[i];
      }
      build.errors.push_back(source.file + ": duplicate zone " + zone->origin_text() +
                             " (already loaded from " + first_file + ")");
      continue;
    }
    files_added.push_back(source.file);
    build.record_count += zone->record_count();
  }
  if (build.errors.empty()) build.snapshot = std::move(snapshot);
  return build;
}

std::vector<std::string> encoding_warnings(const Snapshot& snapshot) {
  std::vector<std::string> warnings;
  for (const auto& zone : snapshot.zones.zones()) {
    if (zone->unencoded_negative_names() == 0) continue;
    warnings.push_back("zone " + zone->origin_text() + ": the negative answers of " +
                       std::to_string(zone->unencoded_negative_names()) +
                       " names are written per query: encoding them all needs more than "
                       "dnssec.encoded_answers_mib (" +
                       std::to_string(zones::negative_answer_budget() >> 20) + " MiB)");
  }
  return warnings;
}

std::shared_ptr<const Snapshot> build_snapshot(
    const config::Config& config, uint64_t generation,
    std::shared_ptr<dnssec::SharedSignatureCache> signatures) {
  SnapshotBuild build = try_build_snapshot(config, generation, std::move(signatures));
  if (!build.errors.empty()) throw SnapshotError(std::move(build.errors));
  return std::move(build.snapshot);
}

}  // namespace rotor::app
