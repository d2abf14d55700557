// What signing array answers costs the snapshot builder (issue 17), on one
// thread, per array shape (policy, instances n, max_answers k):
// - the answer sets signed per array state (arrays/signed_answers.h: one set,
//   n rotation windows, C(n, k) subsets, or n ring windows over the budget);
// - the time from a health change to the array's new signed state
//   (ArrayState::build + dnssec::sign_array), cold (the new sets are signed)
//   and after a flap back (every set is a cache hit).
// - through the snapshot composer (publish_interval 0, so it publishes in
//   this thread): the first publish of --arrays signed arrays, and the wall
//   time from a health change on one of them (put_array) to the new signed
//   snapshot being published.
// Times are the thread's CPU time unless marked wall. Prints numbers only; it
// never passes or fails on them.
//
// Usage: rotor_array_signing_bench [--rounds N] [--arrays N]

#include <time.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>

#include "server/arrays/array_state.h"
#include "server/arrays/array_table.h"
#include "server/arrays/signed_answers.h"
#include "server/dnssec/array_signer.h"
#include "server/dnssec/online_signing.h"
#include "server/registry/snapshot_composer.h"
#include "server/dnssec/signature_cache.h"
#include "server/dnssec/signer.h"
#include "server/dnssec/signing_key.h"
#include "server/geo/geo.h"
#include "zones/zone.h"
#include "zones/zone_file.h"

namespace {

using namespace rotor;

double cpu_now() {
  timespec spec{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec);
  return static_cast<double>(spec.tv_sec) + static_cast<double>(spec.tv_nsec) * 1e-9;
}

constexpr int64_t kNow = 1796000000;

struct Shape {
  const char* what;
  arrays::Policy policy;
  int instances;
  uint16_t max_answers;
};

std::vector<arrays::Instance> instances(int count, int down) {
  std::vector<arrays::Instance> out;
  for (int i = 0; i < count; ++i) {
    arrays::Instance instance;
    instance.id = i + 1;
    instance.spec.address = *IpAddress::parse("10.0." + std::to_string(i / 250) + "." +
                                              std::to_string(i % 250 + 1));
    instance.health = i < down ? arrays::Health::down : arrays::Health::up;
    out.push_back(instance);
  }
  return out;
}

// A small zone rotor signs online (build_signed_zone), as the composer gets it.
std::shared_ptr<const zones::Zone> online_signed_zone() {
  const auto path = std::filesystem::temp_directory_path() /
                    ("rotor-array-signing-bench-" + std::to_string(::getpid()) + ".zone");
  {
    std::ofstream file(path);
    file << "example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n"
            "example.test. 3600 IN NS ns.example.test.\n"
            "ns.example.test. 3600 IN A 192.0.2.53\n";
  }
  auto source = zones::load_zone_file(path.string(), "example.test.");
  std::filesystem::remove(path);
  dnssec::ZoneKeys keys;
  keys.keys.push_back(dnssec::SigningKey::generate("example.test.", 13, kNow, 0));
  return dnssec::build_signed_zone(source, std::move(keys), "keys",
                                   std::make_shared<dnssec::SharedSignatureCache>())
      .zone;
}

// The composer's side: a first publish of `count` arrays, then health changes.
void composer_bench(int count, int rounds, const geo::RegionTable& regions) {
  SnapshotPublisher publisher(std::make_shared<Snapshot>());
  registry::SnapshotComposer composer(publisher, {.publish_interval = std::chrono::milliseconds(0)});
  arrays::ArraySettings settings;
  settings.max_answers = 2;
  auto table = std::make_shared<const arrays::ArrayTable>();
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) {
    names.push_back(*zones::name_from_text("a" + std::to_string(i) + ".example.test."));
    table = table->with(arrays::ArrayState::build(names.back(), static_cast<uint32_t>(i), settings,
                                                  instances(8, 0), regions));
  }
  composer.set_arrays(table);
  zones::ZoneSet zones;
  zones.add(online_signed_zone());
  auto wall = std::chrono::steady_clock::now();
  composer.set_base(std::move(zones), {});
  const double first = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  std::printf("composer: first publish of %d arrays (round_robin 8, cap 2): %.1f ms wall, "
              "%llu answer sets and NSECs\n",
              count, first * 1e3,
              static_cast<unsigned long long>(composer.array_signing_stats().rrsets));
  double change = 0;
  for (int round = 0; round < rounds; ++round) {
    const std::string& name = names[static_cast<size_t>(round) % names.size()];
    wall = std::chrono::steady_clock::now();
    composer.put_array(arrays::ArrayState::build(name, static_cast<uint32_t>(round), settings,
                                                 instances(8, 1), regions));
    change += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  }
  std::printf("composer: health change to signed snapshot published: %.3f ms wall (mean of %d)\n",
              change / rounds * 1e3, rounds);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rotor_array_signing_bench"};
  int rounds = 3;
  app.add_option("--rounds", rounds, "health changes measured per shape");
  int array_count = 1000;
  app.add_option("--arrays", array_count, "signed arrays in the composer's snapshot");
  CLI11_PARSE(app, argc, argv);

  const auto zone = zones::load_zone_file(std::string(ROTOR_TEST_DATA) + "/query/example.test.zone",
                                          "example.test.");
  const auto regions = geo::RegionTable::build({});
  const auto key = dnssec::SigningKey::generate("example.test.", 13, kNow, 0);
  const dnssec::RrsetSigner signer([] { return kNow; });
  dnssec::SignatureCache cache(size_t{256} << 20);
  const dnssec::SignRrset sign = [&](std::string_view owner, const zones::RRset& rrset) {
    auto rrsig = cache.signature(signer, key, owner, rrset, kNow);
    return rrsig ? std::optional<std::string>(std::move(rrsig->rdata)) : std::nullopt;
  };

  const Shape shapes[] = {
      {"round_robin, no cap", arrays::Policy::round_robin, 8, 0},
      {"round_robin, cap 2", arrays::Policy::round_robin, 8, 2},
      {"weighted, cap 4", arrays::Policy::weighted, 32, 4},
      {"sticky, cap 3 (C(10,3) = 120)", arrays::Policy::sticky, 10, 3},
      {"sticky, cap 5 (C(10,5) = 252)", arrays::Policy::sticky, 10, 5},
      {"geo, cap 6 (C(12,6) = 924: ring)", arrays::Policy::geo, 12, 6},
      {"sticky, cap 8 of 200 (ring)", arrays::Policy::sticky, 200, 8},
  };
  std::printf("%-36s %8s %8s %12s %12s\n", "array", "sets", "signed", "change ms", "flap ms");
  int serial = 0;
  for (const Shape& shape : shapes) {
    arrays::ArraySettings settings;
    settings.policy = shape.policy;
    settings.max_answers = shape.max_answers;
    const std::string name =
        *zones::name_from_text("array" + std::to_string(serial++) + ".example.test.");
    double change = 0, flap = 0;
    size_t sets = 0, made = 0;
    for (int round = 0; round < rounds; ++round) {
      // A new instance goes down (cold), then comes back (a flap: cache hits).
      for (const int down : {round + 1, 0}) {
        const uint64_t before = cache.stats().misses + cache.stats().refreshes;
        const double start = cpu_now();
        auto state = arrays::ArrayState::build(name, 0, settings, instances(shape.instances, down),
                                               *regions);
        auto table = std::make_shared<const arrays::ArrayTable>()->with(state);
        dnssec::ArraySigningStats stats;
        auto signatures = dnssec::sign_array(*state, *table, *zone, sign, stats);
        const double spent = cpu_now() - start;
        (down == 0 && round > 0 ? flap : change) += spent;
        if (down != 0) {
          sets += stats.rrsets;
          made += cache.stats().misses + cache.stats().refreshes - before;
        }
      }
    }
    std::printf("%-36s %8.1f %8.1f %12.3f %12.3f\n", shape.what, double(sets) / rounds,
                double(made) / rounds, change / (rounds + 1) * 1e3,
                rounds > 1 ? flap / (rounds - 1) * 1e3 : 0.0);
  }
  std::printf("cache: %zu entries, %zu bytes\n", cache.stats().entries, cache.stats().bytes);
  composer_bench(array_count, std::max(rounds, 1), *regions);
  return 0;
}
