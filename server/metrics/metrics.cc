#include "server/metrics/metrics.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <map>
#include <span>
#include <unordered_map>
#include <utility>

#include "server/common/histogram.h"
#include "server/registry/registry.h"
#include "server/registry/snapshot_composer.h"

namespace rotor::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  return MetricFamily{.name = std::move(name), .help = std::move(help), .type = type, .metric = {}};
}

void add_counter(MetricFamily& to, std::vector<ClientMetric::Label> labels, uint64_t value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = static_cast<double>(value);
  to.metric.push_back(std::move(metric));
}

void add_gauge(MetricFamily& to, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  to.metric.push_back(std::move(metric));
}

// `counts` per bucket (not cumulative), one more than `upper_bounds`: the last
// is everything above. The serializer adds the +Inf bucket.
void add_histogram(MetricFamily& to, std::span<const double> upper_bounds,
                   std::span<const uint64_t> counts, double sum) {
  ClientMetric metric;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    cumulative += counts[i];
    metric.histogram.bucket.push_back({.cumulative_count = cumulative, .upper_bound = upper_bounds[i]});
  }
  for (size_t i = upper_bounds.size(); i < counts.size(); ++i) cumulative += counts[i];
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum = sum;
  to.metric.push_back(std::move(metric));
}

// The prober's histograms count milliseconds; Prometheus wants seconds.
template <size_t N>
std::array<double, N> seconds_from_ms(const std::array<int64_t, N>& bounds_ms) {
  std::array<double, N> out{};
  for (size_t i = 0; i < N; ++i) out[i] = static_cast<double>(bounds_ms[i]) / 1000.0;
  return out;
}

// One of the prober's histograms (bounds in seconds, the sum in microseconds).
MetricFamily prober_histogram(std::string name, std::string help,
                              std::span<const double> upper_bounds,
                              std::span<const uint64_t> counts, uint64_t sum_us) {
  MetricFamily histogram = family(std::move(name), std::move(help), MetricType::Histogram);
  add_histogram(histogram, upper_bounds, counts, static_cast<double>(sum_us) / 1e6);
  return histogram;
}

template <typename Read>
uint64_t sum_workers(const std::vector<std::shared_ptr<const WorkerCounters>>& workers, Read read) {
  uint64_t total = 0;
  for (const auto& worker : workers) total += read(*worker);
  return total;
}

void add_dns_families(const std::vector<std::shared_ptr<const WorkerCounters>>& workers,
                      std::vector<MetricFamily>& out) {
  MetricFamily queries = family("rotor_dns_queries_total",
                                "DNS queries answered, by question type (other: any other type, or "
                                "no readable question) and transport.",
                                MetricType::Counter);
  for (size_t type = 0; type < kQueryTypeNames.size(); ++type) {
    for (size_t transport = 0; transport < kTransportNames.size(); ++transport) {
      add_counter(queries,
                  {{"qtype", std::string(kQueryTypeNames[type])},
                   {"transport", std::string(kTransportNames[transport])}},
                  sum_workers(workers, [&](const WorkerCounters& worker) {
                    return worker.queries[type][transport].value();
                  }));
    }
  }
  out.push_back(std::move(queries));

  MetricFamily responses =
      family("rotor_dns_responses_total", "DNS replies sent, by rcode.", MetricType::Counter);
  for (size_t rcode = 0; rcode < kRcodeNames.size(); ++rcode) {
    add_counter(responses, {{"rcode", std::string(kRcodeNames[rcode])}},
                sum_workers(workers, [&](const WorkerCounters& worker) {
                  return worker.responses[rcode].value();
                }));
  }
  out.push_back(std::move(responses));

  MetricFamily dropped = family("rotor_dns_dropped_total",
                                "DNS messages that got no reply: QR set, shorter than a header, a "
                                "truncated datagram, or a reply the socket would not take.",
                                MetricType::Counter);
  add_counter(dropped, {}, sum_workers(workers, [](const WorkerCounters& worker) {
                return worker.dropped.value();
              }));
  out.push_back(std::move(dropped));

  MetricFamily malformed = family("rotor_dns_malformed_total",
                                  "Malformed DNS queries, answered FORMERR.", MetricType::Counter);
  add_counter(malformed, {}, sum_workers(workers, [](const WorkerCounters& worker) {
                return worker.malformed.value();
              }));
  out.push_back(std::move(malformed));

  MetricFamily limited = family("rotor_rrl_responses_total",
                                "UDP replies held back by response rate limiting: dropped (not "
                                "sent) or slipped (sent truncated, header and question only).",
                                MetricType::Counter);
  add_counter(limited, {{"action", "dropped"}}, sum_workers(workers, [](const WorkerCounters& worker) {
                return worker.rrl_dropped.value();
              }));
  add_counter(limited, {{"action", "slipped"}}, sum_workers(workers, [](const WorkerCounters& worker) {
                return worker.rrl_slipped.value();
              }));
  out.push_back(std::move(limited));

  MetricFamily denial = family(
      "rotor_dnssec_denial_total",
      "Compact denial (RFC 9824) of names that do not exist, signed late by the denial signer: "
      "answers from a worker's cache (hit, late answers included), queries that needed a "
      "signature (miss), queries parked for one, answered once signed (answered_late), dropped "
      "(no room to park or to ask, or not signed in time), and signatures delivered to the "
      "workers (signed).",
      MetricType::Counter);
  const std::pair<const char*, counters::SingleWriterCounter WorkerCounters::*> denial_outcomes[] = {
      {"hit", &WorkerCounters::denial_hits},
      {"miss", &WorkerCounters::denial_misses},
      {"parked", &WorkerCounters::denial_parked},
      {"answered_late", &WorkerCounters::denial_answered_late},
      {"dropped", &WorkerCounters::denial_dropped},
      {"signed", &WorkerCounters::denial_signed}};
  for (const auto& [outcome, member] : denial_outcomes) {
    add_counter(denial, {{"outcome", outcome}},
                sum_workers(workers, [member = member](const WorkerCounters& worker) {
                  return (worker.*member).value();
                }));
  }
  out.push_back(std::move(denial));

  MetricFamily open = family("rotor_tcp_connections", "Open DNS TCP connections.",
                             MetricType::Gauge);
  add_gauge(open, {}, static_cast<double>(sum_workers(workers, [](const WorkerCounters& worker) {
              return worker.tcp_open.value();
            })));
  out.push_back(std::move(open));

  MetricFamily accepted = family("rotor_tcp_connections_total", "DNS TCP connections accepted.",
                                 MetricType::Counter);
  add_counter(accepted, {}, sum_workers(workers, [](const WorkerCounters& worker) {
                return worker.tcp_accepted.value();
              }));
  out.push_back(std::move(accepted));
}

// A cluster node's view of etcd; nothing on a single node.
void add_store_families(const registry::StoreStatus& status, std::vector<MetricFamily>& out) {
  if (!status.shared) return;
  MetricFamily reachable = family("rotor_store_reachable",
                                  "1 while the cluster's etcd takes writes, else 0.", MetricType::Gauge);
  add_gauge(reachable, {}, status.reachable ? 1 : 0);
  out.push_back(std::move(reachable));
  MetricFamily revision = family("rotor_store_revision_applied",
                                 "The etcd revision this node's data reflects.", MetricType::Gauge);
  add_gauge(revision, {}, static_cast<double>(status.revision));
  out.push_back(std::move(revision));
  MetricFamily lag = family("rotor_store_watch_lag_seconds",
                            "Time since etcd last sent this node anything (events, progress).",
                            MetricType::Gauge);
  add_gauge(lag, {}, static_cast<double>(status.watch_lag_ms) / 1000.0);
  out.push_back(std::move(lag));
}

void add_cluster_families(const ClusterHealthCounts& counts, std::vector<MetricFamily>& out) {
  const auto gauge = [&](const char* name, const char* help, double value) {
    MetricFamily metric = family(name, help, MetricType::Gauge);
    add_gauge(metric, {}, value);
    out.push_back(std::move(metric));
  };
  gauge("rotor_cluster_live_nodes", "Nodes holding a live lease (nodes/ keys), this one included.",
        static_cast<double>(counts.live_nodes));
  gauge("rotor_cluster_abstaining_nodes", "Live nodes abstaining from the health vote.",
        static_cast<double>(counts.abstaining_nodes));
  gauge("rotor_cluster_observations", "Live observations (one per observing node and instance) over every instance.",
        static_cast<double>(counts.observations));
  gauge("rotor_cluster_isolated", "1 while this node serves its own probes' verdicts (etcd unreachable too long).",
        counts.isolated ? 1 : 0);
}

void add_reload_families(const ReloadCounts& counts, std::vector<MetricFamily>& out) {
  MetricFamily reloads = family("rotor_config_reloads_total",
                                "Config reloads (SIGHUP, POST /v1/reload), by result.", MetricType::Counter);
  add_counter(reloads, {{"result", "success"}}, counts.succeeded);
  add_counter(reloads, {{"result", "failure"}}, counts.failed);
  out.push_back(std::move(reloads));
  MetricFamily ok = family("rotor_config_last_reload_successful",
                           "1 when the last reload applied (or none was tried), 0 when it was refused.",
                           MetricType::Gauge);
  add_gauge(ok, {}, counts.last_ok ? 1 : 0);
  out.push_back(std::move(ok));
  MetricFamily when = family("rotor_config_last_reload_timestamp_seconds",
                             "Unix time of the last reload; 0: none since startup.", MetricType::Gauge);
  add_gauge(when, {}, static_cast<double>(counts.last_time_ms) / 1000.0);
  out.push_back(std::move(when));
}

void add_signature_families(const dnssec::SharedSignatureCache::Stats& stats,
                            std::vector<MetricFamily>& out) {
  const auto counter = [&](const char* name, const char* help, uint64_t value) {
    MetricFamily metric = family(name, help, MetricType::Counter);
    add_counter(metric, {}, value);
    out.push_back(std::move(metric));
  };
  const auto gauge = [&](const char* name, const char* help, double value) {
    MetricFamily metric = family(name, help, MetricType::Gauge);
    add_gauge(metric, {}, value);
    out.push_back(std::move(metric));
  };
  gauge("rotor_dnssec_signature_cache_entries", "RRSIGs in the signature cache.",
        static_cast<double>(stats.cache.entries));
  gauge("rotor_dnssec_signature_cache_bytes",
        "The signature cache's size as its budget counts it (entry_bytes).",
        static_cast<double>(stats.cache.bytes));
  counter("rotor_dnssec_signature_cache_hits_total", "RRsets whose RRSIG came from the cache.",
          stats.cache.hits);
  counter("rotor_dnssec_signature_cache_evictions_total",
          "RRSIGs dropped, least recently used first, to keep the cache in its budget.",
          stats.cache.evictions);
  counter("rotor_dnssec_signature_cache_refreshes_total",
          "Cached RRSIGs signed again because less than half their validity was left.",
          stats.cache.refreshes);
  gauge("rotor_dnssec_denial_signature_cache_entries",
        "RRSIGs of NSECs made per query name (compact denial, wildcard proofs) in their own part "
        "of the signature cache.",
        static_cast<double>(stats.denial.entries));
  gauge("rotor_dnssec_denial_signature_cache_bytes",
        "The denial part's size as its budget counts it (entry_bytes).",
        static_cast<double>(stats.denial.bytes));
  counter("rotor_dnssec_denial_signature_cache_evictions_total",
          "Denial RRSIGs dropped, least recently used first, to keep that part in its budget; "
          "they never evict zone or array signatures.",
          stats.denial.evictions);
  counter("rotor_dnssec_signatures_total", "RRSIGs made (cache misses and refreshes).",
          stats.signatures_made);
  counter("rotor_dnssec_signing_failures_total", "RRsets that could not be signed.", stats.failures);
}

void add_instance_families(const registry::Registry& registry, std::vector<MetricFamily>& out) {
  MetricFamily instances = family("rotor_array_instances",
                                  "Enabled instances of each array, by health.", MetricType::Gauge);
  for (const registry::RegisteredArray& array : registry.arrays()) {
    std::array<uint64_t, 3> by_health{};  // indexed by arrays::Health
    for (const arrays::Instance& instance : array.instances) {
      if (instance.spec.state != arrays::AdminState::enabled) continue;
      ++by_health[static_cast<size_t>(instance.health)];
    }
    for (arrays::Health health : {arrays::Health::up, arrays::Health::down, arrays::Health::unknown}) {
      add_gauge(instances, {{"array", array.name}, {"health", std::string(arrays::to_string(health))}},
                static_cast<double>(by_health[static_cast<size_t>(health)]));
    }
  }
  out.push_back(std::move(instances));
}

// Labelled by array, instance id and address, so a flapping instance can be
// found by what the operator knows it by. Counts are this node's since it
// started probing the instance (a reset, as Prometheus counters allow).
void add_instance_check_families(const registry::Registry& registry,
                                 const std::vector<std::pair<int64_t, probes::CheckHistory>>& counts,
                                 std::vector<MetricFamily>& out) {
  std::unordered_map<int64_t, std::pair<std::string, std::string>> owners;  // id -> array, address
  for (const registry::RegisteredArray& array : registry.arrays()) {
    for (const arrays::Instance& instance : array.instances) {
      owners.emplace(instance.id, std::make_pair(array.name, instance.spec.address.to_string()));
    }
  }
  MetricFamily transitions = family("rotor_instance_health_transitions_total",
                                    "Health changes of each instance decided by this node's checks.",
                                    MetricType::Counter);
  MetricFamily damping = family("rotor_instance_damping_starts_total",
                                "Times flap damping started holding each instance down on this node.",
                                MetricType::Counter);
  for (const auto& [id, history] : counts) {
    const auto owner = owners.find(id);
    if (owner == owners.end()) continue;  // removed since the probe ran
    const std::vector<ClientMetric::Label> labels = {{"array", owner->second.first},
                                                     {"instance", std::to_string(id)},
                                                     {"address", owner->second.second}};
    add_counter(transitions, labels, history.transitions);
    add_counter(damping, labels, history.damping_starts);
  }
  out.push_back(std::move(transitions));
  out.push_back(std::move(damping));
}

void add_probe_families(const probes::ProberStats& stats, std::vector<MetricFamily>& out) {
  using probes::ProberStats;

  MetricFamily checks = family("rotor_probe_checks_total",
                               "Health checks finished (including results of checks removed "
                               "while in flight).",
                               MetricType::Counter);
  add_counter(checks, {}, stats.checks_finished);
  out.push_back(std::move(checks));

  MetricFamily in_flight =
      family("rotor_probe_in_flight", "Health checks in flight.", MetricType::Gauge);
  add_gauge(in_flight, {}, static_cast<double>(stats.in_flight));
  out.push_back(std::move(in_flight));

  static const auto kLatencyBounds = seconds_from_ms(ProberStats::kLatencyBoundsMs);
  out.push_back(prober_histogram("rotor_probe_latency_seconds",
                                 "Health check duration, from start to verdict.", kLatencyBounds,
                                 stats.latency_histogram, stats.latency_sum_us));
  static const auto kLatenessBounds = seconds_from_ms(ProberStats::kLatenessBoundsMs);
  out.push_back(prober_histogram("rotor_probe_start_lateness_seconds",
                                 "How late health checks started after their due time.",
                                 kLatenessBounds, stats.lateness_histogram, stats.lateness_sum_us));

  MetricFamily transitions = family("rotor_health_transitions_total",
                                    "Instance health changes decided by the health checks.",
                                    MetricType::Counter);
  add_counter(transitions, {}, stats.transitions);
  out.push_back(std::move(transitions));

  MetricFamily damped = family("rotor_damped_instances",
                               "Instances held down by flap damping now: their last checks "
                               "passed, their health stays down until the flap penalty decays.",
                               MetricType::Gauge);
  add_gauge(damped, {}, static_cast<double>(stats.damped));
  out.push_back(std::move(damped));
}

void add_publish_family(registry::SnapshotComposer& composer, std::vector<MetricFamily>& out) {
  const DurationHistogram latency = composer.publish_latency();
  MetricFamily publish = family("rotor_snapshot_publish_seconds",
                                "Time from a change reaching the snapshot composer to the "
                                "snapshot that carries it being published to the workers.",
                                MetricType::Histogram);
  add_histogram(publish, latency.upper_bounds(), latency.counts(), latency.sum_seconds());
  out.push_back(std::move(publish));
}

}  // namespace

MetricsCollector::MetricsCollector(MetricsSources sources) : sources_(std::move(sources)) {}

uint64_t MetricsCollector::array_answers(uint32_t slot, const std::string& array) const {
  const uint64_t total = sum_workers(sources_.workers, [slot](const WorkerCounters& worker) {
    return worker.array_answers.value(slot);
  });
  auto owners = slot_owners_.lock();
  auto [owner, first_seen] = owners->try_emplace(slot, SlotOwner{array, 0});
  if (!first_seen && owner->second.array != array) owner->second = {array, total};
  // A count taken before the base (a concurrent scrape) must not go negative.
  return total - std::min(total, owner->second.base);
}

std::string MetricsCollector::render() const {
  std::vector<MetricFamily> families;
  add_dns_families(sources_.workers, families);

  if (sources_.publisher != nullptr) {
    const std::shared_ptr<const Snapshot> snapshot = sources_.publisher->current();
    MetricFamily answers = family("rotor_array_answers_total",
                                  "A and AAAA queries answered from each instance array.",
                                  MetricType::Counter);
    MetricFamily panic = family("rotor_array_panic",
                                "1 while the array is in panic mode: fewer than min_healthy of "
                                "its enabled instances are healthy, so every enabled one is answered.",
                                MetricType::Gauge);
    MetricFamily generation = family("rotor_snapshot_generation",
                                     "Generation of the snapshot the workers answer from.",
                                     MetricType::Gauge);
    if (snapshot != nullptr) {
      std::map<std::string, const arrays::ArrayState*> by_name;  // a stable order
      const auto all = snapshot->arrays->all();
      for (const auto& array : all) by_name.emplace(array->name_text, array.get());
      for (const auto& [name, array] : by_name) {
        add_counter(answers, {{"array", name}}, array_answers(array->slot, name));
        add_gauge(panic, {{"array", name}}, array->panic ? 1 : 0);
      }
      add_gauge(generation, {}, static_cast<double>(snapshot->generation));
    }
    families.push_back(std::move(answers));
    families.push_back(std::move(panic));
    families.push_back(std::move(generation));
  }
  if (sources_.composer != nullptr) add_publish_family(*sources_.composer, families);
  if (sources_.registry != nullptr) {
    add_instance_families(*sources_.registry, families);
    add_store_families(sources_.registry->store_status(), families);
  }
  if (sources_.prober_stats) add_probe_families(sources_.prober_stats(), families);
  if (sources_.instance_check_counts && sources_.registry != nullptr) {
    add_instance_check_families(*sources_.registry, sources_.instance_check_counts(), families);
  }
  if (sources_.cluster_health) add_cluster_families(sources_.cluster_health(), families);
  if (sources_.reloads) add_reload_families(sources_.reloads(), families);
  if (sources_.signatures) add_signature_families(sources_.signatures(), families);

  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace rotor::metrics
