// rotor's entry point: `rotor serve`, `rotor check`, `rotor hash-token`,
// `rotor keygen`, `rotor ctl`, `rotor --version`.
// Startup errors go to stderr naming the file, line or key, and exit 1;
// command-line usage errors exit 2.

#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "server/common/cpu_affinity.h"
#include "server/common/heap_policy.h"
#include "api/api_server.h"
#include "api/bearer_auth.h"
#include "api/ctl.h"
#include "api/tls_context.h"
#include "server/app/cluster_health.h"
#include "server/app/config_loader.h"
#include "server/app/database_lock.h"
#include "server/app/log_format.h"
#include "server/app/health_monitor.h"
#include "server/app/instance_reaper.h"
#include "server/app/keygen_command.h"
#include "server/common/periodic_thread.h"
#include "server/common/utc_time.h"
#include "server/app/registry_setup.h"
#include "server/app/reloader.h"
#include "server/app/zone_loader.h"
#include "server/metrics/answer_rates.h"
#include "server/metrics/metrics.h"
#include "server/config/config.h"
#include "server/net/worker_pool.h"
#include "server/registry/registry.h"
#include "server/registry/snapshot_composer.h"
#include "server/snapshot/publisher.h"
#include "zones/zone.h"

namespace {

constexpr const char* kVersion = "rotor 0.1.0";
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Flags {
  std::string config_file;
  rotor::config::Overrides overrides;
};

void add_common_flags(CLI::App& command, Flags& flags) {
  command.add_option("--listen", flags.overrides.listen,
                     "Address to serve on, ADDR:PORT or [V6]:PORT; repeat for more. "
                     "Replaces the config file's list");
  command.add_option("--zone", flags.overrides.zones,
                     "Zone file, FILE or NAME=FILE; repeat for more. Replaces the config file's list");
  command.add_option("--nsid", flags.overrides.nsid, "NSID payload (RFC 5001) to answer with");
  command.add_option("--geoip", flags.overrides.geoip,
                     "MaxMind database (.mmdb) locating clients for the geo policy");
}

void setup_logging() {
  auto logger = spdlog::stderr_color_mt("rotor");
  rotor::app::apply_log_format(*logger, rotor::config::LogFormat::text);
  spdlog::set_default_logger(std::move(logger));
}

// Reads the config file (if any) and applies the flags. Errors in the file
// are prefixed with the file name, so "tcp.idle_timeout" is never anonymous.
rotor::config::Config load_config(const Flags& flags) {
  rotor::config::Config config;
  if (!flags.config_file.empty()) {
    try {
      config = rotor::config::load_config_file(flags.config_file);
    } catch (const rotor::config::ConfigError& error) {
      if (error.path == flags.config_file) throw;
      throw rotor::config::ConfigError(flags.config_file + ": " + error.path, error.reason);
    }
  }
  rotor::config::apply_overrides(config, flags.overrides);
  return config;
}

// `threads`, else one per cpu_affinity.workers CPU (so each has its own),
// else one per core.
unsigned effective_threads(const rotor::config::Config& config) {
  if (config.threads != 0) return config.threads;
  if (!config.cpu_affinity.workers.empty()) return static_cast<unsigned>(config.cpu_affinity.workers.size());
  return std::clamp(std::thread::hardware_concurrency(), 1u, 256u);
}

// cpu_affinity.control: the main thread takes the control CPUs before it
// creates any thread, so every thread rotor (or a library: libcurl's
// resolver, httplib's pool) starts from here on inherits them; the pool then
// moves each DNS serving thread to its own worker CPU (NetworkOptions).
void pin_control_plane(const rotor::config::Config& config) {
  const std::vector<int>& control = config.cpu_affinity.control;
  if (control.empty()) return;
  if (const int error = rotor::pin_this_thread(control); error != 0) {
    throw rotor::config::ConfigError("cpu_affinity.control", "cannot run on CPUs " +
                                                                 rotor::format_cpu_list(control) + ": " +
                                                                 std::system_category().message(error));
  }
}

rotor::net::NetworkOptions network_options(const rotor::config::Config& config) {
  rotor::net::NetworkOptions options;
  for (const std::string& text : config.listen) {
    rotor::net::ListenEndpoint endpoint;
    std::string error;
    // Already validated by the config layer; this only fills in the address.
    if (!rotor::net::parse_endpoint(text, endpoint, error)) {
      throw rotor::config::ConfigError("listen", error);
    }
    options.listen.push_back(std::move(endpoint));
  }
  options.threads = effective_threads(config);
  options.worker_cpus = config.cpu_affinity.workers;
  options.tcp_idle_timeout = config.tcp_idle_timeout;
  options.tcp_max_connections = config.tcp_max_connections;
  // Off by default: no table, nothing on the query path.
  if (config.rrl.responses_per_second != 0) {
    options.rate_limiter = std::make_shared<rotor::RateLimiter>(config.rrl);
  }
  return options;
}

// The main thread's loop: it only waits for signals.
class SignalLoop {
 public:
  explicit SignalLoop(rotor::app::Reloader& reloader) : reloader_(reloader) {
    if (int rc = uv_loop_init(&loop_); rc != 0) {
      throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
    }
    watch(hangup_, SIGHUP);
    watch(interrupt_, SIGINT);
    watch(terminate_, SIGTERM);
  }
  ~SignalLoop() {
    for (uv_signal_t* handle : {&hangup_, &interrupt_, &terminate_}) {
      uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
    }
    uv_run(&loop_, UV_RUN_DEFAULT);  // lets the close callbacks run
    uv_loop_close(&loop_);
  }
  SignalLoop(const SignalLoop&) = delete;
  SignalLoop& operator=(const SignalLoop&) = delete;

  // Returns after SIGINT or SIGTERM; SIGHUP reloads the config in between.
  void run() { uv_run(&loop_, UV_RUN_DEFAULT); }

 private:
  void watch(uv_signal_t& handle, int signal_number) {
    uv_signal_init(&loop_, &handle);
    handle.data = this;
    if (int rc = uv_signal_start(&handle, &SignalLoop::on_signal, signal_number); rc != 0) {
      throw std::runtime_error(std::string("uv_signal_start: ") + uv_strerror(rc));
    }
  }

  static void on_signal(uv_signal_t* handle, int signal_number) {
    auto* self = static_cast<SignalLoop*>(handle->data);
    if (signal_number == SIGHUP) {
      spdlog::info("SIGHUP: reloading the config");
      self->reloader_.reload({.source = "signal"});  // logs what it did or why it refused
      return;
    }
    spdlog::info("{}: stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    uv_stop(&self->loop_);
  }

  rotor::app::Reloader& reloader_;
  uv_loop_t loop_{};
  uv_signal_t hangup_{};
  uv_signal_t interrupt_{};
  uv_signal_t terminate_{};
};

void log_zones(const rotor::Snapshot& snapshot) {
  for (const auto& zone : snapshot.zones.zones()) {
    spdlog::info("zone {} serial {}: {} records", zone->origin_text(), zone->serial(),
                 zone->record_count());
    if (const auto& signer = zone->online_signer()) {
      spdlog::info("zone {} is signed by rotor with key tag {}", zone->origin_text(), signer->key_tag());
    }
  }
  for (const std::string& warning : rotor::app::encoding_warnings(snapshot)) spdlog::warn("{}", warning);
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "rotor";
  return name;
}

// The API's socket, bound early (see serve()); empty when the API is off.
rotor::api::ApiOptions api_options(const rotor::config::Config& config,
                                   std::shared_ptr<const rotor::api::TlsContext> tls) {
  return {.listen = config.api_listen,
          .token = config.api_token,
          .tokens = config.api_tokens,
          .tls = std::move(tls)};
}

std::optional<rotor::api::ApiListener> bind_api(const rotor::config::Config& config,
                                                std::shared_ptr<const rotor::api::TlsContext> tls) {
  if (!rotor::config::api_enabled(config)) return std::nullopt;
  return std::make_optional<rotor::api::ApiListener>(api_options(config, std::move(tls)));
}

// Startup runs in an order that never hurts a running server: read and check
// everything (config, zones, geo), take the database lock, bind every socket
// (DNS and API), and only then open the database and apply the config. A
// second rotor on the same database or address stops before it writes.
// The config `rotor serve` runs: the file, the flags, then the environment
// (the token and the etcd password may come from it, to stay out of the file).
// Read again by every reload.
rotor::config::Config load_serve_config(const Flags& flags) {
  rotor::config::Config config = load_config(flags);
  rotor::config::resolve_api(config, std::getenv("ROTOR_API_TOKEN"));
  rotor::config::resolve_cluster(config, host_name(), std::getenv("ROTOR_ETCD_PASSWORD"));
  return config;
}

int serve(const Flags& flags) {
  rotor::config::Config config = load_serve_config(flags);
  // First: no thread exists yet (the config is read on this one).
  pin_control_plane(config);
  rotor::app::apply_log_format(*spdlog::default_logger(), config.log_format);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  // Loaded before anything is applied, so a bad certificate changes nothing.
  std::shared_ptr<const rotor::api::TlsContext> api_tls;
  if (rotor::config::api_enabled(config) && config.api_tls.enabled()) {
    api_tls = rotor::api::TlsContext::load(config.api_tls);
  }
  if (config.zones.empty() && config.declared_zones.empty()) {
    spdlog::warn("no zones configured: every query will be REFUSED");
  }

  // Zones rotor signs take their signatures from here; reloads and re-signs
  // reuse them (server/dnssec/online_signing.h).
  const auto signatures = std::make_shared<rotor::dnssec::SharedSignatureCache>(
      config.dnssec.signature_cache_bytes, config.dnssec.denial_cache_bytes);
  rotor::zones::set_negative_answer_budget(config.dnssec.encoded_answers_bytes);
  auto snapshot = rotor::app::build_snapshot(config, 1, signatures);
  log_zones(*snapshot);
  try {
    rotor::app::check_arrays_are_served(config, snapshot->zones);
  } catch (const rotor::config::ConfigError& error) {
    if (config.file.empty()) throw;
    throw rotor::config::ConfigError(config.file + ": " + error.path, error.reason);
  }
  rotor::registry::ConfigGeo geo = rotor::app::build_geo(config);
  for (const std::string& warning : rotor::app::config_warnings(config, geo)) {
    spdlog::warn("{}", warning);
  }

  const rotor::app::DatabaseLock database_lock(rotor::app::database_path(config));
  rotor::SnapshotPublisher publisher(snapshot);
  // Zones from files, declared zones and arrays meet in the composer, which
  // publishes them as one snapshot; the registry answers from what it stored
  // before the workers take their first query.
  rotor::registry::SnapshotComposer composer(publisher, {.publish_interval = config.publish_interval});
  composer.set_base(snapshot->zones, snapshot->options);
  rotor::net::WorkerPool pool(network_options(config), publisher);
  std::optional<rotor::api::ApiListener> api_listener = bind_api(config, api_tls);

  const auto registry = rotor::app::start_registry(config, std::move(geo), composer);
  composer.flush();

  // SIGHUP and POST /v1/reload read the config again; the API's tokens are
  // swapped in once the API exists.
  std::unique_ptr<rotor::api::ApiServer> api;
  rotor::app::Reloader reloader(
      [&flags](rotor::config::Config& next) {
        return rotor::app::load_config_collecting(
            {.file = flags.config_file, .overrides = flags.overrides, .host_name = host_name()}, next);
      },
      config, snapshot,
      {.composer = composer,
       .registry = *registry,
       .apply_api_tokens = [&api](const rotor::config::Config& next) {
         if (api) api->set_tokens(next.api_token, next.api_tokens);
       },
       .signatures = signatures});
  // The zones rotor signs are signed again daily (kResignInterval), the
  // first time a day after startup, so their signatures never near expiry.
  rotor::PeriodicThread resigner;
  resigner.start([&reloader, first = true]() mutable {
    if (!first) reloader.resign();
    first = false;
    return std::chrono::milliseconds(rotor::app::kResignInterval);
  });
  // Signals are watched before the workers start, so an early SIGTERM is a clean stop.
  SignalLoop signals(reloader);
  pool.start();
  // In a cluster each node publishes its own observations and the registry's
  // health is the verdict over every node's (server/app/cluster_health.h).
  std::unique_ptr<rotor::app::ClusterHealth> cluster_health;
  if (auto* shared = dynamic_cast<rotor::cluster::EtcdStore*>(&registry->store()); shared && config.cluster) {
    cluster_health = std::make_unique<rotor::app::ClusterHealth>(*config.cluster, *registry, *shared);
  }
  // Probes run on their own threads and write health through the registry
  // (a single node) or publish it as this node's observations (a cluster).
  rotor::app::HealthMonitor health(
      *registry,
      {.threads = config.probe_threads,
       .max_in_flight = config.probe_max_in_flight,
       .source_address = config.probe_source_address},
      cluster_health ? &cluster_health->sink() : nullptr);
  if (cluster_health) {
    cluster_health->attach(health);
    cluster_health->start();
  }
  health.start();
  // remove_after: in a cluster only an instance's health recorder removes it.
  rotor::app::InstanceReaper reaper(
      *registry, {.removes = cluster_health ? std::function([&cluster_health](int64_t instance_id) {
                                                return cluster_health->records(instance_id);
                                              })
                                            : nullptr});
  reaper.start();
  // Scrapes sum the workers' own counters; nothing is shared on the query path.
  const rotor::metrics::MetricsCollector metrics(
      {.workers = pool.counters(),
       .publisher = &publisher,
       .composer = &composer,
       .registry = registry.get(),
       .prober_stats = [&health] { return health.prober_stats(); },
       .instance_check_counts = [&health] { return health.check_counts(); },
       .cluster_health = cluster_health ? std::function([&cluster_health] { return cluster_health->counts(); })
                                        : nullptr,
       .reloads = [&reloader] {
         const auto last = reloader.last();
         return rotor::metrics::ReloadCounts{.succeeded = reloader.succeeded(),
                                             .failed = reloader.failed(),
                                             .last_time_ms = last ? last->time_ms : 0,
                                             .last_ok = last ? last->ok : true};
       },
       .signatures = [&signatures] { return signatures->stats(); }});
  // Answers per second per array over the last minutes (GET /v1/rates), from
  // the same counters, sampled every 10 s on the sampler's own thread.
  rotor::metrics::AnswerRateSampler answer_rates(pool.counters(), publisher);
  answer_rates.start();
  // The API runs on httplib's threads; it reads and writes through the registry.
  if (api_listener) {
    api = std::make_unique<rotor::api::ApiServer>(
        rotor::api::ApiContext{
            .registry = *registry,
            .composer = composer,
            .publisher = publisher,
            .last_check = [&health](int64_t instance_id) { return health.last_check(instance_id); },
            .check_history = [&health](int64_t instance_id) { return health.check_history(instance_id); },
            .metrics_text = [&metrics] { return metrics.render(); },
            .answer_rates = [&answer_rates] { return answer_rates.rates(); },
            .verdict = cluster_health ? std::function([&cluster_health](int64_t instance_id) {
                                          return cluster_health->verdict(instance_id);
                                        })
                                      : nullptr,
            .node = config.cluster ? config.cluster->node : std::string("local"),
            .cluster_nodes = cluster_health ? std::function([&cluster_health] { return cluster_health->nodes(); })
                                            : nullptr,
            .reload = [&reloader](const rotor::registry::EventOrigin& origin) { return reloader.reload(origin); }},
        api_options(config, api_tls), std::move(*api_listener));
    api->start();
  }

  std::string line = "listening";
  for (const rotor::net::ListenEndpoint& endpoint : pool.bound()) line += " " + endpoint.text;
  std::printf("%s\n", line.c_str());
  if (api) std::printf("api %s\n", api->bound().c_str());
  std::fflush(stdout);
  spdlog::info("{} with {} threads", line, effective_threads(config));
  if (!config.cpu_affinity.workers.empty() || !config.cpu_affinity.control.empty()) {
    const auto cpus = [](const std::vector<int>& list) {
      return list.empty() ? std::string("not pinned") : "CPUs " + rotor::format_cpu_list(list);
    };
    spdlog::info("cpu affinity: DNS workers on {}, everything else on {}", cpus(config.cpu_affinity.workers),
                 cpus(config.cpu_affinity.control));
  }
  if (config.rrl.responses_per_second != 0) {
    spdlog::info("rate limiting: {} UDP responses per second per /{} or /{}, slip {}",
                 config.rrl.responses_per_second, unsigned{config.rrl.ipv4_prefix},
                 unsigned{config.rrl.ipv6_prefix}, config.rrl.slip);
  }
  if (api) {
    const size_t tokens = config.api_tokens.size() + (config.api_token.empty() ? 0 : 1);
    spdlog::info("api {} ({}, {} bearer tokens)", api->bound(), api_tls ? "https" : "http", tokens);
    if (!api_tls && !rotor::config::api_on_loopback(config)) {
      spdlog::warn("api {} is not a loopback address and has no api.tls: tokens and data cross the "
                   "network in clear text",
                   api->bound());
    }
  }

  signals.run();
  if (api) api->stop();
  answer_rates.stop();
  reaper.stop();
  health.stop();
  if (cluster_health) cluster_health->stop();
  pool.stop();
  spdlog::info("stopped");
  return 0;
}

// The errors `rotor check` finds in the config, each "FILE: key.path: why"
// (the flags' as "--flag: why"), as many as can be found: every key and
// element of the file; when the file parses, every zone file's errors; when
// the zones load, every array outside them or where zone data answers.
std::vector<std::string> check_errors(const Flags& flags, rotor::config::Config& config,
                                      rotor::app::SnapshotBuild& build) {
  std::vector<std::string> errors = rotor::app::load_config_collecting(
      {.file = flags.config_file, .overrides = flags.overrides}, config);
  if (!errors.empty()) return errors;
  const auto in_file = [&](const rotor::config::ConfigError& error) {
    const bool names_file = flags.config_file.empty() || error.path == flags.config_file;
    errors.push_back(names_file ? error.what() : flags.config_file + ": " + error.what());
  };
  rotor::zones::set_negative_answer_budget(config.dnssec.encoded_answers_bytes);
  build = rotor::app::try_build_snapshot(config, 1);
  errors.insert(errors.end(), build.errors.begin(), build.errors.end());  // each names its zone file
  if (build.errors.empty()) {
    for (const auto& error : rotor::app::array_serving_errors(config, build.snapshot->zones)) in_file(error);
    for (const std::string& warning : rotor::app::encoding_warnings(*build.snapshot)) {
      std::fprintf(stderr, "warning: %s\n", warning.c_str());
    }
  }
  try {
    for (const std::string& warning :
         rotor::app::config_warnings(config, rotor::app::build_geo(config))) {
      std::fprintf(stderr, "warning: %s\n", warning.c_str());
    }
  } catch (const rotor::config::ConfigError& error) {
    in_file(error);
  }
  if (rotor::config::api_enabled(config) && config.api_tls.enabled()) {
    try {
      rotor::api::TlsContext::load(config.api_tls);
    } catch (const std::exception& error) {
      errors.emplace_back(error.what());
    }
  }
  return errors;
}

int check(const Flags& flags) {
  if (flags.config_file.empty() && flags.overrides.zones.empty()) {
    std::fprintf(stderr, "rotor check: give --config FILE, --zone FILE, or both\n");
    return kExitUsage;
  }
  rotor::config::Config config;
  rotor::app::SnapshotBuild build;
  const std::vector<std::string> errors = check_errors(flags, config, build);
  if (!errors.empty()) {
    for (const std::string& error : errors) std::fprintf(stderr, "%s\n", error.c_str());
    return kExitFailure;
  }
  std::printf("ok: %zu zones, %zu records, %zu declared zones, %zu arrays\n",
              build.snapshot->zones.zones().size(), build.record_count,
              config.declared_zones.size(), config.arrays.size());
  return 0;
}

// Prints the SHA-256 of the token read from stdin, for api.tokens[].sha256.
// The token never goes on the command line, where `ps` and shell history see it.
int hash_token() {
  std::string token;
  char buffer[4096];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, stdin)) > 0) token.append(buffer, got);
  // `echo TOKEN | rotor hash-token` hashes TOKEN, not its line ending.
  if (!token.empty() && token.back() == '\n') token.pop_back();
  if (!token.empty() && token.back() == '\r') token.pop_back();
  if (token.empty()) {
    std::fprintf(stderr, "rotor hash-token: give the token on stdin\n");
    return kExitUsage;
  }
  std::printf("%s\n", rotor::api::sha256_hex(token).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  rotor::keep_freed_heap_top();
  // The CPUs the config's cpu_affinity is checked against, read before
  // anything narrows this thread's set (rotor serve pins it to the control
  // CPUs, and a reload checks the config again).
  rotor::allowed_cpus_at_startup();
  setup_logging();
  // A peer closing a TCP connection mid-write must not kill the server.
  std::signal(SIGPIPE, SIG_IGN);
  // Past a file size limit a write must fail (the API answers 503 and DNS
  // keeps serving), not kill the server.
  std::signal(SIGXFSZ, SIG_IGN);

  CLI::App app{"rotor: an authoritative DNS server"};
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(1);

  Flags serve_flags;
  CLI::App* serve_command = app.add_subcommand("serve", "Serve zones over UDP and TCP");
  serve_command->add_option("--config", serve_flags.config_file, "JSON config file")
      ->check(CLI::ExistingFile);
  add_common_flags(*serve_command, serve_flags);
  serve_command->add_option("--threads", serve_flags.overrides.threads,
                            "Worker threads, 1 to 256 (default: one per core)")
      ->check(CLI::Range(1, 256));
  serve_command->add_option("--db", serve_flags.overrides.db,
                            "SQLite file holding arrays, instances and health (default ./rotor.db); "
                            "in a cluster, the node's cache of etcd");
  serve_command->add_option("--api", serve_flags.overrides.api_listen,
                            "HTTP API address, ADDR:PORT or [V6]:PORT, or \"off\" "
                            "(default 127.0.0.1:8053)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  serve_command->add_option("--etcd", serve_flags.overrides.etcd,
                            "etcd endpoints URL[,URL...]: this node joins a cluster sharing its "
                            "data through etcd (replaces cluster.etcd.endpoints)");
  serve_command->add_option("--node", serve_flags.overrides.node,
                            "This node's name in the cluster (default: the host name)");
  serve_command->add_option("--log-level", serve_flags.overrides.log_level,
                            "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  serve_command->add_option("--log-format", serve_flags.overrides.log_format,
                            "text or json (one JSON object a line)")
      ->check(CLI::IsMember({"text", "json"}));

  Flags check_flags;
  CLI::App* check_command =
      app.add_subcommand("check", "Validate the config and load every zone, then exit");
  check_command->add_option("--config", check_flags.config_file, "JSON config file")
      ->check(CLI::ExistingFile);
  add_common_flags(*check_command, check_flags);

  CLI::App* hash_command = app.add_subcommand(
      "hash-token", "Print the SHA-256 of the API token read from stdin (for api.tokens[].sha256)");

  rotor::api::ctl::CtlCommand ctl_command(app);
  rotor::app::KeygenCommand keygen_command(app, [] { return rotor::unix_now_ms() / 1000; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : kExitUsage;
  }

  // Before the config is read, so that its errors are in the format asked for.
  if (serve_flags.overrides.log_format == "json") {
    rotor::app::apply_log_format(*spdlog::default_logger(), rotor::config::LogFormat::json);
  }

  try {
    if (hash_command->parsed()) return hash_token();
    if (ctl_command.parsed()) return ctl_command.run();
    if (keygen_command.parsed()) return keygen_command.run();
    if (serve_command->parsed()) return serve(serve_flags);
    return check(check_flags);
  } catch (const rotor::app::SnapshotError& error) {
    for (const std::string& reason : error.reasons) spdlog::error("{}", reason);
  } catch (const std::exception& error) {
    spdlog::error("{}", error.what());
  }
  return kExitFailure;
}
