// What online signing will cost (issue 17), on one thread:
// - signatures per second for algorithm 13 (ECDSA P-256) and 15 (Ed25519),
//   over array-like A RRsets of --records records, through RrsetSigner
//   (ldns_sign_public, canonical form included);
// - the signature cache at --entries entries: the memory its budget counts,
//   the process's RSS growth while filling it, and the cost of a hit, both
//   with the canonical RRset built per lookup (what a caller with a rotated
//   answer pays) and with it prebuilt (the table lookup alone);
// - from these, how long pre-signing every array answer set of a snapshot
//   of --entries sets would take;
// - the memory the signed answers of --entries arrays take in a snapshot;
// - what a signed answer costs on the query path: answer_query (parse,
//   lookup, encoding; no network) per kind of answer on a zone and on the
//   same zone signed (ECDSA P-256, NSEC), with and without DO, at steady
//   state (best of --answer-rounds rounds of --answer-queries calls, the rows
//   rotating which goes first), with the ratio of signed-with-DO to unsigned
//   against the goal of at most 1.3.
// Times are the thread's CPU time. Prints numbers only; it never passes or fails on them.
//
// Usage: rotor_dnssec_bench [--signatures N] [--entries N] [--records N] [--lookups N]
//                           [--answer-queries Q] [--answer-rounds R] [--answers-only]

#include <time.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "server/dnssec/signature_cache.h"
#include "server/dnssec/signer.h"
#include "server/dnssec/signing_key.h"
#include "tests/bench/signed_answer_cost.h"

namespace {

using namespace rotor;
// The thread's CPU time, not the wall clock: on a shared machine other
// processes' load would otherwise be counted as ours.
struct Clock {
  using time_point = double;
  static double now() {
    timespec spec{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec);
    return static_cast<double>(spec.tv_sec) + static_cast<double>(spec.tv_nsec) * 1e-9;
  }
};

constexpr int64_t kNow = 1796000000;
const std::string kOwner("\x03web\x05" "bench\x04test\x00", 16);

double seconds_since(Clock::time_point start) { return Clock::now() - start; }

// The `index`th answer set: `records` A records drawn from 10.x.y.z.
zones::RRset answer_set(size_t index, size_t records) {
  zones::RRset rrset{1, 20, {}};
  for (size_t r = 0; r < records; ++r) {
    const uint32_t address = 0x0a000000u + static_cast<uint32_t>(index * records + r);
    std::string rdata(4, '\0');
    for (int i = 0; i < 4; ++i) rdata[static_cast<size_t>(i)] = static_cast<char>(address >> (24 - 8 * i));
    rrset.rdatas.push_back(rdata);
  }
  return rrset;
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

double signatures_per_second(int algorithm, size_t count, size_t records) {
  const dnssec::SigningKey key =
      dnssec::SigningKey::generate("bench.test", algorithm, kNow, kNow);
  const dnssec::RrsetSigner signer([] { return kNow; });
  std::vector<zones::RRset> sets;
  for (size_t i = 0; i < count; ++i) sets.push_back(answer_set(i, records));
  size_t made = 0;
  const auto start = Clock::now();
  for (const zones::RRset& rrset : sets) made += signer.sign(kOwner, rrset, key).has_value();
  const double elapsed = seconds_since(start);
  if (made != count) std::printf("  (%zu of %zu signatures failed)\n", count - made, count);
  return static_cast<double>(count) / elapsed;
}

void cache_figures(size_t entries, size_t records, size_t lookups) {
  const dnssec::SigningKey key =
      dnssec::SigningKey::generate("bench.test", dnssec::kEcdsaP256Sha256, kNow, kNow);
  const dnssec::RrsetSigner signer([] { return kNow; });
  // One real signature, stored under every answer set: filling the cache
  // needs no signing, and the RDATA has a real signature's size.
  const dnssec::Rrsig signature = *signer.sign(kOwner, answer_set(0, records), key);
  std::vector<zones::RRset> sets;
  for (size_t i = 0; i < entries; ++i) sets.push_back(answer_set(i, records));
  std::vector<std::string> canonical;
  for (const zones::RRset& rrset : sets) canonical.push_back(dnssec::canonical_rrset(kOwner, rrset));

  const long rss_before = rss_kib();
  dnssec::SignatureCache cache(size_t{1} << 40);
  for (const std::string& bytes : canonical) cache.store(key.tag(), bytes, signature);
  const long rss_after = rss_kib();
  std::printf("cache of %zu entries (%zu A records each, RRSIG RDATA %zu B):\n", entries, records,
              signature.rdata.size());
  std::printf("  budget counts %.1f MiB (%zu B an entry); RSS grew %.1f MiB\n",
              static_cast<double>(cache.stats().bytes) / (1 << 20),
              dnssec::SignatureCache::entry_bytes(canonical[0].size(), signature.rdata.size()),
              static_cast<double>(rss_after - rss_before) / 1024);

  // Lookups in a scattered order, so that the table is not walked in the
  // order it was filled.
  size_t hits = 0;
  auto start = Clock::now();
  for (size_t i = 0; i < lookups; ++i) {
    const size_t at = (i * 7919) % entries;
    hits += cache.find(key.tag(), canonical[at], kNow) != nullptr;
  }
  const double find_ns = seconds_since(start) * 1e9 / static_cast<double>(lookups);
  start = Clock::now();
  for (size_t i = 0; i < lookups; ++i) {
    const size_t at = (i * 7919) % entries;
    hits += cache.find(key.tag(), dnssec::canonical_rrset(kOwner, sets[at]), kNow) != nullptr;
  }
  const double build_find_ns = seconds_since(start) * 1e9 / static_cast<double>(lookups);
  std::printf("  hit, canonical RRset prebuilt: %.0f ns; built per lookup: %.0f ns (%zu hits)\n",
              find_ns, build_find_ns, hits);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rotor_dnssec_bench: signing and signature cache costs"};
  size_t signatures = 2000;
  size_t entries = 100000;
  size_t records = 8;
  size_t lookups = 1000000;
  bench::AnswerCostOptions answers;
  bool answers_only = false;
  app.add_option("--signatures", signatures, "Signatures per algorithm (default 2000)");
  app.add_option("--entries", entries, "Cache entries, one per answer set (default 100000)");
  app.add_option("--records", records, "A records in each RRset (default 8)");
  app.add_option("--lookups", lookups, "Cache lookups timed (default 1000000)");
  app.add_option("--answer-queries", answers.queries, "answer_query calls per row and round (default 200000)");
  app.add_option("--answer-rounds", answers.rounds, "rounds of the answer_query part; the best counts (default 15)");
  app.add_flag("--answers-only", answers_only, "only the answer_query part");
  app.add_option("--answer-only", answers.only,
                 "only the answer rows whose text contains this, with their baselines (for callgrind)");
  CLI11_PARSE(app, argc, argv);

  if (answers_only) return bench::print_signed_answer_costs(answers);
  std::printf("signing %zu RRsets of %zu A records, one thread:\n", signatures, records);
  double p256 = 0;
  for (int algorithm : {dnssec::kEcdsaP256Sha256, dnssec::kEd25519}) {
    const double rate = signatures_per_second(algorithm, signatures, records);
    if (algorithm == dnssec::kEcdsaP256Sha256) p256 = rate;
    std::printf("  algorithm %2d: %.0f signatures/s (%.1f us each)\n", algorithm, rate, 1e6 / rate);
  }
  cache_figures(entries, records, lookups);
  std::printf("pre-signing %zu answer sets with algorithm 13 on one thread: %.1f s\n", entries,
              static_cast<double>(entries) / p256);
  bench::print_array_signature_memory(entries);
  std::printf("\n");
  return bench::print_signed_answer_costs(answers);
}
