#include "tests/bench/signed_answer_cost.h"

// stdbool.h first: it keeps ldns/common.h from #defining true and false.
#include <stdbool.h>
#include <ldns/ldns.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/query/responder.h"
#include "server/snapshot/snapshot.h"
#include "zones/zone_file.h"

namespace rotor::bench {
namespace {

constexpr const char* kOrigin = "bench.test.";

double thread_cpu_ns() {
  timespec spec{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec);
  return static_cast<double>(spec.tv_sec) * 1e9 + static_cast<double>(spec.tv_nsec);
}

// tests/bench/bench.sh's zone (www, host1..10, missingN for NXDOMAIN), an
// MX with its target's address for an additional section.
std::string zone_text() {
  std::string text =
      "$ORIGIN bench.test.\n$TTL 3600\n"
      "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
      "  IN NS ns1\n  IN MX 10 mail\n"
      "ns1 IN A 192.0.2.1\nmail IN A 192.0.2.25\nwww IN A 192.0.2.10\n";
  for (int i = 1; i <= 10; ++i) text += "host" + std::to_string(i) + " IN A 198.51.100." + std::to_string(i) + "\n";
  return text;
}

// `text` signed by a fresh ECDSA P-256 key (its DNSKEY added at the apex),
// NSEC, through ldns_zone_sign: the text of a pre-signed zone file.
std::string signed_zone_text(const std::string& text) {
  ldns_zone* zone = nullptr;
  FILE* in = fmemopen(const_cast<char*>(text.data()), text.size(), "r");
  if (in == nullptr) throw std::runtime_error("fmemopen failed");
  const ldns_status read = ldns_zone_new_frm_fp(&zone, in, nullptr, 3600, LDNS_RR_CLASS_IN);
  std::fclose(in);
  if (read != LDNS_STATUS_OK) throw std::runtime_error(std::string("ldns: ") + ldns_get_errorstr_by_id(read));
  ldns_key* key = ldns_key_new_frm_algorithm(LDNS_SIGN_ECDSAP256SHA256, 256);
  if (key == nullptr) throw std::runtime_error("ldns could not make a key");
  ldns_key_set_pubkey_owner(key, ldns_dname_new_frm_str(kOrigin));
  ldns_key_set_flags(key, 256);  // a key that signs every RRset whatever the ldns version
  ldns_key_set_inception(key, static_cast<uint32_t>(time(nullptr) - 3600));
  ldns_key_set_expiration(key, static_cast<uint32_t>(time(nullptr) + 7 * 86400));
  ldns_rr* dnskey = ldns_key2rr(key);
  ldns_key_set_keytag(key, ldns_calc_keytag(dnskey));
  ldns_zone_push_rr(zone, dnskey);
  ldns_key_list* keys = ldns_key_list_new();
  ldns_key_list_push_key(keys, key);
  ldns_zone* signed_zone = ldns_zone_sign(zone, keys);
  ldns_key_list_free(keys);  // frees the key too
  ldns_zone_deep_free(zone);
  if (signed_zone == nullptr) throw std::runtime_error("ldns_zone_sign failed");
  char* buffer = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buffer, &size);
  ldns_zone_print(out, signed_zone);
  std::fclose(out);
  std::string result(buffer, size);
  std::free(buffer);
  ldns_zone_deep_free(signed_zone);
  return result;
}

std::shared_ptr<Snapshot> snapshot_of(const std::string& text) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("rotor_dnssec_bench." + std::to_string(getpid()));
  std::ofstream(path) << text;
  auto snapshot = std::make_shared<Snapshot>();
  try {
    snapshot->zones.add(zones::load_zone_file(path.string(), kOrigin));
  } catch (...) {
    std::filesystem::remove(path);
    throw;
  }
  std::filesystem::remove(path);
  return snapshot;
}

// A resolver's query: RD clear, EDNS with 1232 bytes, DO when asked.
std::vector<uint8_t> make_query(const std::string& name, uint16_t qtype, bool dnssec_ok) {
  std::vector<uint8_t> query = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (i > label_start) {
        query.push_back(static_cast<uint8_t>(i - label_start));
        query.insert(query.end(), name.begin() + static_cast<long>(label_start), name.begin() + static_cast<long>(i));
      }
      label_start = i + 1;
    }
  }
  query.insert(query.end(), {0, static_cast<uint8_t>(qtype >> 8), static_cast<uint8_t>(qtype), 0, 1});
  query.insert(query.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, static_cast<uint8_t>(dnssec_ok ? 0x80 : 0), 0, 0, 0});
  return query;
}

struct Row {
  std::string what;
  const Snapshot* snapshot;
  std::vector<uint8_t> query;
  unsigned rcode;
  double best_ns = std::numeric_limits<double>::infinity();
  size_t reply_size = 0;
  unsigned answer_records = 0;  // answer + authority + additional, OPT included
};

// CPU ns per answer_query of the row's query over `count` calls; checks the rcode first.
double answer_ns(Row& row, size_t count) {
  WorkerState state;
  prepare_worker_state(*row.snapshot, state);
  std::vector<uint8_t> out(kReplyBufferSize);
  const ClientInfo client{};
  const size_t length = answer_query(*row.snapshot, row.query, client, out, state);
  if (length < 12 || (out[3] & 0x0fu) != row.rcode || (out[2] & 0x02u) != 0) {
    throw std::runtime_error("unexpected answer for: " + row.what);
  }
  row.reply_size = length;
  row.answer_records = static_cast<unsigned>((out[6] << 8 | out[7]) + (out[8] << 8 | out[9]) + (out[10] << 8 | out[11]));
  size_t bytes = 0;
  const double start = thread_cpu_ns();
  for (size_t i = 0; i < count; ++i) bytes += answer_query(*row.snapshot, row.query, client, out, state);
  const double ns = thread_cpu_ns() - start;
  if (bytes != length * count) throw std::runtime_error("answers changed between calls");
  return ns / static_cast<double>(count);
}

}  // namespace

int print_signed_answer_costs(const AnswerCostOptions& options) {
  const std::string text = zone_text();
  const auto plain = snapshot_of(text);
  const auto signed_zone = snapshot_of(signed_zone_text(text));
  constexpr uint16_t A = 1, MX = 15;
  struct Kind {
    const char* what;
    const char* name;
    uint16_t type;
    unsigned rcode;
  };
  const Kind kinds[] = {
      {"static positive www A", "www.bench.test", A, 0},
      {"static positive bench.test MX (+ additional)", "bench.test", MX, 0},
      {"static NODATA www MX", "www.bench.test", MX, 0},
      {"static NXDOMAIN missing5", "missing5.bench.test", A, 3},
  };
  // Per kind: unsigned zone (DO set: nothing to add), signed zone without DO, signed zone with DO.
  std::vector<Row> rows;
  for (const Kind& kind : kinds) {
    rows.push_back({std::string(kind.what) + ", unsigned zone, DO", plain.get(), make_query(kind.name, kind.type, true), kind.rcode});
    rows.push_back({std::string(kind.what) + ", signed zone, no DO", signed_zone.get(), make_query(kind.name, kind.type, false), kind.rcode});
    rows.push_back({std::string(kind.what) + ", signed zone, DO", signed_zone.get(), make_query(kind.name, kind.type, true), kind.rcode});
  }
  for (size_t round = 0; round < options.rounds; ++round) {
    for (size_t i = 0; i < rows.size(); ++i) {
      Row& row = rows[(i + round) % rows.size()];
      row.best_ns = std::min(row.best_ns, answer_ns(row, options.queries));
    }
  }
  std::printf("answer_query, UDP with EDNS 1232, no network, thread CPU time\n");
  std::printf("%-64s %8s %6s %5s %9s\n", "answer", "ns/q", "bytes", "RRs", "vs unsig");
  double worst = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    const double ratio = row.best_ns / rows[i - i % 3].best_ns;
    if (i % 3 == 2) worst = std::max(worst, ratio);
    std::printf("%-64s %8.1f %6zu %5u %9.2f\n", row.what.c_str(), row.best_ns, row.reply_size,
                row.answer_records, ratio);
  }
  std::printf("(best of %zu rounds of %zu queries each)\n", options.rounds, options.queries);
  // The goal (at most 1.3x) is for array answers; static rows are shown against it too.
  std::printf("static, signed with DO / unsigned, worst row: %.2fx; the goal <= 1.30x: %s\n", worst,
              worst <= 1.3 ? "met" : "NOT met");
  return 0;
}

}  // namespace rotor::bench
