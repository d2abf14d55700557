#include "server/app/reloader.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <utility>

#include "server/app/log_format.h"
#include "server/app/registry_setup.h"
#include "server/app/zone_loader.h"
#include "server/common/utc_time.h"
#include "server/dnssec/key_files.h"
#include "server/registry/audit.h"

namespace rotor::app {

namespace {

int64_t now_ms() { return unix_now_ms(); }

bool same_cluster(const std::optional<config::ClusterConfig>& a,
                  const std::optional<config::ClusterConfig>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->node == b->node && a->region == b->region && a->endpoints == b->endpoints &&
         a->prefix == b->prefix && a->username == b->username && a->password == b->password &&
         a->tls_ca == b->tls_ca && a->tls_cert == b->tls_cert && a->tls_key == b->tls_key &&
         a->lease_ttl == b->lease_ttl && a->isolation_fallback == b->isolation_fallback &&
         a->abstain_share == b->abstain_share;
}

bool same_rrl(const RateLimiterOptions& a, const RateLimiterOptions& b) {
  return a.responses_per_second == b.responses_per_second && a.slip == b.slip &&
         a.ipv4_prefix == b.ipv4_prefix && a.ipv6_prefix == b.ipv6_prefix &&
         a.table_size == b.table_size && a.exempt.size() == b.exempt.size();
}

}  // namespace

std::vector<std::string> restart_only_changes(const config::Config& running,
                                              const config::Config& next) {
  const struct {
    const char* key;
    bool same;
  } keys[] = {
      {"listen", running.listen == next.listen},
      {"threads", running.threads == next.threads},
      {"cpu_affinity", running.cpu_affinity == next.cpu_affinity},
      {"db", running.db == next.db},
      {"tcp", running.tcp_idle_timeout == next.tcp_idle_timeout &&
                  running.tcp_max_connections == next.tcp_max_connections},
      {"publish_interval", running.publish_interval == next.publish_interval},
      {"probes", running.probe_threads == next.probe_threads &&
                     running.probe_max_in_flight == next.probe_max_in_flight &&
                     running.probe_source_address == next.probe_source_address},
      {"api.listen", running.api_listen == next.api_listen},
      {"api.tls", running.api_tls.cert == next.api_tls.cert && running.api_tls.key == next.api_tls.key},
      {"rrl", same_rrl(running.rrl, next.rrl)},
      {"dnssec", running.dnssec.signature_cache_bytes == next.dnssec.signature_cache_bytes &&
                     running.dnssec.denial_cache_bytes == next.dnssec.denial_cache_bytes &&
                     running.dnssec.encoded_answers_bytes == next.dnssec.encoded_answers_bytes},
      {"cluster", same_cluster(running.cluster, next.cluster)},
      {"events", running.events.max_count == next.events.max_count &&
                     running.events.max_age == next.events.max_age},
  };
  std::vector<std::string> changed;
  for (const auto& key : keys) {
    if (!key.same) changed.push_back(std::string(key.key) + " changed: takes effect at the next restart");
  }
  return changed;
}

Reloader::Reloader(std::function<std::vector<std::string>(config::Config&)> load, config::Config running,
                   std::shared_ptr<const Snapshot> base, Targets targets)
    : load_(std::move(load)), targets_(std::move(targets)) {
  auto state = state_.lock();
  state->running = std::move(running);
  state->base = std::move(base);
}

ReloadOutcome Reloader::reload(const registry::EventOrigin& origin) noexcept {
  auto state = state_.lock();
  ReloadOutcome outcome;
  try {
    config::Config next;
    outcome.errors = load_(next);
    Checked checked;
    if (outcome.errors.empty()) checked = check(next, outcome);
    if (outcome.errors.empty()) apply(*state, next, std::move(checked), outcome);
  } catch (const std::exception& error) {
    outcome.errors.emplace_back(error.what());
  } catch (...) {
    outcome.errors.emplace_back("unknown error");
  }
  outcome.ok = outcome.errors.empty();
  outcome.time_ms = now_ms();
  if (outcome.ok) {
    ++state->succeeded;
    for (const std::string& warning : outcome.warnings) spdlog::warn("reload: {}", warning);
    spdlog::info("reloaded: {} zones from files, {} config arrays", outcome.zones, outcome.arrays);
  } else {
    ++state->failed;
    for (const std::string& reason : outcome.errors) spdlog::error("reload failed: {}", reason);
    spdlog::error("reload failed; still running the config loaded before");
  }
  state->last = outcome;
  record(outcome, origin);
  return outcome;
}

Reloader::Checked Reloader::check(const config::Config& next, ReloadOutcome& outcome) const {
  SnapshotBuild build = try_build_snapshot(next, 0, targets_.signatures);
  if (!build.errors.empty()) {
    outcome.errors = std::move(build.errors);
    return {};
  }
  // Key paths are the file's: name it, as startup does.
  const auto in_file = [&](const config::ConfigError& error) {
    outcome.errors.push_back(next.file.empty() ? error.what() : next.file + ": " + error.what());
  };
  for (const config::ConfigError& error : array_serving_errors(next, build.snapshot->zones)) in_file(error);
  Checked checked;
  try {
    checked.geo = build_geo(next);
    outcome.warnings = config_warnings(next, checked.geo);
    for (std::string& warning : encoding_warnings(*build.snapshot)) outcome.warnings.push_back(std::move(warning));
  } catch (const config::ConfigError& error) {
    in_file(error);
  }
  checked.zones = std::move(build.snapshot);
  return checked;
}

void Reloader::apply(State& state, const config::Config& next, Checked checked,
                     ReloadOutcome& outcome) {
  const std::shared_ptr<const Snapshot>& zones = checked.zones;
  // The composer checks the new zones against every array (API-made ones
  // too) and swaps them only when nothing conflicts.
  std::vector<std::string> conflicts = targets_.composer.set_base_checked(zones->zones, zones->options);
  if (!conflicts.empty()) {
    outcome.errors = std::move(conflicts);
    return;
  }
  int undo = 0;  // steps done, to put back in reverse when a later one throws
  try {
    targets_.registry.set_geo(std::move(checked.geo));
    ++undo;
    targets_.registry.set_synthetic_zones(synthetic_specs(next));
    ++undo;
    targets_.registry.apply_config_arrays(config_arrays(next));
  } catch (const std::exception& error) {
    outcome.errors.emplace_back(error.what());
    try {
      if (undo >= 2) targets_.registry.set_synthetic_zones(synthetic_specs(state.running));
      if (undo >= 1) targets_.registry.set_geo(build_geo(state.running));
      targets_.composer.set_base(state.base->zones, state.base->options);
    } catch (const std::exception& undo_error) {
      outcome.errors.push_back(std::string("putting the old config back: ") + undo_error.what());
    }
    return;
  }
  if (targets_.apply_api_tokens) targets_.apply_api_tokens(next);
  apply_log_format(*spdlog::default_logger(), next.log_format);
  spdlog::set_level(spdlog::level::from_str(next.log_level));
  for (std::string& warning : restart_only_changes(state.running, next)) {
    outcome.warnings.push_back(std::move(warning));
  }
  outcome.zones = zones->zones.zones().size();
  outcome.arrays = next.arrays.size();
  state.running = next;
  state.base = std::move(checked.zones);
}

void Reloader::record(const ReloadOutcome& outcome, const registry::EventOrigin& origin) noexcept {
  try {
    const std::string summary = "reloaded: " + std::to_string(outcome.zones) + " zones from files, " +
                                std::to_string(outcome.arrays) + " config arrays, " +
                                std::to_string(outcome.warnings.size()) + " warnings";
    targets_.registry.record_event(outcome.ok ? registry::audit::reloaded(summary, outcome.time_ms)
                                              : registry::audit::reload_failed(outcome.errors, outcome.time_ms),
                                   origin);
  } catch (const std::exception& error) {
    spdlog::warn("reload: the event was not written: {}", error.what());
  }
}

namespace {

// `zone` signed again from its source with its keys read again; null when
// that fails (logged).
std::shared_ptr<const zones::Zone> resigned(const zones::Zone& zone,
                                            const dnssec::ZoneSigningContext& context) {
  try {
    dnssec::ZoneKeys keys =
        dnssec::load_zone_keys(context.keys_dir(), zone.origin_text(), context.clock()());
    dnssec::SignedZone signed_zone = dnssec::build_signed_zone(
        context.source(), std::move(keys), context.keys_dir(), context.cache(), context.clock());
    if (signed_zone.zone) return std::move(signed_zone.zone);
    spdlog::error("re-signing {}: {}", zone.origin_text(), signed_zone.error);
  } catch (const std::exception& error) {
    spdlog::error("re-signing {}: {}; its current signatures stay", zone.origin_text(), error.what());
  }
  return nullptr;
}

}  // namespace

size_t Reloader::resign() noexcept {
  try {
    auto state = state_.lock();
    const Snapshot& base = *state->base;
    auto next = std::make_shared<Snapshot>();
    next->options = base.options;
    next->generation = base.generation;
    size_t count = 0;
    for (const std::shared_ptr<const zones::Zone>& zone : base.zones.zones()) {
      std::shared_ptr<const zones::Zone> serving = zone;
      if (const auto context =
              std::dynamic_pointer_cast<const dnssec::ZoneSigningContext>(zone->online_signer())) {
        if (auto fresh = resigned(*zone, *context)) {
          serving = std::move(fresh);
          ++count;
        }
      }
      next->zones.add(std::move(serving));
    }
    if (count == 0) return 0;
    targets_.composer.set_base(next->zones, next->options);
    state->base = std::move(next);
    spdlog::info("re-signed {} zones", count);
    return count;
  } catch (const std::exception& error) {
    spdlog::error("re-signing the zones failed: {}", error.what());
    return 0;
  }
}

std::optional<ReloadOutcome> Reloader::last() const { return state_.lock()->last; }
uint64_t Reloader::succeeded() const { return state_.lock()->succeeded; }
uint64_t Reloader::failed() const { return state_.lock()->failed; }

}  // namespace rotor::app
