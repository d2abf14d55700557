// What instance arrays cost at scale, measured through the real registry,
// composer, publisher and transport: time to register N arrays of M instances
// (one apply_config_arrays call: one transaction), time to load them again
// (Registry::open: what a restart costs), resident memory once loaded, and the
// delay from a health flip to the first UDP answer that no longer carries the
// instance. Before that, one array of --selection-instances (default the
// maximum) alone: its rebuild time, its memory and the selection cost per
// query for each policy. First of all, what slow start and a fallback add to
// an answer: answer_query on a plain array, one mid slow start and one
// answered from its fallback, with their ratios to plain. Prints numbers
// only; it never passes or fails on them.
//
// Usage: rotor_arrays_bench [--arrays N] [--instances M] [--flips K]
//                           [--publish-interval-ms MS] [--selection-instances N]
//                           [--feature-instances N] [--feature-queries Q] [--features-only]

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "server/arrays/array.h"
#include "server/arrays/array_state.h"
#include "server/arrays/selector.h"
#include "server/geo/geo.h"
#include "server/net/worker_pool.h"
#include "server/query/responder.h"
#include "server/registry/registry.h"
#include "server/registry/sqlite_store.h"
#include "server/registry/snapshot_composer.h"
#include "server/snapshot/publisher.h"
#include "zones/zone.h"
#include "tests/bench/bench_names.h"

namespace {

using rotor::bench::array_name;
using rotor::bench::instance_address;
using rotor::bench::kZone;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace arrays = rotor::arrays;
namespace registry = rotor::registry;

// A directory under /tmp for one measurement's database, removed with it.
struct ScratchDir {
  explicit ScratchDir(const std::string& prefix) {
    std::string name = prefix + "-XXXXXX";
    if (::mkdtemp(name.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = name;
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::filesystem::path path;
};

double elapsed_ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since).count();
}

// VmRSS of this process in MiB, or -1 when /proc says nothing.
double rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

std::vector<registry::SyntheticZoneSpec> bench_zones() {
  return {{kZone, {{std::string("ns1.") + kZone, {"127.0.0.1"}}}}};
}

// Registers every array in one apply_config_arrays call and returns its
// duration in ms. Runs in a child process so that the parent's resident
// memory afterwards is that of a load alone.
double register_arrays(const std::string& db, size_t array_count, size_t instance_count) {
  rotor::SnapshotPublisher publisher(std::make_shared<const rotor::Snapshot>());
  registry::SnapshotComposer composer(publisher, {.publish_interval = 0ms});
  auto reg = registry::Registry::open(std::make_unique<registry::SqliteStore>(db), composer);
  reg->set_synthetic_zones(bench_zones());
  std::vector<registry::ConfigArray> config(array_count);
  for (size_t a = 0; a < array_count; ++a) {
    config[a].name = array_name(a);
    config[a].instances.resize(instance_count);
    for (size_t i = 0; i < instance_count; ++i) {
      config[a].instances[i].address = instance_address(i + 1);
    }
  }
  const Clock::time_point start = Clock::now();
  reg->apply_config_arrays(config);
  return elapsed_ms(start);
}

double register_in_child(const std::string& db, size_t array_count, size_t instance_count) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    ::close(pipe_fds[0]);
    int code = 0;
    double ms = -1;
    try {
      ms = register_arrays(db, array_count, instance_count);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "register: %s\n", error.what());
      code = 1;
    }
    [[maybe_unused]] ssize_t written = ::write(pipe_fds[1], &ms, sizeof ms);
    ::_exit(code);
  }
  ::close(pipe_fds[1]);
  double ms = -1;
  const ssize_t got = ::read(pipe_fds[0], &ms, sizeof ms);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (got != sizeof ms || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("registering the arrays failed");
  }
  return ms;
}

// A UDP socket connected to the server, asking one question again and again.
class UdpClient {
 public:
  explicit UdpClient(const sockaddr_storage& server) {
    fd_ = ::socket(server.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<const sockaddr*>(&server),
                             server.ss_family == AF_INET ? sizeof(sockaddr_in)
                                                         : sizeof(sockaddr_in6)) != 0) {
      throw std::runtime_error("cannot connect the UDP client");
    }
  }
  ~UdpClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  UdpClient(const UdpClient&) = delete;
  UdpClient& operator=(const UdpClient&) = delete;

  // The A RDATAs of the answer to `name` A, or nullopt on timeout/garbage.
  std::optional<std::vector<uint32_t>> ask_a(const std::string& name) {
    std::vector<uint8_t> query = {0, 0, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    ++id_;
    query[0] = static_cast<uint8_t>(id_ >> 8);
    query[1] = static_cast<uint8_t>(id_);
    size_t label_start = 0;
    for (size_t i = 0; i <= name.size(); ++i) {
      if (i == name.size() || name[i] == '.') {
        if (i > label_start) {
          query.push_back(static_cast<uint8_t>(i - label_start));
          query.insert(query.end(), name.begin() + label_start, name.begin() + i);
        }
        label_start = i + 1;
      }
    }
    query.insert(query.end(), {0, 0, 1, 0, 1});  // root, type A, class IN
    if (::send(fd_, query.data(), query.size(), 0) != static_cast<ssize_t>(query.size())) {
      return std::nullopt;
    }
    const Clock::time_point deadline = Clock::now() + 1s;
    uint8_t reply[4096];
    while (Clock::now() < deadline) {
      pollfd waiting{fd_, POLLIN, 0};
      if (::poll(&waiting, 1, 100) <= 0) continue;
      const ssize_t length = ::recv(fd_, reply, sizeof reply, 0);
      if (length < 12) continue;
      if ((reply[0] << 8 | reply[1]) != id_) continue;  // a late reply to an earlier query
      return parse_a_answers(reply, static_cast<size_t>(length));
    }
    return std::nullopt;
  }

 private:
  // Skips a (possibly compressed) name; returns the offset after it or 0.
  static size_t skip_name(const uint8_t* message, size_t length, size_t at) {
    while (at < length) {
      const uint8_t label = message[at];
      if (label == 0) return at + 1;
      if ((label & 0xC0) == 0xC0) return at + 2;
      at += 1 + label;
    }
    return 0;
  }

  static std::optional<std::vector<uint32_t>> parse_a_answers(const uint8_t* message,
                                                              size_t length) {
    const unsigned questions = message[4] << 8 | message[5];
    const unsigned answers = message[6] << 8 | message[7];
    size_t at = 12;
    for (unsigned q = 0; q < questions; ++q) {
      at = skip_name(message, length, at);
      if (at == 0 || at + 4 > length) return std::nullopt;
      at += 4;
    }
    std::vector<uint32_t> found;
    for (unsigned a = 0; a < answers; ++a) {
      at = skip_name(message, length, at);
      if (at == 0 || at + 10 > length) return std::nullopt;
      const unsigned type = message[at] << 8 | message[at + 1];
      const size_t rdlength = message[at + 8] << 8 | message[at + 9];
      at += 10;
      if (at + rdlength > length) return std::nullopt;
      if (type == 1 && rdlength == 4) {
        found.push_back(uint32_t{message[at]} << 24 | uint32_t{message[at + 1]} << 16 |
                        uint32_t{message[at + 2]} << 8 | message[at + 3]);
      }
      at += rdlength;
    }
    return found;
  }

  int fd_ = -1;
  uint16_t id_ = 0;
};

uint32_t as_u32(const arrays::IpAddress& address) {
  return uint32_t{address.bytes[0]} << 24 | uint32_t{address.bytes[1]} << 16 |
         uint32_t{address.bytes[2]} << 8 | address.bytes[3];
}

bool answers_contain(UdpClient& client, const std::string& name, uint32_t address) {
  const auto answer = client.ask_a(name);
  if (!answer) throw std::runtime_error("no answer for " + name);
  return std::find(answer->begin(), answer->end(), address) != answer->end();
}

// Polls until the answer to `name` carries `address` exactly when `present`;
// returns the elapsed ms, or -1 after two seconds.
double wait_for(UdpClient& client, const std::string& name, uint32_t address, bool present,
                Clock::time_point since) {
  while (Clock::now() - since < 2s) {
    if (answers_contain(client, name, address) == present) return elapsed_ms(since);
  }
  return -1;
}

// What one array of `count` instances costs on its own, without the network:
// rebuilding its ArrayState (every health flip or change does it), the
// memory it takes, and the selection per query for each policy (max_answers
// 0, the default: as many as the reply holds), for the room of a UDP reply
// of 1232 bytes (74 A records) and of a TCP reply of 64 KiB (4096).
// Instances have varied weights and four regions.
size_t family_bytes(const arrays::FamilyCandidates& family) {
  size_t bytes = family.instances.capacity() * sizeof(arrays::AnswerInstance) +
                 (family.weighted_leads.capacity() + family.by_region.capacity()) * sizeof(uint16_t);
  for (const auto& group : family.regions) {
    bytes += sizeof group + group.weighted_leads.capacity() * sizeof(uint16_t);
  }
  return bytes;
}

// The answer side's heap (the registry's copy of the instances aside).
size_t state_bytes(const arrays::ArrayState& state) {
  return sizeof state + state.instances.capacity() * sizeof(arrays::Instance) +
         family_bytes(state.v4) + family_bytes(state.v6);
}

void measure_selection(size_t count) {
  std::vector<arrays::Instance> instances(count);
  std::vector<rotor::geo::RegionSpec> region_specs = {
      {"eu", 50.1, 8.7, {"us"}}, {"us", 40.7, -74.0, {}}, {"ap", 1.3, 103.8, {}}, {"sa", -23.5, -46.6, {}}};
  const auto regions = rotor::geo::RegionTable::build(region_specs);
  for (size_t i = 0; i < count; ++i) {
    instances[i].id = static_cast<int64_t>(i + 1);
    instances[i].spec.address = instance_address(i + 1);
    instances[i].spec.weight = static_cast<uint16_t>(1 + (i * 37) % 1000);
    instances[i].spec.region = region_specs[i % region_specs.size()].name;
    instances[i].health = arrays::Health::up;
  }
  rotor::geo::GeoContext geo;
  geo.regions = regions;
  geo.networks = rotor::geo::NetworkTable::build({{"10.1.0.0/16", "eu"}}, *regions);
  const auto scratch = std::make_unique<arrays::SelectionScratch>();
  std::printf("\nselection: one array of %zu instances (weights 1..1000, 4 regions), no network\n",
              count);
  std::printf("%-12s %12s %18s %18s %12s\n", "policy", "rebuild ms", "select ns/q UDP", "select ns/q TCP",
              "state KiB");
  for (const auto policy : {arrays::Policy::round_robin, arrays::Policy::weighted,
                            arrays::Policy::geo, arrays::Policy::sticky}) {
    arrays::ArraySettings settings;
    settings.policy = policy;
    settings.max_answers = 0;
    Clock::time_point start = Clock::now();
    const auto state = arrays::ArrayState::build(*rotor::zones::name_from_text("big.bench.test."), 0,
                                                 settings, instances, *regions);
    const double rebuild_ms = elapsed_ms(start);
    const double state_kib = static_cast<double>(state_bytes(*state)) / 1024.0;
    rotor::geo::ClientAddress client;
    client.family = 4;
    client.prefix = 24;
    client.bytes[0] = 10;
    client.bytes[1] = 1;
    double select_ns[2] = {};
    const size_t rooms[2] = {74, 4096};
    for (size_t r = 0; r < 2; ++r) {
      uint32_t rotation = 0;
      size_t answered = 0;
      constexpr size_t kQueries = 5000;
      start = Clock::now();
      for (size_t q = 0; q < kQueries; ++q) {
        client.bytes[2] = static_cast<uint8_t>(q);  // sticky: a different client each time
        answered +=
            arrays::select_instances(*state, 4, geo, client, rotation, *scratch, rooms[r]).count;
      }
      select_ns[r] = elapsed_ms(start) * 1e6 / kQueries;
      if (answered == 0) throw std::runtime_error("selection answered nothing");
    }
    std::printf("%-12s %12.1f %18.0f %18.0f %12.0f\n",
                std::string(arrays::to_string(policy)).c_str(), rebuild_ms, select_ns[0],
                select_ns[1], state_kib);
  }
  std::printf("(scratch per worker: %zu KiB, sized by kMaxInstancesPerArray = %zu)\n",
              sizeof(arrays::SelectionScratch) / 1024, arrays::kMaxInstancesPerArray);
}

// What replacing the instances of one array of `count` costs through the
// registry and its SQLite store (PUT /v1/arrays/NAME/instances): the whole
// set once, then the same set with one weight changed. The registry carries
// slow-start ramps from the old list to the new on every replace and every
// array adopted from the store (the etcd watch, each change of one
// instance), which was a scan per instance: 8,192^2 comparisons.
void measure_replacement(size_t count) {
  const ScratchDir scratch_dir("/tmp/rotor-arrays-bench-replace");
  const std::filesystem::path& dir = scratch_dir.path;
  rotor::SnapshotPublisher publisher(std::make_shared<const rotor::Snapshot>());
  registry::SnapshotComposer composer(publisher, {.publish_interval = 0ms});
  auto reg = registry::Registry::open(
      std::make_unique<registry::SqliteStore>((dir / "rotor.db").string()), composer);
  reg->set_synthetic_zones(bench_zones());
  const std::string name = std::string("replaced.") + kZone;
  reg->upsert_array(name, arrays::ArraySettings{});
  std::vector<arrays::InstanceSpec> specs(count);
  for (size_t i = 0; i < count; ++i) specs[i].address = instance_address(i + 1);
  Clock::time_point start = Clock::now();
  reg->replace_instances(name, specs);
  const double first_ms = elapsed_ms(start);
  specs[count / 2].weight = 200;
  start = Clock::now();
  const auto replaced = reg->replace_instances(name, specs);
  const double again_ms = elapsed_ms(start);
  if (replaced.size() != count) throw std::runtime_error("the replace lost instances");
  std::printf("\nreplace: one array of %zu instances through the registry (SQLite), ms\n", count);
  std::printf("%-34s %14.1f\n", "every instance new", first_ms);
  std::printf("%-34s %14.1f\n", "one weight changed", again_ms);
}

// ---- what slow start and fallback cost per query ----

// An A query for `name` with id `id`.
std::vector<uint8_t> a_query(const std::string& name, uint16_t id) {
  std::vector<uint8_t> query = {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (i > label_start) {
        query.push_back(static_cast<uint8_t>(i - label_start));
        query.insert(query.end(), name.begin() + label_start, name.begin() + i);
      }
      label_start = i + 1;
    }
  }
  query.insert(query.end(), {0, 0, 1, 0, 1});  // root, type A, class IN
  return query;
}

// ns per answer_query of `query` on `snapshot` over `count` calls; throws
// unless the answer is NOERROR with `records` A records.
double answer_ns(const rotor::Snapshot& snapshot, const std::vector<uint8_t>& query, size_t count,
                 unsigned records) {
  rotor::WorkerState state;
  rotor::prepare_worker_state(snapshot, state);
  std::vector<uint8_t> out(rotor::kReplyBufferSize);
  const size_t length = rotor::answer_query(snapshot, query, rotor::ClientInfo{}, out, state);
  if (length < 12 || (out[3] & 0x0f) != 0 || static_cast<unsigned>(out[6] << 8 | out[7]) != records) {
    throw std::runtime_error("a feature-cost query got an unexpected answer");
  }
  size_t bytes = 0;
  const Clock::time_point start = Clock::now();
  for (size_t i = 0; i < count; ++i) {
    bytes += rotor::answer_query(snapshot, query, rotor::ClientInfo{}, out, state);
  }
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  if (bytes == 0) throw std::runtime_error("no answers");
  return ns / static_cast<double>(count);
}

// Per policy, three arrays of `instances` instances through the real
// registry (an injected clock, so the ramp stands still mid-way): plain, all
// up; mid slow start, one instance 30 s into a 60 s ramp; and one whose
// instances are all down, answered from its fallback (the plain array's
// twin). The query path (answer_query, with max_answers 1 so that every
// reply carries one record) timed on the published snapshot, the best of
// `rounds` rounds, each round starting with another array.
void measure_feature_costs(size_t instances, size_t queries, size_t rounds) {
  const ScratchDir scratch_dir("/tmp/rotor-arrays-bench-features");
  const std::filesystem::path& dir = scratch_dir.path;
  std::atomic<int64_t> clock{1'000'000'000};
  rotor::SnapshotPublisher publisher(std::make_shared<const rotor::Snapshot>());
  registry::SnapshotComposer composer(publisher, {.publish_interval = 0ms});
  auto reg = registry::Registry::open(std::make_unique<registry::SqliteStore>((dir / "rotor.db").string()),
                                      composer, {.clock = [&] { return clock.load(); }, .ramp_interval = 1h});
  reg->set_synthetic_zones(bench_zones());

  std::printf("\nfeature cost: answer_query per A query, arrays of %zu instances, max_answers 1, no network\n",
              instances);
  std::printf("%-12s %-38s %10s %10s\n", "policy", "array", "ns/q", "vs plain");
  for (const auto policy : {arrays::Policy::round_robin, arrays::Policy::weighted}) {
    const std::string prefix = std::string(arrays::to_string(policy)) + "-";
    const std::string plain = prefix + "plain." + kZone, ramp = prefix + "ramp." + kZone,
                      primary = prefix + "primary." + kZone, backup = prefix + "backup." + kZone;
    arrays::ArraySettings settings;
    settings.policy = policy;
    settings.max_answers = 1;
    std::vector<registry::HealthUpdate> health;
    const auto add_array = [&](const std::string& name, const arrays::ArraySettings& with,
                               arrays::Health state) {
      reg->upsert_array(name, with);
      for (size_t i = 0; i < instances; ++i) {
        arrays::InstanceSpec spec;
        spec.address = instance_address(i + 1);
        spec.weight = static_cast<uint16_t>(100 + 50 * (i % 3));
        health.push_back({reg->add_instance(name, spec).id, state, "bench"});
      }
    };
    add_array(plain, settings, arrays::Health::up);
    add_array(backup, settings, arrays::Health::up);
    arrays::ArraySettings ramping = settings;
    ramping.slow_start_ms = 60'000;
    add_array(ramp, ramping, arrays::Health::up);
    arrays::ArraySettings with_fallback = settings;
    with_fallback.fallback = backup;
    add_array(primary, with_fallback, arrays::Health::down);
    reg->set_health_many(health);
    // One instance of the ramp array goes down and comes back: 30 s into its 60 s ramp.
    const int64_t returning = reg->find(ramp)->instances.front().id;
    clock += 1'000;
    reg->set_health(returning, arrays::Health::down, "bench");
    clock += 1'000;
    reg->set_health(returning, arrays::Health::up, "bench");
    clock += 30'000;
    reg->advance_ramps();

    const auto snapshot = publisher.current();
    const arrays::ArrayState* ramp_state = snapshot->arrays->find(*rotor::zones::lower_name_from_text(ramp));
    if (ramp_state == nullptr || !ramp_state->v4.ramping) throw std::runtime_error("the ramp is not running");
    struct Row {
      const char* what;
      std::vector<uint8_t> query;
      double best_ns = 1e18;
    };
    std::vector<Row> rows = {{"plain", a_query(plain, 1)},
                             {"mid slow start (1 instance at 50%)", a_query(ramp, 2)},
                             {"from its fallback (primary all down)", a_query(primary, 3)}};
    for (size_t round = 0; round < rounds; ++round) {
      for (size_t k = 0; k < rows.size(); ++k) {
        Row& row = rows[(round + k) % rows.size()];
        row.best_ns = std::min(row.best_ns, answer_ns(*snapshot, row.query, queries, 1));
      }
    }
    for (const Row& row : rows) {
      std::printf("%-12s %-38s %10.1f %10.2f\n", std::string(arrays::to_string(policy)).c_str(), row.what,
                  row.best_ns, row.best_ns / rows.front().best_ns);
    }
  }
  std::printf("(best of %zu rounds of %zu queries each)\n", rounds, queries);
}

struct Options {
  size_t arrays = 100000;
  size_t instances = 10;
  size_t flips = 20;
  unsigned publish_interval_ms = 0;  // the composer's batching while flipping health
  size_t selection_instances = arrays::kMaxInstancesPerArray;  // 0: skip that part
  size_t feature_instances = 8;     // per array in the feature-cost part
  size_t feature_queries = 100000;  // answer_query calls per round there (0: skip that part)
  bool features_only = false;       // the feature-cost part alone
};

int run(const Options& options) {
  if (options.instances < 2 || options.instances > arrays::kMaxInstancesPerArray) {
    throw std::invalid_argument("--instances must be between 2 and " +
                                std::to_string(arrays::kMaxInstancesPerArray));
  }
  if (options.arrays < 1) throw std::invalid_argument("--arrays must be at least 1");
  if (options.selection_instances > arrays::kMaxInstancesPerArray) {
    throw std::invalid_argument("--selection-instances must be at most " +
                                std::to_string(arrays::kMaxInstancesPerArray));
  }
  if (options.feature_instances < 1 || options.feature_instances > 1000) {
    throw std::invalid_argument("--feature-instances must be between 1 and 1000");
  }
  if (options.feature_queries > 0) {
    measure_feature_costs(options.feature_instances, options.feature_queries, 15);
  }
  if (options.features_only) return 0;
  if (options.selection_instances > 0) {
    measure_selection(options.selection_instances);
    measure_replacement(options.selection_instances);
  }

  const ScratchDir scratch_dir("/tmp/rotor-arrays-bench");
  const std::filesystem::path& dir = scratch_dir.path;
  const std::string db = (dir / "rotor.db").string();

  std::printf("arrays_bench: %zu arrays x %zu instances, database %s\n", options.arrays,
              options.instances, db.c_str());
  const double register_ms = register_in_child(db, options.arrays, options.instances);
  const double db_mib = static_cast<double>(std::filesystem::file_size(db)) / (1024.0 * 1024.0);

  const double rss_before_mib = rss_mib();
  rotor::SnapshotPublisher publisher(std::make_shared<const rotor::Snapshot>());
  registry::SnapshotComposer composer(
      publisher, {.publish_interval = std::chrono::milliseconds(options.publish_interval_ms)});
  Clock::time_point start = Clock::now();
  auto reg = registry::Registry::open(std::make_unique<registry::SqliteStore>(db), composer);
  reg->set_synthetic_zones(bench_zones());
  const double load_ms = elapsed_ms(start);
  const double rss_loaded_mib = rss_mib();

  rotor::net::NetworkOptions network;
  network.threads = 1;
  rotor::net::ListenEndpoint endpoint;
  std::string error;
  if (!rotor::net::parse_endpoint("127.0.0.1:0", endpoint, error)) {
    throw std::runtime_error(error);
  }
  network.listen.push_back(endpoint);
  rotor::net::WorkerPool pool(network, publisher);
  pool.start();
  UdpClient client(pool.bound().front().address);

  // The array in the middle: neither the first nor the last one registered.
  const std::string probed = array_name(options.arrays / 2);
  const auto array = reg->find(probed);
  if (!array) throw std::runtime_error("the registry lost " + probed);
  std::vector<registry::HealthUpdate> all_up;
  for (const arrays::Instance& instance : array->instances) {
    all_up.push_back({instance.id, arrays::Health::up, "bench"});
  }
  reg->set_health_many(all_up);

  std::vector<double> down_ms;
  std::vector<double> up_ms;
  for (size_t flip = 0; flip < options.flips; ++flip) {
    const arrays::Instance& instance = array->instances[flip % array->instances.size()];
    const uint32_t address = as_u32(instance.spec.address);
    if (wait_for(client, probed, address, true, Clock::now()) < 0) {
      throw std::runtime_error("instance " + instance.spec.address.to_string() + " never answered");
    }
    start = Clock::now();
    reg->set_health(instance.id, arrays::Health::down, "bench");
    down_ms.push_back(wait_for(client, probed, address, false, start));
    start = Clock::now();
    reg->set_health(instance.id, arrays::Health::up, "bench");
    up_ms.push_back(wait_for(client, probed, address, true, start));
  }
  pool.stop();

  auto percentile = [](std::vector<double> values, double p) {
    if (values.empty()) return -1.0;
    std::sort(values.begin(), values.end());
    return values[static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5)];
  };
  const size_t total = options.arrays * options.instances;
  std::printf("\n%-34s %14s\n", "measure", "value");
  std::printf("%-34s %14.0f\n", "register (1 transaction), ms", register_ms);
  std::printf("%-34s %14.1f\n", "register, us per instance", register_ms * 1000.0 / total);
  std::printf("%-34s %14.1f\n", "database size, MiB", db_mib);
  std::printf("%-34s %14.0f\n", "load (open + zones), ms", load_ms);
  std::printf("%-34s %14.1f\n", "load, us per instance", load_ms * 1000.0 / total);
  std::printf("%-34s %14.1f\n", "RSS before load, MiB", rss_before_mib);
  std::printf("%-34s %14.1f\n", "RSS after load, MiB", rss_loaded_mib);
  const double loaded_bytes = (rss_loaded_mib - rss_before_mib) * 1024 * 1024;
  std::printf("%-34s %14.0f\n", "RSS per array (load delta), bytes",
              loaded_bytes / static_cast<double>(options.arrays));
  std::printf("%-34s %14.2f\n", "health down -> answer, p50 ms", percentile(down_ms, 0.5));
  std::printf("%-34s %14.2f\n", "health down -> answer, max ms", percentile(down_ms, 1.0));
  std::printf("%-34s %14.2f\n", "health up -> answer, p50 ms", percentile(up_ms, 0.5));
  std::printf("%-34s %14.2f\n", "health up -> answer, max ms", percentile(up_ms, 1.0));
  std::printf("(%zu flips of %s, publish_interval %ums; -1: no change within 2 s)\n",
              options.flips, probed.c_str(), options.publish_interval_ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app("rotor instance-array benchmark: registration, load, memory, health-to-answer");
  app.add_option("--arrays", options.arrays, "arrays to register")->capture_default_str();
  app.add_option("--instances", options.instances, "instances per array")->capture_default_str();
  app.add_option("--flips", options.flips, "health flips to time")->capture_default_str();
  app.add_option("--publish-interval-ms", options.publish_interval_ms,
                 "snapshot batching while flipping health (rotor's default is 50)")
      ->capture_default_str();
  app.add_option("--selection-instances", options.selection_instances,
                 "instances of the one array whose rebuild and selection are timed (0: skip)")
      ->capture_default_str();
  app.add_option("--feature-instances", options.feature_instances,
                 "instances per array where slow start and fallback are costed")
      ->capture_default_str();
  app.add_option("--feature-queries", options.feature_queries,
                 "answer_query calls per round there (0: skip that part)")
      ->capture_default_str();
  app.add_flag("--features-only", options.features_only, "only the slow start and fallback costs");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  try {
    return run(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "arrays_bench: %s\n", error.what());
    return 1;
  }
}
