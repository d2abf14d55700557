// The query path: bytes in, reply bytes out, against a snapshot with static
// zones (tests/data/diff, data/fuzz.example.zone) and instance arrays of every
// policy (geo with regions, networks and a MaxMind database, weighted, sticky,
// all down), some below names no zone has (which they make exist).
//
// Input: 5 bytes of client, then the DNS message.
//   byte 0: bit 0 TCP (else UDP); bit 1 IPv6 (else IPv4); bit 2 no address;
//           bits 3-4 pick the IPv6 prefix (2001:db8::/32, a mapped v4, fd00::/8, ::)
//   bytes 1-4: the IPv4 address, or the last 4 bytes of the IPv6 one
// Invariants checked (__builtin_trap on violation): the reply fits `out` (and
// the UDP limit), a reply is produced exactly when the message has a header
// and QR clear, it carries the query's ID with QR set, ldns parses it, and
// (under ASan) answering allocated nothing.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "server/arrays/array_state.h"
#include "server/geo/geoip.h"
#include "server/query/responder.h"
#include "zones/zone_file.h"

#if defined(__SANITIZE_ADDRESS__)
#define ROTOR_FUZZ_COUNT_ALLOCATIONS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ROTOR_FUZZ_COUNT_ALLOCATIONS 1
#endif
#endif
#ifdef ROTOR_FUZZ_COUNT_ALLOCATIONS
// From <sanitizer/allocator_interface.h>, which GCC does not install; both
// clang's and GCC's ASan runtimes provide it.
extern "C" int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void*, size_t), void (*free_hook)(const volatile void*));
#endif

// Last: its C macros must not reach the C++ headers.
#include <ldns/ldns.h>

namespace {

using namespace rotor;

arrays::Instance instance(int64_t id, const char* address, uint16_t weight, const char* region,
                          arrays::Health health,
                          arrays::AdminState state = arrays::AdminState::enabled) {
  arrays::Instance out;
  out.id = id;
  out.spec.address = *arrays::IpAddress::parse(address);
  out.spec.weight = weight;
  out.spec.region = region;
  out.spec.state = state;
  out.health = health;
  return out;
}

std::shared_ptr<const Snapshot> build_snapshot() {
  const std::string data = ROTOR_TEST_DATA;
  auto snapshot = std::make_shared<Snapshot>();
  // The differential test's zones: delegations, CNAMEs, wildcards, and a child
  // zone served beside its parent (DS from the parent side).
  snapshot->zones.add(zones::load_zone_file(data + "/diff/example.test.zone", ""));
  snapshot->zones.add(zones::load_zone_file(data + "/diff/child.example.test.zone", ""));
  snapshot->zones.add(zones::load_zone_file(data + "/diff/rfc4592.example.zone", ""));
  snapshot->zones.add(zones::load_zone_file(data + "/diff/2.0.192.in-addr.arpa.zone", ""));
  snapshot->zones.add(zones::load_zone_file(data + "/arrays/static.example.test.zone", ""));
  snapshot->zones.add(zones::load_zone_file(ROTOR_FUZZ_DATA "/fuzz.example.zone", ""));

  const auto regions = geo::RegionTable::build({{"eu", 50.1, 8.7, {"us"}},
                                                {"us", 40.7, -74.0, {"eu"}},
                                                {"ap", 35.7, 139.7, {}},
                                                {"lab", std::nullopt, std::nullopt, {}}});
  snapshot->geo.regions = regions;
  snapshot->geo.networks = geo::NetworkTable::build({{"192.0.2.0/24", "eu"},
                                                     {"192.0.2.128/25", "lab"},
                                                     {"198.51.100.0/24", "us"},
                                                     {"10.0.0.0/8", "ap"},
                                                     {"2001:db8::/32", "us"},
                                                     {"2001:db8:1::/48", "eu"}},
                                                    *regions);
  snapshot->geo.geoip = std::make_shared<geo::GeoIpDatabase>(data + "/geo/test-city.mmdb");
  snapshot->options.nsid = "fuzz-ns";

  using arrays::Health;
  using arrays::AdminState;
  const auto add = [&](const char* name, arrays::ArraySettings settings,
                       std::vector<arrays::Instance> instances) {
    const uint32_t slot = static_cast<uint32_t>(snapshot->arrays->slot_limit());
    snapshot->arrays = snapshot->arrays->with(arrays::ArrayState::build(
        *zones::name_from_text(name), slot, settings, std::move(instances), *regions));
  };
  arrays::ArraySettings geo_settings;
  geo_settings.policy = arrays::Policy::geo;
  geo_settings.max_answers = 3;
  add("farm.example.test.", geo_settings,
      {instance(1, "192.0.2.10", 100, "eu", Health::up),
       instance(2, "192.0.2.11", 300, "eu", Health::unknown),
       instance(3, "198.51.100.10", 50, "us", Health::up),
       instance(4, "198.51.100.11", 1000, "us", Health::down),
       instance(5, "203.0.113.1", 1, "ap", Health::up, AdminState::draining),
       instance(6, "203.0.113.2", 10, "", Health::up),
       instance(7, "2001:db8::10", 100, "us", Health::up),
       instance(8, "2001:db8:1::10", 200, "eu", Health::up),
       instance(9, "2001:db8:2::10", 5, "lab", Health::up, AdminState::disabled)});
  arrays::ArraySettings weighted;
  weighted.policy = arrays::Policy::weighted;
  add("weighted.example.test.", weighted,
      {instance(10, "192.0.2.20", 1, "", Health::up), instance(11, "192.0.2.21", 999, "", Health::up),
       instance(12, "2001:db8::20", 7, "", Health::unknown)});
  arrays::ArraySettings sticky;
  sticky.policy = arrays::Policy::sticky;
  sticky.max_answers = 2;
  std::vector<arrays::Instance> many;
  for (int i = 0; i < 120; ++i) {  // more than a UDP reply holds
    const std::string v4 = "10.1." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1);
    many.push_back(instance(100 + i, v4.c_str(), static_cast<uint16_t>(i % 7 + 1), "", Health::up));
  }
  add("sticky.example.test.", sticky, many);
  many.clear();
  for (int i = 0; i < 120; ++i) {
    const std::string v6 = "2001:db8:5::" + std::to_string(i + 1);
    many.push_back(instance(300 + i, v6.c_str(), 100, i % 2 ? "eu" : "us", Health::up));
  }
  add("big.static.example.test.", geo_settings, many);
  arrays::ArraySettings closed;
  closed.when_all_down = arrays::WhenAllDown::none;
  add("down.example.test.", closed,
      {instance(20, "192.0.2.30", 100, "", Health::down),
       instance(21, "2001:db8::30", 100, "", Health::down)});
  add("open.example.test.", {}, {instance(22, "192.0.2.31", 100, "", Health::down)});
  // An array at a CNAME chain's end and one under a wildcard.
  add("www.example.test.", {}, {instance(23, "192.0.2.32", 100, "", Health::up)});
  add("x.wild.example.test.", {}, {instance(24, "192.0.2.33", 100, "", Health::up)});
  // One beside other types (ANY), one below a zone cut.
  add("many.fuzz.example.", weighted, {instance(25, "192.0.2.34", 100, "", Health::up)});
  add("x.deleg.example.test.", {}, {instance(26, "192.0.2.35", 100, "", Health::up)});
  // Arrays below names no zone has: those names exist (empty non-terminals),
  // the wildcard stops at them.
  add("web.eu.example.test.", {}, {instance(27, "192.0.2.36", 100, "", Health::up)});
  add("foo.ent.wild.example.test.", {}, {instance(28, "192.0.2.37", 100, "", Health::up)});
  return snapshot;
}

void check(bool condition) {
  if (!condition) __builtin_trap();
}

// The query path allocates nothing: under ASan, every malloc made while
// answer_query runs is counted through the sanitizer's hook.
bool counting = false;
size_t allocations = 0;
#ifdef ROTOR_FUZZ_COUNT_ALLOCATIONS
void on_malloc(const volatile void*, size_t) {
  if (counting) ++allocations;
}
void on_free(const volatile void*) {}
#endif

struct Fixture {
  std::shared_ptr<const Snapshot> snapshot = build_snapshot();
  WorkerState state;
  // Exactly the sizes answer_query asks for, so ASan sees a write past them.
  std::vector<uint8_t> udp_out = std::vector<uint8_t>(4096);
  std::vector<uint8_t> tcp_out = std::vector<uint8_t>(kReplyBufferSize);
  // ROTOR_FUZZ_PRINT=1: print every reply (to look at what a corpus reaches).
  bool print = std::getenv("ROTOR_FUZZ_PRINT") != nullptr;
  Fixture() {
    prepare_worker_state(*snapshot, state);
#ifdef ROTOR_FUZZ_COUNT_ALLOCATIONS
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
#endif
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fixture;
  if (size < 5) return 0;
  const uint8_t control = data[0];
  const bool tcp = (control & 1) != 0;

  sockaddr_in v4{};
  sockaddr_in6 v6{};
  const sockaddr* address = nullptr;
  if ((control & 4) == 0) {
    if ((control & 2) == 0) {
      v4.sin_family = AF_INET;
      v4.sin_port = htons(5353);
      std::memcpy(&v4.sin_addr, data + 1, 4);
      address = reinterpret_cast<const sockaddr*>(&v4);
    } else {
      static const uint8_t prefixes[4][12] = {
          {0x20, 0x01, 0x0d, 0xb8},
          {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
          {0xfd, 0x00, 0x12, 0x34},
          {}};
      v6.sin6_family = AF_INET6;
      v6.sin6_port = htons(5353);
      std::memcpy(v6.sin6_addr.s6_addr, prefixes[(control >> 3) & 3], 12);
      std::memcpy(v6.sin6_addr.s6_addr + 12, data + 1, 4);
      address = reinterpret_cast<const sockaddr*>(&v6);
    }
  }
  const ClientInfo client{address, tcp ? Transport::tcp : Transport::udp};

  // An exactly sized copy of the message, so ASan sees any read past it.
  const std::vector<uint8_t> query(data + 5, data + size);
  std::vector<uint8_t>& out = tcp ? fixture.tcp_out : fixture.udp_out;
  allocations = 0;
  counting = true;
  const size_t length = answer_query(*fixture.snapshot, query, client, out, fixture.state);
  counting = false;
  check(allocations == 0);

  check(length <= out.size());
  if (!tcp) check(length <= fixture.snapshot->options.edns_udp_size);
  const bool answerable = query.size() >= 12 && (query[2] & 0x80) == 0;
  check((length > 0) == answerable);
  if (length == 0) return 0;
  check(length >= 12);
  check(out[0] == query[0] && out[1] == query[1]);
  check((out[2] & 0x80) != 0);

  ldns_pkt* reply = nullptr;
  check(ldns_wire2pkt(&reply, out.data(), length) == LDNS_STATUS_OK);
  if (fixture.print) ldns_pkt_print(stdout, reply);
  ldns_pkt_free(reply);
  return 0;
}
