// What running rotor as a cluster on etcd costs (issue 14), measured in one
// run against a real three-member etcd on 127.0.0.1 (tests/support/
// etcd_cluster.h; every member is killed by PID at exit):
//   1. initial sync: N arrays x M instances written into etcd through one
//      node's Registry (apply_config_arrays: the registry packs them into
//      transactions of at most 60 writes), then a fresh node (an empty cache)
//      in a child process syncs them: time to synced, to the first snapshot
//      that holds everything, and the memory it took (VmHWM, VmRSS). The same
//      node restarted from its cache, with etcd up and with etcd killed.
//   2. change -> served on every node: K weight changes written through node
//      A; the time until nodes B and C publish a snapshot that holds each.
//   3. write latency: the same update_instance committed through etcd and
//      through a single node's SqliteStore.
//   4. the DNS answer: ns per answer_query on the snapshots of A, of B and
//      of a single node with the same arrays.
// Prints numbers only; it never passes or fails on them (not in ctest).
// tests/bench/README.md ("Cluster") explains each number.
//
// Usage: rotor_cluster_bench [--arrays N] [--instances M] [--changes K]
//                            [--queries Q] [--sync-only]

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "server/arrays/array.h"
#include "server/arrays/array_state.h"
#include "server/arrays/array_table.h"
#include "server/cluster/etcd_client.h"
#include "server/cluster/etcd_store.h"
#include "server/query/responder.h"
#include "server/registry/registry.h"
#include "server/registry/snapshot_composer.h"
#include "server/registry/sqlite_store.h"
#include "server/snapshot/publisher.h"
#include "tests/support/etcd_cluster.h"
#include "zones/zone.h"
#include "tests/bench/bench_names.h"

extern char** environ;

namespace {

using rotor::bench::array_name;
using rotor::bench::instance_address;
using rotor::bench::kZone;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace arrays = rotor::arrays;
namespace cluster = rotor::cluster;
namespace registry = rotor::registry;
using rotor::Snapshot;
using rotor::SnapshotPublisher;

constexpr auto kPublishInterval = 20ms;  // rotor's default publish_interval

struct Options {
  size_t arrays = 10000;
  size_t instances = 10;
  size_t changes = 200;
  size_t queries = 2000000;
  bool sync_only = false;  // part 1 only
  // Child mode (internal): one node syncing in its own process.
  std::string child;  // "fresh", "cache" or "offline"
  std::string cache;
  std::string endpoints;
};

std::vector<registry::ConfigArray> config_arrays(size_t first, size_t last, size_t instances) {
  std::vector<registry::ConfigArray> config(last - first);
  for (size_t a = first; a < last; ++a) {
    config[a - first].name = array_name(a);
    config[a - first].instances.resize(instances);
    for (size_t i = 0; i < instances; ++i) {
      config[a - first].instances[i].address = instance_address(i + 1);
    }
  }
  return config;
}

std::vector<registry::SyntheticZoneSpec> bench_zones() {
  return {{kZone, {{std::string("ns1.") + kZone, {"127.0.0.1"}}}}};
}

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}
double elapsed_ms(Clock::time_point since) { return ms_between(since, Clock::now()); }

// A field of /proc/self/status in MiB (VmRSS, VmHWM), or -1.
double status_mib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  return -1;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return -1;
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5)];
}

// Wakes a waiting thread whenever any of the publishers it is attached to
// publishes (the subscriber runs under the publisher's lock: it only counts).
class PublishSignal {
 public:
  void attach(SnapshotPublisher& publisher) {
    publisher.subscribe([this] {
      {
        std::lock_guard lock(mutex_);
        ++published_;
      }
      changed_.notify_all();
    });
  }
  uint64_t published() {
    std::lock_guard lock(mutex_);
    return published_;
  }
  // Returns once a publish after `seen` happened, or after `limit`.
  void wait_after(uint64_t seen, Clock::duration limit) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, limit, [&] { return published_ != seen; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t published_ = 0;
};

std::unique_ptr<cluster::EtcdStore> etcd_store(const cluster::EtcdOptions& client, const std::string& cache,
                                               const std::string& node) {
  return std::make_unique<cluster::EtcdStore>(
      std::make_shared<cluster::EtcdClient>(client),
      cluster::EtcdStoreOptions{.prefix = cluster::testing::EtcdCluster::kPrefix, .node = node, .cache_path = cache});
}

// A node as rotor serve assembles it: store, registry, composer (rotor's
// default batching) and publisher; serve_zone() declares bench.test.
struct Node {
  explicit Node(std::unique_ptr<registry::Store> store, PublishSignal* signal = nullptr)
      : publisher(std::make_shared<const Snapshot>()), composer(publisher, {.publish_interval = kPublishInterval}) {
    if (signal != nullptr) signal->attach(publisher);
    registry = registry::Registry::open(std::move(store), composer);
  }
  // A cluster node declares its zones only once synced: a node that has not
  // read the zone's serial yet tries to create it, loses to the stored one
  // and throws when its read takes longer than the store's catch-up wait
  // (2 s), which a fresh node's first read of a large prefix does.
  void serve_zone() { registry->set_synthetic_zones(bench_zones()); }
  SnapshotPublisher publisher;
  registry::SnapshotComposer composer;
  std::unique_ptr<registry::Registry> registry;
};

// Cluster nodes on empty caches, syncing together; returned once all are
// synced and serve the zone.
std::vector<std::unique_ptr<Node>> synced_nodes(const cluster::EtcdOptions& client,
                                                const std::filesystem::path& dir,
                                                const std::vector<std::string>& names, PublishSignal& signal) {
  std::vector<std::unique_ptr<Node>> nodes;
  std::vector<cluster::EtcdStore*> stores;
  for (const std::string& name : names) {
    auto store = etcd_store(client, (dir / (name + ".db")).string(), name);
    stores.push_back(store.get());
    nodes.push_back(std::make_unique<Node>(std::move(store), &signal));
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!stores[i]->wait_synced(std::chrono::hours(2))) throw std::runtime_error("node " + names[i] + " never synced");
    nodes[i]->serve_zone();
  }
  return nodes;
}

// True when the snapshot serves all `array_count` arrays with every instance.
bool holds_everything(const Snapshot& snapshot, size_t array_count, size_t instance_count) {
  if (snapshot.arrays->size() != array_count) return false;
  for (size_t a = 0; a < array_count; a += std::max<size_t>(1, array_count / 1000)) {
    const arrays::ArrayState* state = snapshot.arrays->find(*rotor::zones::lower_name_from_text(array_name(a)));
    if (state == nullptr || state->instances.size() != instance_count) return false;
  }
  const arrays::ArrayState* last = snapshot.arrays->find(*rotor::zones::lower_name_from_text(array_name(array_count - 1)));
  return last != nullptr && last->instances.size() == instance_count;
}

// Waits until `node` publishes a snapshot holding everything; the time it
// was seen, or nullopt after `limit`.
std::optional<Clock::time_point> wait_for_everything(Node& node, PublishSignal& signal, size_t array_count,
                                                     size_t instance_count, Clock::duration limit) {
  const Clock::time_point deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    const uint64_t seen = signal.published();
    if (holds_everything(*node.publisher.current(), array_count, instance_count)) return Clock::now();
    signal.wait_after(seen, 50ms);
  }
  return std::nullopt;
}

// ---- part 1, in the child process: one node syncing, alone in its memory ----

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, separator);) parts.push_back(part);
  return parts;
}

// Prints "synced_ms snapshot_ms base_mib hwm_mib rss_mib" (-1: not reached).
int run_child(const Options& options) {
  spdlog::set_level(spdlog::level::off);  // with etcd killed the store logs every retry
  const double base_mib = status_mib("VmRSS");
  cluster::EtcdOptions client;
  client.endpoints = split(options.endpoints, ',');
  client.connect_timeout = 1000ms;
  client.request_timeout = 5000ms;
  const bool offline = options.child == "offline";
  const Clock::duration limit = offline ? Clock::duration(60s) : Clock::duration(2h);

  const Clock::time_point start = Clock::now();
  PublishSignal signal;
  auto store = etcd_store(client, options.cache, "sync");
  cluster::EtcdStore& syncing = *store;
  Node node(std::move(store), &signal);
  std::optional<Clock::time_point> everything;
  std::thread watcher(
      [&] { everything = wait_for_everything(node, signal, options.arrays, options.instances, limit); });
  double synced_ms = -1;
  if (!offline && syncing.wait_synced(std::chrono::duration_cast<std::chrono::milliseconds>(limit))) {
    synced_ms = elapsed_ms(start);
    node.serve_zone();  // see Node::serve_zone
  }
  watcher.join();
  const double snapshot_ms = everything ? ms_between(start, *everything) : -1;
  std::printf("%.1f %.1f %.1f %.1f %.1f\n", synced_ms, snapshot_ms, base_mib, status_mib("VmHWM"),
              status_mib("VmRSS"));
  return 0;
}

struct SyncResult {
  double synced_ms = -1;
  double snapshot_ms = -1;
  double base_mib = -1;
  double hwm_mib = -1;
  double rss_mib = -1;
};

// Runs this program again as a child node (mode "fresh", "cache" or
// "offline") and reads its line.
SyncResult sync_in_child(const Options& options, const std::string& mode, const std::string& cache,
                         const std::vector<std::string>& endpoints) {
  std::string joined;
  for (const auto& endpoint : endpoints) joined += (joined.empty() ? "" : ",") + endpoint;
  const std::vector<std::string> args{"rotor_cluster_bench", "--child", mode, "--cache", cache, "--endpoints", joined,
                                      "--arrays", std::to_string(options.arrays), "--instances",
                                      std::to_string(options.instances)};
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  pid_t child = -1;
  const int spawned = posix_spawn(&child, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (spawned != 0) {
    ::close(pipe_fds[0]);
    throw std::runtime_error("cannot start the child node");
  }
  std::string output;
  char buffer[256];
  for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) output.append(buffer, size_t(got));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  SyncResult result;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      std::sscanf(output.c_str(), "%lf %lf %lf %lf %lf", &result.synced_ms, &result.snapshot_ms, &result.base_mib,
                  &result.hwm_mib, &result.rss_mib) != 5) {
    throw std::runtime_error("the " + mode + " child node failed (wait status " + std::to_string(status) +
                             "): " + output);
  }
  return result;
}

// ---- part 2 and 3: changes through node A ----

struct ChangeTimes {
  std::vector<double> commit_ms;  // the registry call, committed through etcd
  std::vector<double> b_ms;       // from the call's start until B serves it
  std::vector<double> c_ms;
  std::vector<double> every_ms;   // the later of B and C
};

// The instance `id` of `array` has `weight` in the snapshot.
bool serves_weight(const Snapshot& snapshot, const std::string& wire, int64_t id, uint16_t weight) {
  const arrays::ArrayState* state = snapshot.arrays->find(wire);
  if (state == nullptr) return false;
  for (const arrays::Instance& instance : state->instances) {
    if (instance.id == id) return instance.spec.weight == weight;
  }
  return false;
}

// Flips the weight of the first instance of `changes` arrays spread over
// all of them (100 <-> 101) and times each write.
std::vector<double> flip_weights(Node& node, size_t array_count, size_t changes,
                                 const std::function<void(const std::string&, int64_t, uint16_t,
                                                          Clock::time_point)>& after_write = {}) {
  std::vector<double> commit_ms;
  for (size_t change = 0; change < changes; ++change) {
    const std::string name = array_name((change * 7919) % array_count);
    arrays::Instance instance = node.registry->find(name)->instances.front();
    instance.spec.weight = instance.spec.weight == 100 ? 101 : 100;
    const Clock::time_point start = Clock::now();
    node.registry->update_instance(name, instance.id, instance.spec);
    commit_ms.push_back(elapsed_ms(start));
    if (after_write) after_write(name, instance.id, instance.spec.weight, start);
  }
  return commit_ms;
}

ChangeTimes changes_through_a(Node& a, Node& b, Node& c, PublishSignal& signal, const Options& options) {
  ChangeTimes times;
  times.commit_ms = flip_weights(
      a, options.arrays, options.changes,
      [&](const std::string& name, int64_t id, uint16_t weight, Clock::time_point start) {
        const std::string wire = *rotor::zones::lower_name_from_text(name);
        std::optional<double> on_b, on_c;
        const Clock::time_point deadline = Clock::now() + 10s;
        while ((!on_b || !on_c) && Clock::now() < deadline) {
          const uint64_t seen = signal.published();
          if (!on_b && serves_weight(*b.publisher.current(), wire, id, weight)) on_b = elapsed_ms(start);
          if (!on_c && serves_weight(*c.publisher.current(), wire, id, weight)) on_c = elapsed_ms(start);
          if (!on_b || !on_c) signal.wait_after(seen, 50ms);
        }
        if (!on_b || !on_c) throw std::runtime_error("a change through A did not reach B and C in 10 s");
        // Each change alone: the next one past every composer's batching window.
        std::this_thread::sleep_for(2 * kPublishInterval);
        times.b_ms.push_back(*on_b);
        times.c_ms.push_back(*on_c);
        times.every_ms.push_back(std::max(*on_b, *on_c));
      });
  return times;
}

// ---- part 4: the query path ----

std::vector<uint8_t> a_query(const std::string& name, uint16_t id) {
  std::vector<uint8_t> query = {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  for (const std::string& label : split(name, '.')) {
    if (label.empty()) continue;
    query.push_back(static_cast<uint8_t>(label.size()));
    query.insert(query.end(), label.begin(), label.end());
  }
  query.insert(query.end(), {0, 0, 1, 0, 1});  // root, type A, class IN
  return query;
}

// ns per answer_query over `count` queries cycling through `queries`; throws
// unless the first answers are NOERROR with records.
double ns_per_query(const Snapshot& snapshot, const std::vector<std::vector<uint8_t>>& queries, size_t count) {
  rotor::WorkerState state;
  rotor::prepare_worker_state(snapshot, state);
  std::vector<uint8_t> out(rotor::kReplyBufferSize);
  for (const auto& query : queries) {
    const size_t length = rotor::answer_query(snapshot, query, rotor::ClientInfo{}, out, state);
    if (length < 12 || (out[3] & 0x0f) != 0 || (out[6] << 8 | out[7]) == 0) {
      throw std::runtime_error("a benchmark query got no answer");
    }
  }
  size_t bytes = 0;
  const Clock::time_point start = Clock::now();
  for (size_t i = 0; i < count; ++i) {
    bytes += rotor::answer_query(snapshot, queries[i % queries.size()], rotor::ClientInfo{}, out, state);
  }
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  if (bytes == 0) throw std::runtime_error("no answers");
  return ns / static_cast<double>(count);
}

// ns per query on each snapshot: the best of four rounds, each round
// starting with another snapshot.
std::vector<double> query_cost(const std::vector<const Snapshot*>& snapshots, const Options& options) {
  std::vector<std::vector<uint8_t>> queries;
  const size_t distinct = std::min<size_t>(options.arrays, 4096);
  for (size_t q = 0; q < distinct; ++q) {
    queries.push_back(a_query(array_name(q * options.arrays / distinct), static_cast<uint16_t>(q)));
  }
  std::vector<double> best(snapshots.size(), 1e18);
  for (size_t round = 0; round < 4; ++round) {
    for (size_t k = 0; k < snapshots.size(); ++k) {
      const size_t which = (round + k) % snapshots.size();
      best[which] = std::min(best[which], ns_per_query(*snapshots[which], queries, options.queries));
    }
  }
  return best;
}

// ---- the run ----

void row(const char* measure, double value, const char* format = "%14.1f") {
  std::printf("%-58s ", measure);
  std::printf(format, value);
  std::printf("\n");
}

void load_arrays(Node& writer, const Options& options) {
  constexpr size_t kChunk = 1000;  // arrays per apply_config_arrays call (progress only)
  const Clock::time_point start = Clock::now();
  for (size_t first = 0; first < options.arrays; first += kChunk) {
    const size_t last = std::min(options.arrays, first + kChunk);
    writer.registry->apply_config_arrays(config_arrays(first, last, options.instances));
    const double seconds = elapsed_ms(start) / 1000.0;
    std::fprintf(stderr, "  written %zu/%zu arrays, %.0f s, %.0f arrays/s\n", last, options.arrays, seconds,
                 static_cast<double>(last) / seconds);
  }
}

struct NodeResults {
  ChangeTimes times;
  std::vector<double> sqlite_ms;
  std::vector<double> query_ns;  // A, B, the single node
};

// Parts 2, 3 and 4: nodes B and C join A; changes through A; a single node
// with the same arrays; the query path on the snapshots.
NodeResults changes_and_queries(Node& a, const cluster::EtcdOptions& client, const std::filesystem::path& dir,
                                PublishSignal& signal, const Options& options) {
  // 2 and 3. Nodes B and C join; changes through A.
  std::fprintf(stderr, "nodes B and C sync; %zu changes through A\n", options.changes);
  const auto nodes_bc = synced_nodes(client, dir, {"b", "c"}, signal);
  Node& b = *nodes_bc[0];
  Node& c = *nodes_bc[1];
  for (Node* node : {&a, &b, &c}) {
    if (!wait_for_everything(*node, signal, options.arrays, options.instances, 1h)) {
      throw std::runtime_error("a node never served everything");
    }
  }
  NodeResults results;
  results.times = changes_through_a(a, b, c, signal, options);

  std::fprintf(stderr, "a single node (SqliteStore) with the same arrays\n");
  Node single(std::make_unique<registry::SqliteStore>((dir / "single.db").string()), &signal);
  single.serve_zone();
  single.registry->apply_config_arrays(config_arrays(0, options.arrays, options.instances));
  if (!wait_for_everything(single, signal, options.arrays, options.instances, 1h)) {
    throw std::runtime_error("the single node never served everything");
  }
  results.sqlite_ms = flip_weights(single, options.arrays, options.changes);

  // 4. The query path on both snapshots (the writes above are all served by now).
  std::fprintf(stderr, "answer_query on the snapshots of A, B and the single node\n");
  const auto a_snapshot = a.publisher.current();
  const auto b_snapshot = b.publisher.current();
  const auto single_snapshot = single.publisher.current();
  results.query_ns = query_cost({a_snapshot.get(), b_snapshot.get(), single_snapshot.get()}, options);

  return results;
}

void print_node_results(const NodeResults& results, const Options& options) {
  const ChangeTimes& times = results.times;
  std::printf("-- 2. change through A -> served by B and C (%zu changes)\n", options.changes);
  const std::pair<const char*, const std::vector<double>*> served[] = {
      {"B", &times.b_ms}, {"C", &times.c_ms}, {"B and C", &times.every_ms}};
  const std::pair<const char*, double> ranks[] = {{"p50", 0.5}, {"p99", 0.99}, {"max", 1.0}};
  for (const auto& [label, values] : served) {
    for (const auto& [name, p] : ranks) {
      const std::string measure = std::string("served by ") + label + ", " + name + " ms";
      row(measure.c_str(), percentile(*values, p), "%14.2f");
    }
  }
  std::printf("-- 3. update_instance committed (%zu writes each)\n", options.changes);
  row("etcd (3 members), p50 ms", percentile(times.commit_ms, 0.5), "%14.2f");
  row("etcd (3 members), p99 ms", percentile(times.commit_ms, 0.99), "%14.2f");
  row("SqliteStore, p50 ms", percentile(results.sqlite_ms, 0.5), "%14.2f");
  row("SqliteStore, p99 ms", percentile(results.sqlite_ms, 0.99), "%14.2f");
  row("etcd / SqliteStore, p50", percentile(times.commit_ms, 0.5) / percentile(results.sqlite_ms, 0.5), "%14.2f");
  std::printf("-- 4. answer_query, A queries over %zu arrays (best of 4 x %zu)\n", std::min<size_t>(options.arrays, 4096),
              options.queries);
  row("cluster node A (the writer), ns/query", results.query_ns[0]);
  row("cluster node B (synced from etcd), ns/query", results.query_ns[1]);
  row("single node (SqliteStore), ns/query", results.query_ns[2]);
  row("cluster B / single", results.query_ns[1] / results.query_ns[2], "%14.3f");
  row("cluster A / single", results.query_ns[0] / results.query_ns[2], "%14.3f");
}

int run(const Options& options) {
  if (options.instances < 2 || options.instances > 250) throw std::invalid_argument("--instances: 2 to 250");
  if (options.arrays < 1 || options.changes < 1) throw std::invalid_argument("--arrays and --changes: at least 1");
  spdlog::set_level(spdlog::level::warn);
  const size_t total = options.arrays * options.instances;
  std::printf("cluster_bench: %zu arrays x %zu instances, %zu changes, 3-member etcd on 127.0.0.1\n", options.arrays,
              options.instances, options.changes);
  std::fflush(stdout);

  cluster::testing::EtcdCluster etcd({.members = 3});
  const std::filesystem::path dir = etcd.directory();  // removed with the cluster
  const cluster::EtcdOptions client = etcd.client_options();

  // 1. The load, through node A's registry.
  PublishSignal signal;
  const auto node_a = synced_nodes(client, dir, {"a"}, signal);
  Node& a = *node_a.front();
  std::fprintf(stderr, "writing the arrays into etcd through node A\n");
  Clock::time_point start = Clock::now();
  load_arrays(a, options);
  const double load_ms = elapsed_ms(start);
  cluster::EtcdOptions patient = client;
  patient.request_timeout = 120s;  // a compaction of a large history takes seconds
  cluster::EtcdClient admin(patient);
  const int64_t loaded_revision = admin.range(cluster::testing::EtcdCluster::kPrefix).revision;
  admin.compact(loaded_revision);  // as etcd's auto-compaction would: only the live keys stay

  std::fprintf(stderr, "a fresh node syncs (child process)\n");
  const std::string cache = (dir / "sync.db").string();
  const SyncResult fresh = sync_in_child(options, "fresh", cache, etcd.endpoints());
  const double cache_mib = static_cast<double>(std::filesystem::file_size(cache)) / (1024.0 * 1024.0);
  std::fprintf(stderr, "the node restarts from its cache, etcd up\n");
  const SyncResult warm = sync_in_child(options, "cache", cache, etcd.endpoints());

  std::optional<NodeResults> results;
  if (!options.sync_only) results = changes_and_queries(a, client, dir, signal, options);

  // 1, last: every etcd member killed, the node restarts from its cache.
  std::fprintf(stderr, "every etcd member killed; the node restarts from its cache\n");
  spdlog::set_level(spdlog::level::err);  // nodes A, B and C would log that etcd is gone
  for (int member = 0; member < etcd.members(); ++member) etcd.kill(member);
  const SyncResult offline = sync_in_child(options, "offline", cache, etcd.endpoints());

  std::printf("\n%-58s %14s\n", "measure", "value");
  std::printf("-- 1. initial sync (%zu instances)\n", total);
  row("load through node A's registry, s", load_ms / 1000.0);
  row("load rate, arrays/s", static_cast<double>(options.arrays) * 1000.0 / load_ms, "%14.0f");
  row("fresh node: synced, s", fresh.synced_ms / 1000.0, "%14.2f");
  row("fresh node: first snapshot holding everything, s", fresh.snapshot_ms / 1000.0, "%14.2f");
  row("fresh node: sync rate, instances/s", static_cast<double>(total) * 1000.0 / fresh.snapshot_ms, "%14.0f");
  row("fresh node: RSS at start, MiB", fresh.base_mib);
  row("fresh node: peak RSS (VmHWM), MiB", fresh.hwm_mib);
  row("fresh node: RSS once synced, MiB", fresh.rss_mib);
  row("fresh node: RSS added per instance, bytes", (fresh.rss_mib - fresh.base_mib) * 1048576.0 / double(total),
      "%14.0f");
  row("cache file (SQLite), MiB", cache_mib);
  row("restart from cache, etcd up: first full snapshot, s", warm.snapshot_ms / 1000.0, "%14.2f");
  row("restart from cache, etcd up: synced, s", warm.synced_ms / 1000.0, "%14.2f");
  row("restart from cache, etcd killed: first full snapshot, s", offline.snapshot_ms / 1000.0, "%14.2f");
  if (results) print_node_results(*results, options);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app("rotor cluster benchmark: initial sync, change propagation, write latency, answer cost");
  app.add_option("--arrays", options.arrays, "arrays to load into etcd")->capture_default_str();
  app.add_option("--instances", options.instances, "instances per array")->capture_default_str();
  app.add_option("--changes", options.changes, "weight changes written through node A")->capture_default_str();
  app.add_option("--queries", options.queries, "answer_query calls per round")->capture_default_str();
  app.add_flag("--sync-only", options.sync_only, "only part 1 (load, sync, restarts): one node in memory, not four");
  app.add_option("--child", options.child, "internal: run as the syncing node (fresh, cache, offline)")
      ->group("");
  app.add_option("--cache", options.cache, "internal: the child's cache file")->group("");
  app.add_option("--endpoints", options.endpoints, "internal: the child's etcd endpoints")->group("");
  CLI11_PARSE(app, argc, argv);
  try {
    return options.child.empty() ? run(options) : run_child(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cluster_bench: %s\n", error.what());
    return 1;
  }
}
