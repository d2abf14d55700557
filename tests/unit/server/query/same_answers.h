#pragma once
// Two snapshots that must answer byte for byte alike (one built with an
// encoding of its negative answers, one without): every question of names x
// types, each asked four ways (UDP 1232 and 512 with DO, TCP with DO, UDP
// 1232 without DO), goes to both and the replies are CHECKed equal. Shared
// by encoded_authority_test and encoded_array_nodata_test.

#include <doctest/doctest.h>
#include <ldns/ldns.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "server/query/responder.h"
#include "tests/support/dns_client.h"

namespace rotor::same_answers {

// The reply answer_query writes for `query`; empty when it waits for a
// signature or drops the query.
inline std::vector<uint8_t> answer_bytes(const Snapshot& snapshot, const std::vector<uint8_t>& query,
                                         Transport transport, WorkerState& state) {
  std::vector<uint8_t> out(kReplyBufferSize);
  const size_t size = answer_query(snapshot, query, ClientInfo{nullptr, transport}, out, state);
  out.resize(size == kAwaitsSignature ? 0 : size);
  return out;
}

// Asks `first` and `second` (each with its worker state) every question;
// returns how many answers there were.
inline size_t compare_answers(const Snapshot& first, WorkerState& first_state, const Snapshot& second,
                              WorkerState& second_state, const std::vector<std::string>& names,
                              std::span<const ldns_rr_type> types) {
  struct AskedAs {
    Transport transport;
    uint16_t udp_size;
    bool dnssec_ok;
  };
  const AskedAs ways[] = {{Transport::udp, 1232, true},
                          {Transport::udp, 512, true},
                          {Transport::tcp, 1232, true},
                          {Transport::udp, 1232, false}};
  size_t answers = 0;
  for (const std::string& name : names) {
    for (const ldns_rr_type type : types) {
      for (const AskedAs& way : ways) {
        test::QueryOptions options = test::resolver_options();
        options.udp_size = way.udp_size;
        options.dnssec_ok = way.dnssec_ok;
        const std::vector<uint8_t> query = test::make_query(name, type, options);
        const std::vector<uint8_t> one = answer_bytes(first, query, way.transport, first_state);
        const std::vector<uint8_t> other = answer_bytes(second, query, way.transport, second_state);
        CAPTURE(name);
        CAPTURE(type);
        CAPTURE(way.udp_size);
        CAPTURE(way.dnssec_ok);
        CHECK(one == other);
        answers += !one.empty();
      }
    }
  }
  return answers;
}

}  // namespace rotor::same_answers
