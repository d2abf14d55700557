#include "server/app/zone_loader.h"

#include <exception>

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

}  // namespace

SnapshotError::SnapshotError(std::vector<std::string> reasons_in)
    : std::runtime_error(join_lines(reasons_in)), reasons(std::move(reasons_in)) {}

SnapshotBuild try_build_snapshot(const config::Config& config, uint64_t generation) {
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

std::shared_ptr<const Snapshot> build_snapshot(const config::Config& config, uint64_t generation) {
  SnapshotBuild build = try_build_snapshot(config, generation);
  if (!build.errors.empty()) throw SnapshotError(std::move(build.errors));
  return std::move(build.snapshot);
}

}  // namespace rotor::app
