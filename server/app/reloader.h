#pragma once
// Live reload (SIGHUP and POST /v1/reload) of everything a running server can
// change without a restart: zone files, declared zones, regions, networks and
// the GeoIP database, the arrays the config declares, API tokens, log level
// and format. A reload reads the config file again and checks all of it
// first; only a config that passed is applied, so a bad file leaves the old
// one running and says why (every reason, as `rotor check` would). An apply
// step that still fails (the store refuses the arrays) puts the earlier steps
// back. Keys only a restart changes (listen, threads, db, api.listen, api.tls,
// tcp, rrl, probes, cluster, publish_interval) give a warning when they differ.
//
// Every reload writes an event, and the config's array changes theirs
// (source "config"). Thread-safe: reloads are serialised by the reloader's
// lock; a signal and an API call never interleave. Throws nothing: every
// failure is in the outcome.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/common/lock_guarded.h"
#include "server/config/config.h"
#include "server/dnssec/online_signing.h"
#include "server/geo/geo.h"
#include "server/registry/registry.h"
#include "server/registry/snapshot_composer.h"
#include "server/snapshot/snapshot.h"

namespace rotor::app {

// How often serve() re-signs the zones rotor signs: signatures are valid 7
// days and the cache makes them again once less than half is left, so a
// daily pass keeps every published signature at least 2.5 days from expiry.
inline constexpr std::chrono::hours kResignInterval{24};

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;    // why nothing changed, each naming its file or key
  std::vector<std::string> warnings;  // applied, but: restart-only keys that changed, likely mistakes
  size_t zones = 0;                   // zones from files now served
  size_t arrays = 0;                  // arrays the config declares now
  int64_t time_ms = 0;                // unix ms when the reload finished
};

class Reloader {
 public:
  struct Targets {
    registry::SnapshotComposer& composer;
    registry::Registry& registry;
    // Takes the new config's API tokens; empty: the API is off.
    std::function<void(const config::Config&)> apply_api_tokens;
    // The signature cache of the zones rotor signs, kept across reloads so
    // that an unchanged zone signs nothing new; null: one per reload.
    std::shared_ptr<dnssec::SharedSignatureCache> signatures = nullptr;
  };
  // `load` fills a config as startup did (file, flags, environment) and
  // returns every error it found (config_loader.h's load_config_collecting);
  // `running` is the config startup applied and `base` the zones it loaded.
  Reloader(std::function<std::vector<std::string>(config::Config&)> load, config::Config running,
           std::shared_ptr<const Snapshot> base, Targets targets);

  // Writes a "reload" event with the outcome (registry/audit.h) naming
  // `origin`: {"signal"} for SIGHUP, {"api", token} for POST /v1/reload. A
  // store that cannot take it (a cluster without quorum) only costs the event.
  ReloadOutcome reload(const registry::EventOrigin& origin) noexcept;
  // The last reload's outcome; nullopt before the first.
  std::optional<ReloadOutcome> last() const;
  // Signs the zones rotor signs again, as they are (no config or zone file is
  // read; their key directories are): the periodic re-sign that keeps their
  // signatures fresh (kResignInterval) and lets a key whose Activate time has
  // come start signing. Signatures come from the cache, which makes new ones
  // only for those past half their validity. A zone whose keys or signing
  // fail keeps its current signatures, logged. Returns the zones signed
  // again and publishes them when there are any.
  size_t resign() noexcept;
  // Reloads so far, by result.
  uint64_t succeeded() const;
  uint64_t failed() const;

 private:
  struct State {
    config::Config running;
    std::shared_ptr<const Snapshot> base;
    std::optional<ReloadOutcome> last;
    uint64_t succeeded = 0;
    uint64_t failed = 0;
  };
  // What the check built from a config, applied as it is.
  struct Checked {
    std::shared_ptr<const Snapshot> zones;
    registry::ConfigGeo geo;
  };
  // Checks `next` whole; fills outcome.errors (every one found) and warnings.
  Checked check(const config::Config& next, ReloadOutcome& outcome) const;
  // Writes the reload's event; logs (never throws) when the store refuses it.
  void record(const ReloadOutcome& outcome, const registry::EventOrigin& origin) noexcept;
  // Applies `next` over `state.running`, undoing what it did when a step throws.
  void apply(State& state, const config::Config& next, Checked checked, ReloadOutcome& outcome);

  const std::function<std::vector<std::string>(config::Config&)> load_;
  Targets targets_;
  LockGuarded<State> state_;
};

// The restart-only keys that differ between `running` and `next`, each as
// "KEY changed: takes effect at the next restart".
std::vector<std::string> restart_only_changes(const config::Config& running,
                                              const config::Config& next);

}  // namespace rotor::app
