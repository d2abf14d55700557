#include "server/app/reloader.h"

#include <doctest/doctest.h>
#include <ldns/ldns.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "server/app/config_loader.h"
#include "server/app/registry_setup.h"
#include "server/app/zone_loader.h"
#include "server/common/cpu_affinity.h"
#include "server/dnssec/key_files.h"
#include "server/query/responder.h"
#include "server/registry/sqlite_store.h"
#include "tests/support/dns_client.h"
#include "tests/unit/server/registry/registry_test_support.h"
#include "zones/zone_file.h"

namespace rotor::app {
namespace {

using namespace std::chrono_literals;

const std::string kZoneHead =
    "$ORIGIN a.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\n"
    "ns1 IN A 192.0.2.53\n";

// A config file, its zone and a running registry built from it the way
// `rotor serve` builds them; every reload reads the file again.
struct ReloadRig {
  explicit ReloadRig(const std::string& config_text)
      : publisher(std::make_shared<const Snapshot>()),
        composer(publisher, {.publish_interval = 0ms}) {
    write("a.zone", kZoneHead);
    write("rotor.json", config_text);
    const config::Config config = load();
    base = build_snapshot(config, 1);
    composer.set_base(base->zones, base->options);
    registry = registry::Registry::open(std::make_unique<registry::SqliteStore>(dir.file("rotor.db")),
                                        composer);
    registry->set_geo(build_geo(config));
    registry->apply_config_arrays(config_arrays(config));
    reloader = std::make_unique<Reloader>(
        [this](config::Config& next) {
          return load_config_collecting({.file = dir.file("rotor.json")}, next);
        },
        config, base,
        Reloader::Targets{.composer = composer,
                          .registry = *registry,
                          .apply_api_tokens = [this](const config::Config& next) { tokens = next.api_tokens; }});
  }

  config::Config load() const { return config::load_config_file(dir.file("rotor.json")); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir.file(name), std::ios::trunc) << text;
  }
  uint32_t ttl(const char* array) const { return registry->find(array)->settings.ttl; }
  size_t records() const { return publisher.current()->zones.zones().at(0)->record_count(); }

  registry::test::ScratchDir dir;
  SnapshotPublisher publisher;
  registry::SnapshotComposer composer;
  std::shared_ptr<const Snapshot> base;
  std::unique_ptr<registry::Registry> registry;
  std::unique_ptr<Reloader> reloader;
  std::vector<config::ApiToken> tokens;
};

constexpr const char* kConfig = R"({
  "zones": ["a.test=a.zone"],
  "arrays": [{"name": "web.a.test", "ttl": 30, "instances": [{"address": "127.0.0.11"}]}]})";

const std::string kOpsToken = std::string(64, 'a');

}  // namespace

TEST_SUITE_BEGIN("unit/server/app/reloader");

TEST_CASE("a reload applies zones and arrays and regions and tokens from the file read again") {
  ReloadRig rig(kConfig);
  CHECK(rig.records() == 3);
  rig.write("a.zone", kZoneHead + "new IN A 192.0.2.7\n");
  rig.write("rotor.json", R"({
    "zones": ["a.test=a.zone"],
    "regions": [{"name": "eu"}],
    "api": {"tokens": [{"name": "ops", "scope": "read", "sha256": ")" + kOpsToken + R"("}]},
    "arrays": [{"name": "web.a.test", "ttl": 60,
                "instances": [{"address": "127.0.0.11", "weight": 5, "region": "eu"}]},
               {"name": "api.a.test", "ttl": 20}]})");

  const ReloadOutcome outcome = rig.reloader->reload({.source = "signal"});
  CAPTURE(outcome.errors);
  REQUIRE(outcome.ok);
  CHECK(outcome.warnings.empty());
  CHECK(outcome.zones == 1);
  CHECK(outcome.arrays == 2);
  CHECK(rig.records() == 4);
  CHECK(rig.ttl("web.a.test.") == 60);
  CHECK(rig.registry->find("web.a.test.")->instances.at(0).spec.weight == 5);
  CHECK(rig.ttl("api.a.test.") == 20);
  REQUIRE(rig.tokens.size() == 1);
  CHECK(rig.tokens[0].name == "ops");
  CHECK(rig.reloader->succeeded() == 1);
  CHECK(rig.reloader->last()->ok);
}

TEST_CASE("a refused reload changes nothing and says every reason") {
  struct Case {
    const char* name;
    std::string zone;
    std::string config;
    std::vector<std::string> errors;  // each must appear in one of the outcome's, in order
  };
  const std::string good_array = R"("arrays": [{"name": "web.a.test", "ttl": 90}])";
  const std::vector<Case> cases = {
      {"a broken zone line and a missing zone file", kZoneHead + "bad IN A 192.0.2.300\n",
       R"({"zones": ["a.test=a.zone", "b.test=b.zone"], )" + good_array + "}",
       {"a.zone:6:", "b.zone"}},
      {"an unknown key", kZoneHead, R"({"zones": ["a.test=a.zone"], "arays": []})",
       {"rotor.json: arays: unknown key"}},
      {"three bad keys at once", kZoneHead,
       R"({"zones": ["a.test=a.zone"], "threads": "two",
           "arrays": [{"name": "web.a.test", "ttl": -1}, {"name": "api.a.test", "policy": "random"}]})",
       {"rotor.json: arrays[0].ttl:", "rotor.json: arrays[1].policy:", "rotor.json: threads:"}},
      {"two arrays outside every zone", kZoneHead,
       R"({"zones": ["a.test=a.zone"], "arrays": [{"name": "web.a.test", "ttl": 90},
                                                   {"name": "web.b.test"}, {"name": "api.c.test"}]})",
       {"rotor.json: arrays[1].name: \"web.b.test.\" is not inside a served zone",
        "rotor.json: arrays[2].name: \"api.c.test.\" is not inside a served zone"}},
      {"a zone the file cannot be read", kZoneHead, R"({"zones": ["a.test=missing.zone"]})",
       {"missing.zone"}},
      {"an array in a pre-signed zone", kZoneHead,
       R"({"zones": ["a.test=a.zone", "nsec.signed.test=)" + std::string(ROTOR_TEST_DATA) +
           R"(/query/signed-nsec.zone"], "arrays": [{"name": "web.nsec.signed.test"}]})",
       {"rotor.json: arrays[0].name: web.nsec.signed.test. is in zone nsec.signed.test., which is "
        "signed by its zone file (DNSSEC signatures, no dnssec.keys): rotor signs array answers "
        "only in zones it signs itself, so arrays cannot be in a pre-signed zone (file " +
        std::string(ROTOR_TEST_DATA) + "/query/signed-nsec.zone)"}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    ReloadRig rig(kConfig);
    rig.write("a.zone", c.zone);
    rig.write("rotor.json", c.config);
    const ReloadOutcome outcome = rig.reloader->reload({.source = "signal"});
    CAPTURE(outcome.errors);
    CHECK_FALSE(outcome.ok);
    REQUIRE(outcome.errors.size() == c.errors.size());
    for (size_t i = 0; i < c.errors.size(); ++i) {
      CHECK(outcome.errors[i].find(c.errors[i]) != std::string::npos);
    }
    CHECK(rig.ttl("web.a.test.") == 30);
    CHECK(rig.records() == 3);
    CHECK(rig.reloader->failed() == 1);
    CHECK_FALSE(rig.reloader->last()->ok);
  }
}

TEST_CASE("a reload that puts a CNAME where an array answers keeps the old zones and arrays") {
  ReloadRig rig(kConfig);
  rig.registry->upsert_array("api.a.test.", {});
  rig.write("a.zone", kZoneHead + "api IN CNAME ns1\n");
  rig.write("rotor.json", R"({"zones": ["a.test=a.zone"],
    "arrays": [{"name": "web.a.test", "ttl": 90, "instances": [{"address": "127.0.0.11"}]}]})");
  const ReloadOutcome outcome = rig.reloader->reload({.source = "signal"});
  CHECK_FALSE(outcome.ok);
  CHECK(outcome.errors ==
        std::vector<std::string>{"api.a.test. has a CNAME in zone a.test., where an array answers"});
  CHECK(rig.records() == 3);
  CHECK(rig.ttl("web.a.test.") == 30);
}

TEST_CASE("arrays the registry refuses put the new zones back") {
  ReloadRig rig(kConfig);
  // The config may list the most instances an array holds, but with one the
  // API added the array would pass the limit: only applying finds that, after
  // the zones went in.
  rig.registry->add_instance("web.a.test.", registry::test::instance("127.0.0.12"));
  std::string instances = R"({"address": "127.0.0.11"})";
  for (size_t i = 1; i < arrays::kMaxInstancesPerArray; ++i) {
    instances += R"(,{"address": "10.0.)" + std::to_string(i / 256) + "." + std::to_string(i % 256) + R"("})";
  }
  rig.write("a.zone", kZoneHead + "new IN A 192.0.2.7\n");
  rig.write("rotor.json", R"({"zones": ["a.test=a.zone"], "regions": [{"name": "eu"}],
    "arrays": [{"name": "web.a.test", "ttl": 90, "instances": [)" + instances + "]}]}");
  const ReloadOutcome outcome = rig.reloader->reload({.source = "signal"});
  CAPTURE(outcome.errors);
  CHECK_FALSE(outcome.ok);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].find("more than 8192 instances") != std::string::npos);
  CHECK(rig.records() == 3);
  CHECK(rig.ttl("web.a.test.") == 30);
  CHECK(rig.registry->find("web.a.test.")->instances.size() == 2);
}

TEST_CASE("keys only a restart changes are applied nowhere and named in warnings") {
  ReloadRig rig(kConfig);
  // A CPU this process may run on, so that the new value is valid here.
  const std::string cpu = std::to_string(rotor::allowed_cpus_at_startup().front());
  rig.write("rotor.json", R"({
    "zones": ["a.test=a.zone"], "listen": ["127.0.0.1:5399"], "threads": 3,
    "dnssec": {"encoded_answers_mib": 0}, "cpu_affinity": {"control": [)" + cpu + R"(]},
    "arrays": [{"name": "web.a.test", "ttl": 30, "instances": [{"address": "127.0.0.11"}]}]})");
  const ReloadOutcome outcome = rig.reloader->reload({.source = "signal"});
  REQUIRE(outcome.ok);
  CHECK(outcome.warnings == std::vector<std::string>{
                                "listen changed: takes effect at the next restart",
                                "threads changed: takes effect at the next restart",
                                "cpu_affinity changed: takes effect at the next restart",
                                "dnssec changed: takes effect at the next restart"});
}

TEST_CASE("the config owns its arrays until a reload drops them") {
  ReloadRig rig(kConfig);
  const auto web = *rig.registry->find("web.a.test.");
  arrays::ArraySettings longer = web.settings;
  longer.ttl = 300;
  CHECK_THROWS_WITH_AS(rig.registry->upsert_array("web.a.test.", longer),
                       doctest::Contains("declared in the config ("), registry::OwnedByConfigError);
  CHECK_THROWS_AS(rig.registry->delete_array("web.a.test."), registry::OwnedByConfigError);
  // The same settings again are no change, and other instances are the API's.
  rig.registry->upsert_array("web.a.test.", web.settings);
  const auto extra = rig.registry->add_instance("web.a.test.", registry::test::instance("127.0.0.12"));
  rig.registry->remove_instance("web.a.test.", extra.id);
  CHECK_THROWS_WITH_AS(rig.registry->remove_instance("web.a.test.", web.instances.at(0).id),
                       doctest::Contains("address: instance 127.0.0.11 of web.a.test. is listed in the config"),
                       registry::OwnedByConfigError);

  rig.write("rotor.json", R"({"zones": ["a.test=a.zone"]})");
  REQUIRE(rig.reloader->reload({.source = "signal"}).ok);
  CHECK_FALSE(rig.registry->config_source("web.a.test.").has_value());
  rig.registry->upsert_array("web.a.test.", longer);
  CHECK(rig.ttl("web.a.test.") == 300);
  rig.registry->delete_array("web.a.test.");
}

namespace {

// A zone rotor signs, its key in a directory, signed as startup signs it but
// with a clock the test moves (every signature and the re-sign's key reading
// take their time from it), and a Reloader whose base is that snapshot.
struct ResignRig {
  ResignRig()
      : now(dnssec::RrsetSigner::system_now()),
        publisher(std::make_shared<const Snapshot>()),
        composer(publisher, {.publish_interval = 0ms}) {
    const std::string keys_dir = dir.file("keys");
    std::filesystem::create_directory(keys_dir);
    dnssec::write_key_files(keys_dir, dnssec::SigningKey::generate("a.test.", dnssec::kEcdsaP256Sha256,
                                                                   now - 60, now - 60));
    std::ofstream(dir.file("a.zone")) << kZoneHead << "www IN A 192.0.2.1\n";
    auto source = zones::load_zone_file(dir.file("a.zone"), "a.test.");
    dnssec::SignedZone built = dnssec::build_signed_zone(
        source, dnssec::load_zone_keys(keys_dir, "a.test.", now), keys_dir, signatures,
        [this] { return now; });
    REQUIRE(built.error == "");
    auto base = std::make_shared<Snapshot>();
    base->zones.add(std::move(built.zone));
    composer.set_base(base->zones, base->options);
    registry = registry::Registry::open(std::make_unique<registry::SqliteStore>(dir.file("rotor.db")),
                                        composer);
    reloader = std::make_unique<Reloader>(
        [](config::Config&) { return std::vector<std::string>{}; }, config::Config{}, base,
        Reloader::Targets{.composer = composer, .registry = *registry, .apply_api_tokens = {},
                          .signatures = signatures});
  }

  std::shared_ptr<const Snapshot> serving() {
    composer.flush();
    return publisher.current();
  }

  int64_t now;
  registry::test::ScratchDir dir;
  std::shared_ptr<dnssec::SharedSignatureCache> signatures =
      std::make_shared<dnssec::SharedSignatureCache>();
  SnapshotPublisher publisher;
  registry::SnapshotComposer composer;
  std::unique_ptr<registry::Registry> registry;
  std::unique_ptr<Reloader> reloader;
};

// What DO answers from a snapshot of the rig's zone carry: every RRSIG in
// the answer and authority sections checked with ldns against the DNSKEY
// RRset the zone answers, at a given time.
struct ResignedAnswers {
  size_t signatures = 0;
  size_t verified = 0;
  uint32_t earliest_expiration = std::numeric_limits<uint32_t>::max();
  std::vector<std::string> failures;
};

ResignedAnswers check_resigned_answers(const Snapshot& snapshot, int64_t at) {
  test::QueryOptions options = test::resolver_options();
  options.dnssec_ok = true;
  WorkerState state;
  std::vector<uint8_t> out(kReplyBufferSize);
  const auto ask = [&](const char* name, ldns_rr_type type) {
    const test::Bytes query = test::make_query(name, type, options);
    const size_t size = answer_query(snapshot, query, ClientInfo{}, out, state);
    REQUIRE(size > 0);
    REQUIRE(size != kAwaitsSignature);
    test::LdnsPacket reply = test::parse_reply(test::Bytes(out.begin(), out.begin() + static_cast<long>(size)));
    REQUIRE(reply);
    return reply;
  };
  const test::LdnsPacket dnskeys = ask("a.test.", LDNS_RR_TYPE_DNSKEY);
  ldns_rr_list* keys = ldns_pkt_rr_list_by_type(dnskeys.get(), LDNS_RR_TYPE_DNSKEY, LDNS_SECTION_ANSWER);
  REQUIRE(keys != nullptr);
  ResignedAnswers result;
  // Positive answers, the apex key RRsets, NODATA (SOA and the name's NSEC).
  const std::pair<const char*, ldns_rr_type> questions[] = {
      {"www.a.test.", LDNS_RR_TYPE_A},    {"a.test.", LDNS_RR_TYPE_DNSKEY}, {"a.test.", LDNS_RR_TYPE_CDS},
      {"a.test.", LDNS_RR_TYPE_SOA},      {"a.test.", LDNS_RR_TYPE_NS},     {"www.a.test.", LDNS_RR_TYPE_TXT}};
  for (const auto& [name, type] : questions) {
    const test::LdnsPacket reply = ask(name, type);
    for (const ldns_rr_list* section : {ldns_pkt_answer(reply.get()), ldns_pkt_authority(reply.get())}) {
      for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
        ldns_rr* rrsig = ldns_rr_list_rr(section, i);
        if (ldns_rr_get_type(rrsig) != LDNS_RR_TYPE_RRSIG) continue;
        const ldns_rr_type covered = ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rrsig));
        ldns_rr_list* rrset = ldns_rr_list_new();
        for (size_t j = 0; j < ldns_rr_list_rr_count(section); ++j) {
          ldns_rr* rr = ldns_rr_list_rr(section, j);
          if (ldns_rr_get_type(rr) == covered &&
              ldns_dname_compare(ldns_rr_owner(rr), ldns_rr_owner(rrsig)) == 0) {
            ldns_rr_list_push_rr(rrset, rr);
          }
        }
        ++result.signatures;
        result.earliest_expiration =
            std::min(result.earliest_expiration, ldns_rdf2native_int32(ldns_rr_rrsig_expiration(rrsig)));
        ldns_rr_list* good = ldns_rr_list_new();
        const ldns_status status =
            ldns_verify_rrsig_keylist_time(rrset, rrsig, keys, static_cast<time_t>(at), good);
        ldns_rr_list_free(good);
        ldns_rr_list_free(rrset);  // shallow: the records belong to the reply
        if (status == LDNS_STATUS_OK) {
          ++result.verified;
        } else {
          result.failures.push_back(std::string(name) + " " + ldns_get_errorstr_by_id(status));
        }
      }
    }
  }
  ldns_rr_list_deep_free(keys);
  return result;
}

constexpr int64_t kDay = 86400;

}  // namespace

TEST_CASE("the daily re-sign refreshes signatures before they expire and answers keep verifying") {
  ResignRig rig;
  const int64_t start = rig.now;
  const ResignedAnswers first = check_resigned_answers(*rig.serving(), start);
  CAPTURE(first.failures);
  REQUIRE(first.signatures >= 7);
  CHECK(first.verified == first.signatures);
  // Valid for 7 days from signing (signer.h).
  CHECK(first.earliest_expiration == static_cast<uint32_t>(start + 7 * kDay));
  const uint64_t made = rig.signatures->stats().signatures_made;

  // A day and two: more than half the validity is left, so the re-sign takes
  // every signature from the cache; the zone is rebuilt all the same.
  for (const int64_t days : {1, 2}) {
    rig.now = start + days * kDay;
    CHECK(rig.reloader->resign() == 1);
    const ResignedAnswers kept = check_resigned_answers(*rig.serving(), rig.now);
    CAPTURE(kept.failures);
    CHECK(kept.verified == kept.signatures);
    CHECK(kept.earliest_expiration == first.earliest_expiration);
    CHECK(rig.signatures->stats().signatures_made == made);
  }

  // Four days on, 3 days are left (under half of 7): without the re-sign the
  // answers would stop verifying at day 7; the re-sign signs everything
  // again, valid until day 11, still 3 days before the old ones expired.
  rig.now = start + 4 * kDay;
  const ResignedAnswers stale = check_resigned_answers(*rig.serving(), start + 8 * kDay);
  CHECK(stale.verified == 0);
  CHECK(rig.reloader->resign() == 1);
  CHECK(rig.signatures->stats().signatures_made >= made + first.signatures);
  CHECK(rig.signatures->stats().cache.refreshes >= first.signatures);
  const auto refreshed = rig.serving();
  for (const int64_t at : {start + 4 * kDay, start + 8 * kDay, start + 11 * kDay - 60}) {
    const ResignedAnswers fresh = check_resigned_answers(*refreshed, at);
    CAPTURE(at - start);
    CAPTURE(fresh.failures);
    CHECK(fresh.signatures == first.signatures);
    CHECK(fresh.verified == fresh.signatures);
    CHECK(fresh.earliest_expiration == static_cast<uint32_t>(start + 11 * kDay));
  }
}

TEST_SUITE_END();

}  // namespace rotor::app
