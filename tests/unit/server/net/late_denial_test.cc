// Compact denial answered late by real workers: a DO query over UDP or TCP for
// a name that does not exist in a zone signed online is parked, signed by the
// pool's denial signer and answered within a second with an NSEC that ldns
// verifies; the next query for it is a cache hit; a burst of random names far
// beyond the rings and parking slots crashes nothing, counts its drops, and
// the pool still answers afterwards. A wildcard CNAME to a missing name needs
// two NSECs signed late for one query: it waits twice and is answered.
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>

#include "server/net/worker_pool.h"
#include "tests/support/dns_client.h"
#include "tests/support/eventually.h"
#include "tests/unit/server/query/compact_zone.h"
#include "tests/unit/support/listen_endpoint.h"
// Last: ldns defines `bool` and `false` for C, which <optional> must not see first.
#include <ldns/ldns.h>

TEST_SUITE_BEGIN("unit/server/net/late_denial");

namespace rotor {
namespace {

using namespace std::chrono_literals;

test::Bytes nxdomain_query(const std::string& label, uint16_t id) {
  test::QueryOptions options = test::resolver_options(id);
  options.dnssec_ok = true;
  return test::make_query(label + ".compact.test.", LDNS_RR_TYPE_A, options);
}

struct Sums {
  uint64_t hits = 0, misses = 0, parked = 0, late = 0, dropped = 0, signed_count = 0;
};

Sums sums(const net::WorkerPool& pool) {
  Sums out;
  for (const auto& worker : pool.counters()) {
    out.hits += worker->denial_hits.value();
    out.misses += worker->denial_misses.value();
    out.parked += worker->denial_parked.value();
    out.late += worker->denial_answered_late.value();
    out.dropped += worker->denial_dropped.value();
    out.signed_count += worker->denial_signed.value();
  }
  return out;
}

// Whether the reply is the compact denial and its NSEC verifies with `key`.
bool verified_denial(const test::Bytes& wire, const dnssec::SigningKey& key) {
  test::LdnsPacket reply = test::parse_reply(wire);
  if (!reply || ldns_pkt_get_rcode(reply.get()) != LDNS_RCODE_NOERROR) return false;
  ldns_rr_list* authority = ldns_pkt_authority(reply.get());
  ldns_rr_list* nsec = ldns_rr_list_new();
  ldns_rr* signature = nullptr;
  for (size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(authority, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NSEC) ldns_rr_list_push_rr(nsec, rr);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG &&
        ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == LDNS_RR_TYPE_NSEC) {
      signature = rr;
    }
  }
  ldns_rr_list* keys = ldns_rr_list_new();
  ldns_rr* dnskey = nullptr;
  ldns_rr_new_frm_str(&dnskey, key.dnskey_text().c_str(), 0, nullptr, nullptr);
  ldns_rr_list_push_rr(keys, dnskey);
  ldns_rr_list* good = ldns_rr_list_new();
  const bool ok = ldns_rr_list_rr_count(nsec) == 1 && signature != nullptr &&
                  ldns_verify_rrsig_keylist(nsec, signature, keys, good) == LDNS_STATUS_OK;
  ldns_rr_list_free(good);
  ldns_rr_list_deep_free(keys);
  ldns_rr_list_free(nsec);  // its records belong to the packet
  return ok;
}

TEST_CASE("a missing name is answered late and signed over UDP and TCP then from the cache") {
  test::SignedZone zone = test::make_compact_zone();
  SnapshotPublisher publisher(zone.snapshot);
  net::NetworkOptions options;
  options.listen = {test::listen_endpoint("127.0.0.1:0")};
  options.threads = 1;
  net::WorkerPool pool(options, publisher);
  pool.start();
  const sockaddr_storage address = pool.bound().at(0).address;

  test::UdpClient udp(address);
  const auto start = std::chrono::steady_clock::now();
  const auto first = udp.exchange(nxdomain_query("nope", 0x1001), 1s);
  REQUIRE(first);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK(verified_denial(first->wire, *zone.key));
  // A UDP late answer is counted after it is sent: the client may see it first.
  CHECK(test::eventually([&] { return sums(pool).late == 1; }));
  Sums counted = sums(pool);
  CHECK(counted.misses == 1);
  CHECK(counted.parked == 1);
  CHECK(counted.late == 1);
  CHECK(counted.signed_count == 1);

  const auto again = udp.exchange(nxdomain_query("nope", 0x1002), 1s);
  REQUIRE(again);
  CHECK(verified_denial(again->wire, *zone.key));
  // The late answer was a hit too (answer_query ran again), and this one.
  CHECK(sums(pool).hits == 2);

  const auto over_tcp = test::exchange_tcp(test::endpoint_of(address), nxdomain_query("tcp-only", 0x1003), 1s);
  REQUIRE(over_tcp);
  CHECK(test::reply_id(over_tcp->wire) == 0x1003);
  CHECK(verified_denial(over_tcp->wire, *zone.key));
  CHECK(sums(pool).late == 2);
  pool.stop();
}

TEST_CASE("a wildcard CNAME to a missing name waits for two signatures over UDP and TCP") {
  test::SignedZone zone = test::make_compact_zone(
      "*.dangling 300 IN CNAME nothere.compact.test.\n*.void 300 IN CNAME gone.compact.test.\n");
  SnapshotPublisher publisher(zone.snapshot);
  net::NetworkOptions options;
  options.listen = {test::listen_endpoint("127.0.0.1:0")};
  options.threads = 1;
  net::WorkerPool pool(options, publisher);
  pool.start();
  const sockaddr_storage address = pool.bound().at(0).address;
  // The answer: the CNAME, the SOA, the target's compact denial and the
  // white lie covering the expanded name, each NSEC verified.
  const auto check_reply = [&](const test::Bytes& wire) {
    test::LdnsPacket reply = test::parse_reply(wire);
    REQUIRE(reply);
    CHECK(ldns_pkt_get_rcode(reply.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(reply.get())) == 2);  // CNAME and RRSIG
    ldns_rr_list* authority = ldns_pkt_authority(reply.get());
    ldns_rr_list* keys = ldns_rr_list_new();
    ldns_rr* dnskey = nullptr;
    ldns_rr_new_frm_str(&dnskey, zone.key->dnskey_text().c_str(), 0, nullptr, nullptr);
    ldns_rr_list_push_rr(keys, dnskey);
    size_t nsecs = 0, verified = 0;
    for (size_t i = 0; i < ldns_rr_list_rr_count(authority); ++i) {
      ldns_rr* nsec = ldns_rr_list_rr(authority, i);
      if (ldns_rr_get_type(nsec) != LDNS_RR_TYPE_NSEC) continue;
      ++nsecs;
      for (size_t j = 0; j < ldns_rr_list_rr_count(authority); ++j) {
        ldns_rr* rrsig = ldns_rr_list_rr(authority, j);
        if (ldns_rr_get_type(rrsig) != LDNS_RR_TYPE_RRSIG ||
            ldns_dname_compare(ldns_rr_owner(rrsig), ldns_rr_owner(nsec)) != 0) {
          continue;
        }
        ldns_rr_list* rrset = ldns_rr_list_new();
        ldns_rr_list_push_rr(rrset, nsec);
        ldns_rr_list* good = ldns_rr_list_new();
        if (ldns_verify_rrsig_keylist(rrset, rrsig, keys, good) == LDNS_STATUS_OK) ++verified;
        ldns_rr_list_free(good);
        ldns_rr_list_free(rrset);
      }
    }
    ldns_rr_list_deep_free(keys);
    CHECK(nsecs == 2);
    CHECK(verified == 2);
  };

  test::UdpClient udp(address);
  const auto over_udp = udp.exchange(nxdomain_query("q.dangling", 0x2001), 2s);
  REQUIRE(over_udp);
  check_reply(over_udp->wire);
  // A UDP late answer is counted after it is sent: the client may see it first.
  CHECK(test::eventually([&] { return sums(pool).late == 1; }));
  Sums counted = sums(pool);
  CHECK(counted.signed_count == 2);
  CHECK(counted.late == 1);
  CHECK(counted.dropped == 0);

  const auto over_tcp = test::exchange_tcp(test::endpoint_of(address), nxdomain_query("q.void", 0x2002), 2s);
  REQUIRE(over_tcp);
  CHECK(test::reply_id(over_tcp->wire) == 0x2002);
  check_reply(over_tcp->wire);
  counted = sums(pool);
  CHECK(counted.signed_count == 4);
  CHECK(counted.late == 2);
  CHECK(counted.dropped == 0);
  pool.stop();
}

TEST_CASE("a burst of random names beyond the rings is dropped and counted and nothing breaks") {
  test::SignedZone zone = test::make_compact_zone();
  SnapshotPublisher publisher(zone.snapshot);
  net::NetworkOptions options;
  options.listen = {test::listen_endpoint("127.0.0.1:0")};
  options.threads = 1;
  // Rings of two: a batch of misses overflows them however fast the signer
  // is next to the UDP thread (the UDP thread takes results every batch, so
  // with the 256 default a burst overflows only when the signer is the
  // slower, as in release builds, not under TSan).
  options.denial_ring_capacity = 2;
  net::WorkerPool pool(options, publisher);
  pool.start();
  const sockaddr_storage address = pool.bound().at(0).address;

  test::UdpClient udp(address);
  constexpr int kBurst = 3000;  // beyond the rings and the 256-slot parking lot
  for (int i = 0; i < kBurst; ++i) {
    udp.send(nxdomain_query("r" + std::to_string(i), static_cast<uint16_t>(i)));
  }
  const std::vector<test::Reply> replies = udp.collect(500ms, 10s);
  const Sums counted = sums(pool);
  MESSAGE("burst: " << replies.size() << " answered, " << counted.parked << " parked, "
                    << counted.dropped << " dropped, " << counted.signed_count << " signed");
  CHECK(counted.misses > 0);
  // Replies sent; the client's socket buffer may lose some of them.
  CHECK(replies.size() > 0);
  CHECK(replies.size() <= counted.late);
  CHECK(counted.dropped > 0);
  // Every miss was parked or dropped (the socket's buffer may have lost some
  // datagrams before any worker saw them).
  CHECK(counted.parked + counted.dropped >= counted.misses);
  CHECK(counted.late <= counted.parked);

  // Still serving: a name signed in the burst is a hit, a new one is signed.
  const auto after = udp.exchange(nxdomain_query("after-burst", 0x7001), 2s);
  REQUIRE(after);
  CHECK(verified_denial(after->wire, *zone.key));
  pool.stop();
}

}  // namespace
}  // namespace rotor

TEST_SUITE_END();
