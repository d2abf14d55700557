// The parking lot of late answers (server/net/parking_lot.h) on its own:
// one request to the signer per NSEC however many queries wait for it, a
// full lot, a too-long query and a full signer ring drop and count, a query
// that waited too long is freed and handed back, a signed NSEC frees exactly
// its waiters, repark's three outcomes, forget. The signer is attached but
// never started, so its ring of requests fills and stays full.

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/net/parking_lot.h"

TEST_SUITE_BEGIN("unit/server/net/parking_lot");

namespace rotor::net {
namespace {

using Lot = ParkingLot<int, 3>;

// A worker context whose denial state wants the NSEC owned by a settable
// name, with a signer ring of `ring` requests nobody takes.
struct LotWorld {
  explicit LotWorld(size_t ring) : signer(ring), channel(signer.attach([] {})) {
    context.state.denial = std::make_unique<DenialState>();
    context.state.denial->key = &key;
    context.denial_channel = &channel;
  }
  void want(const std::string& owner) { context.state.denial->wanted.owner.assign(owner); }
  dnssec::SignedDenial signed_for(const std::string& owner) const {
    dnssec::SignedDenial result;
    result.key = key;
    result.record.owner.assign(owner);
    result.signed_ok = true;
    return result;
  }
  uint64_t parked() const { return context.state.counters->denial_parked.value(); }
  uint64_t dropped() const { return context.state.counters->denial_dropped.value(); }

  dnssec::DenialSigner signer;
  dnssec::DenialSigner::Channel& channel;
  std::shared_ptr<const zones::OnlineSigner> key;  // only its address is compared
  WorkerContext context;
  Lot lot;
  const uint8_t query[4] = {1, 2, 3, 4};
};

const auto kNoExpiry = [](Lot::Slot&) { FAIL("nothing should expire here"); };

TEST_CASE("queries waiting for one NSEC ask the signer once and another NSEC asks again") {
  LotWorld world(1);  // room for one request
  world.want("\x01" "a");
  Lot::Slot* first = world.lot.park(world.context, world.query, 4, 0, kNoExpiry);
  Lot::Slot* second = world.lot.park(world.context, world.query, 4, 10, kNoExpiry);
  REQUIRE(first != nullptr);
  REQUIRE(second != nullptr);  // no second request: the ring's one place is taken
  CHECK(first != second);
  CHECK(world.parked() == 2);
  CHECK(world.dropped() == 0);
  CHECK(first->size == 4);
  CHECK(first->query[3] == 4);
  world.want("\x01" "b");  // a new request finds the ring full
  CHECK(world.lot.park(world.context, world.query, 4, 20, kNoExpiry) == nullptr);
  CHECK(world.dropped() == 1);
  CHECK(world.parked() == 2);
}

TEST_CASE("a full lot and a query longer than a slot are dropped and counted") {
  LotWorld world(8);
  world.want("\x01" "a");
  for (int i = 0; i < 3; ++i) REQUIRE(world.lot.park(world.context, world.query, 4, 0, kNoExpiry) != nullptr);
  CHECK(world.lot.park(world.context, world.query, 4, 0, kNoExpiry) == nullptr);
  CHECK(world.dropped() == 1);
  LotWorld other(8);
  other.want("\x01" "a");
  std::vector<uint8_t> long_query(Lot::kQuerySize + 1);
  CHECK(other.lot.park(other.context, long_query.data(), long_query.size(), 0, kNoExpiry) == nullptr);
  CHECK(other.dropped() == 1);
  CHECK(other.parked() == 0);
}

TEST_CASE("a query that waited longer than the limit is freed counted and handed back") {
  LotWorld world(8);
  world.want("\x01" "a");
  Lot::Slot* slot = world.lot.park(world.context, world.query, 4, 1000, kNoExpiry);
  REQUIRE(slot != nullptr);
  slot->destination = 7;
  std::vector<int> expired;
  const auto collect = [&](Lot::Slot& gone) {
    CHECK_FALSE(gone.used);
    expired.push_back(gone.destination);
  };
  // At exactly the limit it still waits.
  REQUIRE(world.lot.park(world.context, world.query, 4, 1000 + Lot::kWaitMs, collect) != nullptr);
  CHECK(expired.empty());
  Lot::Slot* reused = world.lot.park(world.context, world.query, 4, 1001 + Lot::kWaitMs, collect);
  CHECK(expired == std::vector<int>{7});
  CHECK(reused == slot);  // the first free slot is the one just freed
  CHECK(world.dropped() == 1);
}

TEST_CASE("a signed NSEC frees exactly the queries waiting for it") {
  LotWorld world(8);
  world.want("\x01" "a");
  world.lot.park(world.context, world.query, 4, 0, kNoExpiry)->destination = 1;
  world.want("\x01" "b");
  world.lot.park(world.context, world.query, 4, 0, kNoExpiry)->destination = 2;
  world.want("\x01" "a");
  world.lot.park(world.context, world.query, 4, 0, kNoExpiry)->destination = 3;
  std::vector<int> answered;
  world.lot.take_signed(world.signed_for("\x01" "a"), [&](Lot::Slot& slot) {
    CHECK_FALSE(slot.used);
    answered.push_back(slot.destination);
  });
  CHECK(answered == std::vector<int>{1, 3});
  answered.clear();
  world.lot.take_signed(world.signed_for("\x01" "a"), [&](Lot::Slot& slot) { answered.push_back(slot.destination); });
  CHECK(answered.empty());
  world.lot.take_signed(world.signed_for("\x01" "b"), [&](Lot::Slot& slot) { answered.push_back(slot.destination); });
  CHECK(answered == std::vector<int>{2});
}

TEST_CASE("waiting counts the used slots through park take_signed repark forget and expire") {
  LotWorld world(8);
  world.want("\x01" "a");
  CHECK(world.lot.waiting() == 0);
  world.lot.park(world.context, world.query, 4, 0, kNoExpiry)->destination = 1;
  world.lot.park(world.context, world.query, 4, 500, kNoExpiry)->destination = 2;
  world.want("\x01" "b");
  world.lot.park(world.context, world.query, 4, 900, kNoExpiry)->destination = 3;
  CHECK(world.lot.waiting() == 3);
  world.lot.forget(world.context, [](int destination) { return destination == 3; });
  CHECK(world.lot.waiting() == 2);
  // Slot 1 waited past the limit at 2001, slot 2 not yet: only slot 1 goes, counted.
  world.lot.expire(world.context, 1 + Lot::kWaitMs + 1);
  CHECK(world.lot.waiting() == 1);
  CHECK(world.dropped() == 2);  // forget's and expire's
  // Its late answer needs "b" now: it waits again, still one slot.
  world.lot.take_signed(world.signed_for("\x01" "a"), [&](Lot::Slot& slot) {
    CHECK(world.lot.waiting() == 0);
    CHECK(world.lot.repark(world.context, slot, world.signed_for("\x01" "a")) == Lot::Repark::waiting_again);
  });
  CHECK(world.lot.waiting() == 1);
  world.lot.take_signed(world.signed_for("\x01" "b"), [](Lot::Slot&) {});
  CHECK(world.lot.waiting() == 0);
  world.lot.expire(world.context, 100000);
  CHECK(world.dropped() == 2);
}

TEST_CASE("repark waits again for a second NSEC and refuses the same one or a full ring") {
  LotWorld world(2);  // room for two requests, and nobody takes them
  world.want("\x01" "a");
  Lot::Slot* slot = world.lot.park(world.context, world.query, 4, 0, kNoExpiry);
  REQUIRE(slot != nullptr);
  const dnssec::SignedDenial first = world.signed_for("\x01" "a");
  std::vector<Lot::Repark> outcomes;
  // The answer still wants the NSEC just signed: no second wait.
  world.lot.take_signed(first, [&](Lot::Slot& s) { outcomes.push_back(world.lot.repark(world.context, s, first)); });
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0] == Lot::Repark::same_nsec);
  CHECK_FALSE(slot->used);
  // Parked again (a second request fills the ring), then a second NSEC
  // finds the ring full.
  world.want("\x01" "a");
  REQUIRE(world.lot.park(world.context, world.query, 4, 0, kNoExpiry) == slot);
  world.want("\x01" "b");
  outcomes.clear();
  world.lot.take_signed(first, [&](Lot::Slot& s) { outcomes.push_back(world.lot.repark(world.context, s, first)); });
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0] == Lot::Repark::dropped);
  CHECK_FALSE(slot->used);
  CHECK(world.dropped() == 1);
  // With room in the ring it waits again, in the same slot, for the new NSEC.
  LotWorld roomy(4);
  roomy.want("\x01" "a");
  Lot::Slot* waiting = roomy.lot.park(roomy.context, roomy.query, 4, 0, kNoExpiry);
  roomy.want("\x01" "b");
  roomy.lot.take_signed(roomy.signed_for("\x01" "a"), [&](Lot::Slot& s) {
    CHECK(roomy.lot.repark(roomy.context, s, roomy.signed_for("\x01" "a")) == Lot::Repark::waiting_again);
  });
  CHECK(waiting->waits_for(roomy.key.get(), "\x01" "b"));
  CHECK(roomy.dropped() == 0);
}

TEST_CASE("forget frees the slots of one destination and counts them") {
  LotWorld world(8);
  world.want("\x01" "a");
  world.lot.park(world.context, world.query, 4, 0, kNoExpiry)->destination = 1;
  world.lot.park(world.context, world.query, 4, 0, kNoExpiry)->destination = 2;
  world.lot.park(world.context, world.query, 4, 0, kNoExpiry)->destination = 1;
  world.lot.forget(world.context, [](int destination) { return destination == 1; });
  CHECK(world.dropped() == 2);
  std::vector<int> answered;
  world.lot.take_signed(world.signed_for("\x01" "a"), [&](Lot::Slot& slot) { answered.push_back(slot.destination); });
  CHECK(answered == std::vector<int>{2});
}

}  // namespace
}  // namespace rotor::net

TEST_SUITE_END();
