#include "server/app/health_monitor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "probes/check_spec.h"
#include "server/common/background_thread.h"
#include "server/common/field_error.h"
#include "server/common/utc_time.h"

namespace rotor::app {

std::vector<probes::ProbeTarget> probe_targets(const std::vector<registry::RegisteredArray>& arrays,
                                               const ObservationSink* sink) {
  std::vector<probes::ProbeTarget> targets;
  for (const registry::RegisteredArray& array : arrays) {
    for (const arrays::Instance& instance : array.instances) {
      if (instance.spec.state == arrays::AdminState::disabled) continue;
      std::optional<probes::CheckSpec> check;
      try {
        check = probes::effective_check(array.settings.check, instance.spec.check, "check");
      } catch (const FieldError& error) {
        spdlog::warn("{} instance {}: not probed: {}", array.name, instance.id, error.what());
        continue;
      }
      if (!check) continue;
      if (sink != nullptr && !sink->observes(instance.id, check->observers)) continue;
      // A cluster node's own view starts unknown: the registry holds the
      // cluster's verdict, not this node's last observation.
      const arrays::Health seed = sink != nullptr ? arrays::Health::unknown : instance.health;
      const IpAddress probed = check->address.value_or(instance.spec.address);
      targets.push_back({instance.id, probed, std::move(*check), seed});
    }
  }
  return targets;
}

HealthMonitor::HealthMonitor(registry::Registry& registry, probes::ProberOptions options,
                             ObservationSink* sink)
    : registry_(registry),
      sink_(sink),
      pool_(std::move(options), [this](std::vector<probes::ProbeReport> batch) {
        auto inbox = inbox_.lock();
        for (probes::ProbeReport& report : batch) inbox->reports.push_back(std::move(report));
        wake_.notify_one();
      }) {}

HealthMonitor::~HealthMonitor() { stop(); }

void HealthMonitor::start() {
  registry_.set_change_listener([this] { refresh_targets_soon(); });
  pool_.start();
  thread_ = std::thread([this] {
    lower_this_thread_priority();
    run();
  });
}

void HealthMonitor::stop() {
  registry_.set_change_listener(nullptr);
  {
    inbox_.lock()->stopping = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  pool_.stop();
}

void HealthMonitor::refresh_targets_soon() {
  // Already stale: the monitor knows, and is waiting out the spacing or about
  // to refresh. Waking it again per change would cost every registry write a
  // futex call and two context switches.
  if (!std::exchange(inbox_.lock()->targets_stale, true)) wake_.notify_one();
}

void HealthMonitor::run() {
  using namespace std::chrono_literals;
  using Clock = std::chrono::steady_clock;
  Pending pending;
  std::map<int64_t, registry::ReportedUpdate> reported;  // by instance: the newest wins
  bool store_failing = false;
  Clock::time_point last_refresh{};  // long ago: the first refresh is at once
  while (true) {
    bool refresh = false;
    std::vector<probes::ProbeReport> reports;
    {
      auto inbox = inbox_.lock();
      // A failing store is retried after a second whatever else happens.
      const auto retry_at = store_failing ? Clock::now() + 1s : Clock::time_point::max();
      for (;;) {
        if (inbox->stopping) return;
        const auto refresh_at =
            inbox->targets_stale ? last_refresh + kTargetRefreshSpacing : Clock::time_point::max();
        const auto now = Clock::now();
        if (!inbox->reports.empty() || now >= refresh_at || now >= retry_at) break;
        const auto until = std::min(refresh_at, retry_at);
        if (until == Clock::time_point::max()) {
          wake_.wait(inbox.lock());
        } else {
          wake_.wait_until(inbox.lock(), until);
        }
      }
      if (inbox->targets_stale && Clock::now() >= last_refresh + kTargetRefreshSpacing) {
        refresh = true;
        inbox->targets_stale = false;
      }
      reports = std::exchange(inbox->reports, {});
    }

    if (refresh) {
      last_refresh = Clock::now();
      refresh_targets();
    }
    if (sink_ != nullptr) {
      // The sink takes health observations; damping alone is this node's view
      // (LastCheck::held_down_until_ms), not an observation.
      std::erase_if(reports, [](const probes::ProbeReport& report) {
        return !report.health_changed && !report.report_changed;
      });
      if (!reports.empty()) sink_->publish(reports);  // the sink retries what it cannot write
      continue;
    }
    for (probes::ProbeReport& report : reports) {
      if (report.damping) {
        pending.damping.push_back({report.instance_id, report.damping->held, report.damping->until_ms,
                                   report.reason});
      }
      if (report.report_changed) {
        reported[report.instance_id] = {report.instance_id, report.reported_weight, report.reported_draining};
      }
      if (report.health_changed) pending.health[report.instance_id] = std::move(report);
    }
    if (!reported.empty()) serve_reports(std::exchange(reported, {}));
    if (!pending.health.empty() || !pending.damping.empty()) store_failing = !write(pending);
  }
}

void HealthMonitor::refresh_targets() {
  const std::vector<registry::RegisteredArray> arrays = registry_.arrays();
  std::vector<probes::ProbeTarget> targets = probe_targets(arrays, sink_);
  // Labels for the probed instances only: the monitor logs nothing about the
  // others, and a label for every instance of every array (its address as
  // text, a string, a map node) was half of a refresh, which runs up to 20
  // times a second under registry churn. A transition still pending for an
  // instance no longer probed is logged as "?" with its id.
  std::vector<int64_t> probed;
  probed.reserve(targets.size());
  for (const probes::ProbeTarget& target : targets) probed.push_back(target.instance_id);
  std::sort(probed.begin(), probed.end());
  labels_.clear();
  for (const registry::RegisteredArray& array : arrays) {
    for (const arrays::Instance& instance : array.instances) {
      if (!std::binary_search(probed.begin(), probed.end(), instance.id)) continue;
      labels_[instance.id] = array.name + " " + instance.spec.address.to_string();
    }
  }
  if (sink_ == nullptr) {
    // A check that stopped reading the backend's report (or stopped) drops
    // it; in a cluster the verdicts own the reports.
    std::set<int64_t> reading;
    for (const probes::ProbeTarget& target : targets) {
      if (target.check.weight_from_response) reading.insert(target.instance_id);
    }
    registry_.keep_reported_only(reading);
  }
  if (sink_ != nullptr) {
    std::vector<int64_t> ids;
    ids.reserve(targets.size());
    for (const probes::ProbeTarget& target : targets) ids.push_back(target.instance_id);
    sink_->set_targets(ids);
  }
  pool_.set_targets(std::move(targets));
}

void HealthMonitor::serve_reports(const std::map<int64_t, registry::ReportedUpdate>& reported) {
  std::vector<registry::ReportedUpdate> updates;
  updates.reserve(reported.size());
  for (const auto& [id, update] : reported) updates.push_back(update);
  registry_.set_reported_many(updates);
  for (const auto& [id, update] : reported) {
    spdlog::info("health: {} (instance {}) reports weight {}%{}", label(id), id, update.weight,
                 update.draining ? " and draining" : "");
  }
}

std::string HealthMonitor::label(int64_t instance_id) const {
  const auto found = labels_.find(instance_id);
  return found != labels_.end() ? found->second : "?";
}

bool HealthMonitor::write(Pending& pending) {
  std::vector<registry::HealthUpdate> updates;
  updates.reserve(pending.health.size());
  for (const auto& [id, report] : pending.health) updates.push_back({id, report.health, report.reason});
  try {
    // Damping first: its end comes before the rise it ends with.
    if (!pending.damping.empty()) registry_.record_damping(pending.damping);
    for (const registry::DampingUpdate& damping : pending.damping) {
      if (damping.held) {
        spdlog::info("health: {} (instance {}) is held down by flap damping until {}",
                     label(damping.instance_id), damping.instance_id, utc_text(damping.until_ms));
      } else {
        spdlog::info("health: {} (instance {}) is no longer held by flap damping: {}",
                     label(damping.instance_id), damping.instance_id, damping.reason);
      }
    }
    pending.damping.clear();
    const size_t changed = updates.empty() ? 0 : registry_.set_health_many(updates);
    for (const auto& [id, report] : pending.health) {
      spdlog::info("health: {} (instance {}) is {}: {}", label(id), id,
                   arrays::to_string(report.health), report.reason);
    }
    spdlog::debug("health: {} reported, {} changed", updates.size(), changed);
    pending.health.clear();
    return true;
  } catch (const registry::StoreError& error) {
    spdlog::error("health: cannot record {} transitions, retrying in 1s: {}", updates.size(),
                  error.what());
    return false;
  }
}

}  // namespace rotor::app
