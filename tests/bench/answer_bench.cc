// What one answer costs on the query path, per kind of answer: answer_query
// (parse, zone lookup, encoding with name compression; no network) on a
// static zone like tests/bench/bench.sh's bench.test, for NXDOMAIN answers
// (the SOA's three names), positive answers, and answers with many names to
// compress. Per row it prints ns per answer (best of --rounds rounds of
// --queries calls, the rounds rotating which row goes first), the reply's size
// and a hash of its bytes, so two builds can be compared for speed and for
// byte-identical output. The rows marked "arrays" answer from the same zone
// with --arrays instance arrays at a<i>.pool.bench.test. (a name the zone does
// not have, which they make exist): what looking for the names above arrays
// adds to an NXDOMAIN, and the NODATA there. The rows marked "udp" ask over
// UDP from 127.0.0.1 without EDNS, as bench.sh's dnsperf does, of bench.sh's
// own zone and array web.bench.test. (8 IPv4 and 8 IPv6 instances, 5 of each
// up, round robin). The row marked "cut zone" asks the same array in the
// first zone, which has a delegation elsewhere (deleg.bench.test.): what an
// array answer costs in a zone with a cut. The CNAME row follows an alias
// whose target is written in mixed case (the chain lowers it). With --serve the same queries go
// through the whole UDP thread's round instead (UdpResponder::serve_once over
// a socket on 127.0.0.1, --batch datagrams a round, no thread): what
// callgrind counts of it is rotor's user-space work per datagram around
// answer_query (the batch's headers, clock, snapshot check, sendmmsg's
// messages). Prints numbers only; it never passes or fails on them.
//
// Usage: rotor_answer_bench [--queries Q] [--rounds R] [--arrays N] [--only TEXT]
//                           [--serve] [--batch B]
// (--only: just the rows whose label contains TEXT, or is TEXT with "=TEXT",
// e.g. for callgrind).

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "server/arrays/array_state.h"
#include "server/arrays/zone_cuts.h"
#include "server/geo/geo.h"
#include "server/net/socket.h"
#include "server/net/udp_responder.h"
#include "server/query/responder.h"
#include "server/snapshot/snapshot.h"
#include "zones/zone_file.h"

namespace {

using Clock = std::chrono::steady_clock;

// bench.sh's common zone, plus names whose answers hold many names: 20 MX
// targets in other domains (each a new suffix to remember) and 8 in-zone NS.
std::string zone_text() {
  std::string text =
      "$ORIGIN bench.test.\n$TTL 3600\n"
      "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
      "  IN NS ns1\n  IN MX 10 mail\n"
      "ns1 IN A 192.0.2.1\nmail IN A 192.0.2.25\nwww IN A 192.0.2.10\n";
  for (int i = 1; i <= 10; ++i) text += "host" + std::to_string(i) + " IN A 198.51.100." + std::to_string(i) + "\n";
  for (int i = 1; i <= 20; ++i) {
    text += "mx IN MX " + std::to_string(i) + " mail" + std::to_string(i) + ".provider" +
            std::to_string(i) + ".example.\n";
  }
  for (int i = 1; i <= 8; ++i) {
    text += "deleg IN NS ns" + std::to_string(i) + ".deleg\n";
    text += "ns" + std::to_string(i) + ".deleg IN A 192.0.2." + std::to_string(100 + i) + "\n";
  }
  return text;
}

// A query for `name` (presentation form) of type `qtype`, with EDNS (4096) when `edns`.
std::vector<uint8_t> make_query(const std::string& name, uint16_t qtype, bool edns) {
  std::vector<uint8_t> query = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, static_cast<uint8_t>(edns)};
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
  query.insert(query.end(), {0, static_cast<uint8_t>(qtype >> 8), static_cast<uint8_t>(qtype), 0, 1});
  if (edns) query.insert(query.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
  return query;
}

// The snapshot a row is answered from.
enum class From : uint8_t {
  zone,         // zone_text()
  arrays,       // zone_text() with --arrays arrays at a<i>.pool.bench.test.
  udp,          // bench.sh's zone and array web.bench.test.
  cut_zone,     // zone_text() (a delegation at deleg.bench.test.) with web.bench.test.
  alias,        // zone_text() with alias.bench.test. CNAME WwW.bench.test.
};

struct Row {
  const char* what;
  std::vector<uint8_t> query;
  unsigned rcode;
  From from = From::zone;
  // Asked over UDP from 127.0.0.1 (else TCP: nothing is cut).
  bool udp = false;
  double best_ns = std::numeric_limits<double>::infinity();
  size_t reply_size = 0;
  uint32_t reply_hash = 0;
};

uint32_t fnv1a(const uint8_t* bytes, size_t size) {
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 16777619u;
  return hash;
}

// ns per answer_query of `row.query` over `count` calls; checks the rcode first.
double answer_ns(const rotor::Snapshot& snapshot, Row& row, size_t count) {
  rotor::WorkerState state;
  rotor::prepare_worker_state(snapshot, state);
  std::vector<uint8_t> out(rotor::kReplyBufferSize);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  from.sin_port = htons(5300);
  const rotor::ClientInfo client =
      row.udp ? rotor::ClientInfo{reinterpret_cast<const sockaddr*>(&from), rotor::Transport::udp}
              : rotor::ClientInfo{nullptr, rotor::Transport::tcp};
  const size_t length = rotor::answer_query(snapshot, row.query, client, out, state);
  if (length < 12 || (out[3] & 0x0fu) != row.rcode) {
    throw std::runtime_error(std::string("unexpected answer for: ") + row.what);
  }
  row.reply_size = length;
  // Round robin changes the order from call to call: the hash is of the
  // first reply of a fresh worker state, the same in every build.
  if (row.reply_hash == 0) row.reply_hash = fnv1a(out.data(), length);
  size_t bytes = 0;
  const Clock::time_point start = Clock::now();
  for (size_t i = 0; i < count; ++i) {
    bytes += rotor::answer_query(snapshot, row.query, client, out, state);
  }
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  if (bytes != length * count) throw std::runtime_error("answers changed between calls");
  return ns / static_cast<double>(count);
}

// bench.sh's rotor zone (its common_zone) with its array web.bench.test.:
// what the udp rows answer from, as rotor does in bench.sh's workloads.
std::string bench_sh_zone_text() {
  std::string text =
      "$ORIGIN bench.test.\n$TTL 3600\n"
      "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
      "  IN NS ns1\n  IN MX 10 mail\n"
      "ns1 IN A 192.0.2.1\nmail IN A 192.0.2.25\nwww IN A 192.0.2.10\n";
  for (int i = 1; i <= 10; ++i) text += "host" + std::to_string(i) + " IN A 198.51.100." + std::to_string(i) + "\n";
  return text + "txt IN TXT \"v=spf1 -all\"\n";
}

std::shared_ptr<rotor::Snapshot> bench_snapshot(const std::string& text = zone_text()) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("rotor_answer_bench." + std::to_string(getpid()));
  std::ofstream(path) << text;
  auto snapshot = std::make_shared<rotor::Snapshot>();
  snapshot->geo.regions = rotor::geo::RegionTable::build({});
  snapshot->geo.networks = rotor::geo::NetworkTable::build({}, *snapshot->geo.regions);
  try {
    snapshot->zones.add(rotor::zones::load_zone_file(path.string(), "bench.test."));
  } catch (...) {
    std::filesystem::remove(path);
    throw;
  }
  std::filesystem::remove(path);
  return snapshot;
}

// bench.sh's array: web.bench.test., 8 IPv4 and 8 IPv6 instances, the first
// 5 of each up, round robin, TTL 30 (degraded 10); `slot` its rotation slot.
std::shared_ptr<const rotor::arrays::ArrayState> web_array(const rotor::geo::RegionTable& regions,
                                                           uint32_t slot) {
  std::vector<rotor::arrays::Instance> instances;
  for (int i = 1; i <= 8; ++i) {
    for (const std::string& address :
         {"192.0.2." + std::to_string(200 + i), "2001:db8::" + std::to_string(200 + i)}) {
      rotor::arrays::Instance instance;
      instance.id = static_cast<int64_t>(instances.size() + 1);
      instance.spec.address = *rotor::arrays::IpAddress::parse(address);
      instance.health = i <= 5 ? rotor::arrays::Health::up : rotor::arrays::Health::down;
      instances.push_back(std::move(instance));
    }
  }
  rotor::arrays::ArraySettings settings;
  settings.ttl = 30;
  settings.degraded_ttl = 10;
  settings.policy = rotor::arrays::Policy::round_robin;
  return rotor::arrays::ArrayState::build(*rotor::zones::name_from_text("web.bench.test."), slot,
                                          settings, std::move(instances), regions);
}

// `base` with `count` arrays (no instances: their answers are not timed) at
// a<i>.pool.bench.test.
std::shared_ptr<rotor::Snapshot> with_arrays(const rotor::Snapshot& base, uint32_t count) {
  auto snapshot = std::make_shared<rotor::Snapshot>(base);
  for (uint32_t i = 0; i < count; ++i) {
    auto state = std::make_shared<rotor::arrays::ArrayState>();
    state->name = *rotor::zones::name_from_text("a" + std::to_string(i) + ".pool.bench.test.");
    state->slot = i;
    snapshot->arrays = snapshot->arrays->with(std::move(state));
  }
  return snapshot;
}

// --serve: `rounds` rounds of UdpResponder::serve_once, each answering
// `batch` datagrams of the rows' queries (in turn), sent from a client socket
// on 127.0.0.1 before the round; the replies are read back and counted.
// Returns ns per datagram, the whole round (system calls included).
double serve_ns(const std::shared_ptr<const rotor::Snapshot>& snapshot, const std::vector<Row>& rows,
                size_t batch, size_t rounds) {
  rotor::SnapshotPublisher publisher(snapshot);
  sockaddr_storage address{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
  v4->sin_family = AF_INET;
  v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int error = 0;
  rotor::net::UniqueFd fd = rotor::net::open_listening_socket(address, SOCK_DGRAM, error);
  if (!fd) throw std::runtime_error("cannot bind a UDP socket on 127.0.0.1");
  socklen_t length = sizeof address;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  const int server_fd = fd.get();
  rotor::net::UdpResponder responder(publisher, std::move(fd), false);
  responder.subscribe();
  rotor::net::UniqueFd client(::socket(AF_INET, SOCK_DGRAM, 0));
  if (::connect(client.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    throw std::runtime_error("cannot connect the client socket");
  }
  std::vector<uint8_t> reply(65536);
  size_t next = 0, answered = 0;
  double ns = 0;
  for (size_t round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < batch; ++i, ++next) {
      const Row& row = rows[next % rows.size()];
      if (::send(client.get(), row.query.data(), row.query.size(), 0) < 0) {
        throw std::runtime_error("send failed");
      }
    }
    // Loopback queues a datagram within send(): one recvmmsg takes them all.
    pollfd ready{server_fd, POLLIN, 0};
    if (::poll(&ready, 1, 1000) != 1) throw std::runtime_error("no query arrived");
    const Clock::time_point start = Clock::now();
    responder.serve_once();
    ns += std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    for (size_t i = 0; i < batch; ++i) {
      pollfd ready{client.get(), POLLIN, 0};
      if (::poll(&ready, 1, 1000) != 1) throw std::runtime_error("a reply is missing");
      if (::recv(client.get(), reply.data(), reply.size(), 0) > 12) ++answered;
    }
  }
  if (answered != batch * rounds) throw std::runtime_error("not every query was answered");
  return ns / static_cast<double>(batch * rounds);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"answer_query cost per kind of answer"};
  size_t queries = 200000;
  int rounds = 15;
  app.add_option("--queries", queries, "answer_query calls per row and round");
  app.add_option("--rounds", rounds, "rounds; the best one counts");
  uint32_t array_count = 1000;
  app.add_option("--arrays", array_count, "arrays in the snapshot of the rows marked arrays");
  std::string only;
  app.add_option("--only", only, "only the rows whose label contains this text (=TEXT: is it)");
  bool serve = false;
  app.add_flag("--serve", serve,
               "the udp rows' queries through UdpResponder::serve_once over 127.0.0.1, in turn");
  size_t batch = 6;
  app.add_option("--batch", batch, "--serve: datagrams a round (at most 32)")
      ->check(CLI::Range(size_t{1}, rotor::net::UdpResponder::kBatch));
  CLI11_PARSE(app, argc, argv);

  const auto snapshot = bench_snapshot();
  const auto arrays_snapshot = with_arrays(*snapshot, array_count);
  const auto udp_snapshot = bench_snapshot(bench_sh_zone_text());
  udp_snapshot->arrays = udp_snapshot->arrays->with(web_array(*udp_snapshot->geo.regions, 0));
  const auto cut_zone_snapshot = std::make_shared<rotor::Snapshot>(*snapshot);
  cut_zone_snapshot->arrays = cut_zone_snapshot->arrays->with(web_array(*snapshot->geo.regions, 0));
  // Its own zone, so that the other rows' zone stays as it was.
  const auto alias_snapshot = bench_snapshot(zone_text() + "alias IN CNAME WwW\n");
  // What the snapshot composer works out when it publishes (no array lies
  // below deleg.bench.test.).
  for (const auto& built : {arrays_snapshot, udp_snapshot, cut_zone_snapshot}) {
    built->arrays_at_zone_cuts = rotor::arrays::any_array_at_zone_cuts(built->zones, *built->arrays);
  }
  constexpr uint16_t A = 1, MX = 15, AAAA = 28;
  std::vector<Row> rows = {
      {"NXDOMAIN missing5.bench.test A", make_query("missing5.bench.test", A, false), 3},
      {"NXDOMAIN, EDNS", make_query("missing5.bench.test", A, true), 3},
      {"NXDOMAIN 8 labels a.b.c.d.e.f.bench.test", make_query("a.b.c.d.e.f.bench.test", A, false), 3},
      {"NODATA www.bench.test MX", make_query("www.bench.test", MX, false), 0},
      {"positive www.bench.test A", make_query("www.bench.test", A, false), 0},
      {"positive bench.test MX (+ additional A)", make_query("bench.test", MX, false), 0},
      {"20 MX in 20 other domains", make_query("mx.bench.test", MX, false), 0},
      {"referral: 8 NS + 8 glue", make_query("www.deleg.bench.test", A, false), 0},
      {"arrays: NXDOMAIN missing5.bench.test A", make_query("missing5.bench.test", A, false), 3, From::arrays},
      {"arrays: NXDOMAIN 8 labels", make_query("a.b.c.d.e.f.bench.test", A, false), 3, From::arrays},
      {"arrays: NODATA pool.bench.test A (above)", make_query("pool.bench.test", A, false), 0, From::arrays},
      {"arrays: NXDOMAIN x.pool.bench.test A (below)", make_query("x.pool.bench.test", A, false), 3, From::arrays},
      {"udp: array web.bench.test A (5 of 8 up)", make_query("web.bench.test", A, false), 0, From::udp, true},
      {"udp: array web.bench.test AAAA (5 of 8 up)", make_query("web.bench.test", AAAA, false), 0, From::udp, true},
      {"udp: static www.bench.test A", make_query("www.bench.test", A, false), 0, From::udp, true},
      {"udp: NXDOMAIN missing5.bench.test A", make_query("missing5.bench.test", A, false), 3, From::udp, true},
      {"udp, cut zone: array web.bench.test A", make_query("web.bench.test", A, false), 0, From::cut_zone, true},
      {"CNAME alias.bench.test A (to WwW, lowered)", make_query("alias.bench.test", A, false), 0, From::alias},
  };
  // "=TEXT": the row labelled exactly TEXT.
  std::erase_if(rows, [&](const Row& row) {
    return only.starts_with('=') ? row.what != only.substr(1)
                                 : std::string(row.what).find(only) == std::string::npos;
  });
  if (serve) {
    std::erase_if(rows, [](const Row& row) { return row.from != From::udp; });
    if (rows.empty()) throw std::runtime_error("--serve: no udp row left");
    const size_t serve_rounds = std::max<size_t>(1, queries / batch);
    const double ns = serve_ns(udp_snapshot, rows, batch, serve_rounds);
    std::printf("UdpResponder::serve_once, %zu datagrams a round, %zu rounds, these queries in turn:\n",
                batch, serve_rounds);
    for (const Row& row : rows) std::printf("  %s\n", row.what);
    std::printf("%.1f ns per datagram (system calls included)\n", ns);
    return 0;
  }
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < rows.size(); ++i) {
      Row& row = rows[(i + static_cast<size_t>(round)) % rows.size()];
      const rotor::Snapshot& from = row.from == From::udp        ? *udp_snapshot
                                    : row.from == From::arrays   ? *arrays_snapshot
                                    : row.from == From::cut_zone ? *cut_zone_snapshot
                                    : row.from == From::alias    ? *alias_snapshot
                                                                 : *snapshot;
      row.best_ns = std::min(row.best_ns, answer_ns(from, row, queries));
    }
  }
  std::printf("answer_query over TCP (no size limit; udp rows: UDP, no EDNS), no network\n");
  std::printf("%-45s %8s %6s %10s\n", "answer", "ns/q", "bytes", "reply hash");
  for (const Row& row : rows) {
    std::printf("%-45s %8.1f %6zu   %08x\n", row.what, row.best_ns, row.reply_size, row.reply_hash);
  }
  std::printf("(best of %d rounds of %zu queries each; arrays: %u)\n", rounds, queries, array_count);
  return 0;
}
