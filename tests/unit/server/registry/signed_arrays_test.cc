// Arrays in a zone rotor signs online, through the snapshot composer
// (SignedArrays): every published snapshot carries their signatures, a health
// change publishes an already signed state, a fallback's change re-signs the
// arrays it answers for, and arrays of unsigned zones stay as the registry
// built them. Each DO answer is verified with ldns against the zone's key.
#include "server/registry/signed_arrays.h"

#include <doctest/doctest.h>
#include <ldns/ldns.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "server/arrays/signed_answers.h"
#include "server/dnssec/online_signing.h"
#include "server/query/responder.h"
#include "server/registry/snapshot_composer.h"
#include "tests/support/dns_client.h"
#include "tests/unit/server/dnssec/dnssec_test_support.h"
#include "zones/zone_file.h"

TEST_SUITE_BEGIN("unit/server/registry/signed_arrays");

namespace rotor::registry {
namespace {

using namespace std::chrono_literals;
using arrays::Health;
using dnssec::testing::check_rrset;
using dnssec::testing::Checked;

struct RrListFree {
  void operator()(ldns_rr_list* list) const { ldns_rr_list_deep_free(list); }
};
using RrList = std::unique_ptr<ldns_rr_list, RrListFree>;

std::shared_ptr<const zones::Zone> source_zone() {
  const auto path = std::filesystem::temp_directory_path() /
                    ("rotor-signed-arrays-" + std::to_string(::getpid()) + ".zone");
  {
    std::ofstream file(path);
    file << "example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300\n"
            "example.test. 3600 IN NS ns.example.test.\n"
            "ns.example.test. 3600 IN A 192.0.2.53\n"
            "alias.example.test. 300 IN CNAME farm.example.test.\n";
  }
  auto zone = zones::load_zone_file(path.string(), "example.test.");
  std::filesystem::remove(path);
  return zone;
}

std::vector<arrays::Instance> instances(int count, int down = 0, int first_octet = 1) {
  std::vector<arrays::Instance> out;
  for (int i = 0; i < count; ++i) {
    arrays::Instance instance;
    instance.id = first_octet + i;
    instance.spec.address = *IpAddress::parse("192.0.2." + std::to_string(first_octet + i));
    instance.health = i < down ? Health::down : Health::up;
    out.push_back(instance);
  }
  return out;
}

struct World {
  std::string dnskey;
  SnapshotPublisher publisher{std::make_shared<Snapshot>()};
  SnapshotComposer composer{publisher, {.publish_interval = 0ms}};
  std::shared_ptr<const geo::RegionTable> regions = geo::RegionTable::build({});

  World() {
    dnssec::ZoneKeys keys;
    keys.keys.push_back(
        dnssec::SigningKey::generate("example.test.", 13, dnssec::RrsetSigner::system_now(), 0));
    dnskey = keys.keys[0].dnskey_text();
    const dnssec::SignedZone built = dnssec::build_signed_zone(
        source_zone(), std::move(keys), "keys", std::make_shared<dnssec::SharedSignatureCache>());
    REQUIRE(built.error == "");
    zones::ZoneSet zones;
    zones.add(built.zone);
    composer.set_base(std::move(zones), {});
  }

  void put(const char* name, arrays::ArraySettings settings, std::vector<arrays::Instance> list,
           uint32_t slot) {
    composer.put_array(arrays::ArrayState::build(*zones::name_from_text(name), slot, settings,
                                                 std::move(list), *regions));
  }

  RrList keys() const {
    RrList list(ldns_rr_list_new());
    ldns_rr* rr = nullptr;
    REQUIRE(ldns_rr_new_frm_str(&rr, dnskey.c_str(), 3600, nullptr, nullptr) == LDNS_STATUS_OK);
    ldns_rr_list_push_rr(list.get(), rr);
    return list;
  }

  // The DO answer for `name` A from the current snapshot, checked at `owner`.
  Checked ask(const std::string& name, const std::string& owner, WorkerState& state) const {
    const auto snapshot = publisher.current();
    prepare_worker_state(*snapshot, state);
    ::rotor::test::QueryOptions options = ::rotor::test::resolver_options();
    options.dnssec_ok = true;
    std::vector<uint8_t> out(kReplyBufferSize);
    const size_t size = answer_query(*snapshot, ::rotor::test::make_query(name, LDNS_RR_TYPE_A, options),
                                     ClientInfo{nullptr, Transport::tcp}, out, state);
    out.resize(size);
    auto reply = ::rotor::test::parse_reply(out);
    REQUIRE(reply);
    const RrList zone_keys = keys();
    Checked checked = check_rrset(ldns_pkt_answer(reply.get()), owner, LDNS_RR_TYPE_A, zone_keys.get());
    CAPTURE(checked.failure);
    CHECK(checked.verified);
    return checked;
  }
};

arrays::ArraySettings capped(uint16_t max_answers) {
  arrays::ArraySettings settings;
  settings.max_answers = max_answers;
  return settings;
}

TEST_CASE("a health change publishes a signed state - through the composer") {
  World world;
  world.put("farm.example.test.", capped(2), instances(4), 0);
  const auto* published =
      world.publisher.current()->arrays->find(*zones::name_from_text("farm.example.test."));
  REQUIRE(published != nullptr);
  REQUIRE(published->signatures != nullptr);
  CHECK(published->signatures->v4.keys.size() == 4);
  CHECK(world.composer.array_signing_stats().arrays_signed == 1);

  WorkerState state;
  for (int i = 0; i < 8; ++i) CHECK(world.ask("farm.example.test.", "farm.example.test.", state).rdatas.size() == 2);

  world.put("farm.example.test.", capped(2), instances(4, 1), 0);
  CHECK(world.composer.array_signing_stats().arrays_signed == 2);
  for (int i = 0; i < 6; ++i) {
    const Checked a = world.ask("farm.example.test.", "farm.example.test.", state);
    CHECK(a.rdatas.count("192.0.2.1") == 0);
  }
  // A CNAME into the array: the array's RRset signed under its own name.
  CHECK(world.ask("alias.example.test.", "farm.example.test.", state).rdatas.size() == 2);
  CHECK(world.composer.array_signing_stats().failures == 0);

  world.composer.remove_array(*zones::name_from_text("farm.example.test."));
  CHECK(world.publisher.current()->arrays->size() == 0);
}

TEST_CASE("a fallback's health change re-signs the arrays it answers for") {
  World world;
  arrays::ArraySettings primary;
  primary.when_all_down = arrays::WhenAllDown::none;
  primary.fallback = "backup.example.test.";
  world.put("backup.example.test.", {}, instances(2, 0, 20), 1);
  world.put("www.example.test.", primary, instances(2, 2), 0);
  WorkerState state;
  CHECK(world.ask("www.example.test.", "www.example.test.", state).rdatas ==
        std::set<std::string>{"192.0.2.20", "192.0.2.21"});
  const uint64_t before = world.composer.array_signing_stats().arrays_signed;
  world.put("backup.example.test.", {}, instances(2, 1, 20), 1);
  CHECK(world.composer.array_signing_stats().arrays_signed == before + 2);
  CHECK(world.ask("www.example.test.", "www.example.test.", state).rdatas ==
        std::set<std::string>{"192.0.2.21"});
}

TEST_CASE("arrays of a zone that is not signed online are published as built") {
  SnapshotPublisher publisher(std::make_shared<Snapshot>());
  SnapshotComposer composer(publisher, {.publish_interval = 0ms});
  zones::ZoneSet zones;
  zones.add(source_zone());
  composer.set_base(std::move(zones), {});
  const auto regions = geo::RegionTable::build({});
  composer.put_array(arrays::ArrayState::build(*zones::name_from_text("farm.example.test."), 0, {},
                                               instances(2), *regions));
  CHECK(publisher.current()->arrays == composer.arrays());
  CHECK(composer.array_signing_stats().arrays_signed == 0);
}

}  // namespace
}  // namespace rotor::registry

TEST_SUITE_END();
