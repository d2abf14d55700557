// The OPT record and UDP payload size of replies, as pure functions.
#include "server/dns/edns.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

TEST_SUITE_BEGIN("unit/server/dns/edns");

namespace rotor::dns {
namespace {

ParsedQuery edns_query(uint16_t udp_size) {
  ParsedQuery query;
  query.has_edns = true;
  query.edns_udp_size = udp_size;
  return query;
}

TEST_CASE("the UDP reply limit follows the client within our bounds") {
  struct Case {
    const char* what;
    bool edns;
    uint16_t client;
    uint16_t ours;
    size_t limit;
  };
  const std::vector<Case> cases = {
      {"no EDNS", false, 0, 1232, 512},
      {"the client's size below ours", true, 1000, 1232, 1000},
      {"ours caps the client's", true, 4096, 1232, 1232},
      {"never below 512", true, 100, 1232, 512},
      {"ours below 512 still allows 512", true, 4096, 200, 512},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    ParsedQuery query = edns_query(c.client);
    query.has_edns = c.edns;
    CHECK(udp_reply_limit(query, {.nsid = {}, .udp_payload_size = c.ours}) == c.limit);
  }
}

TEST_CASE("opt_size counts what build_opt writes") {
  const std::string long_nsid(kMaxNsidSize + 1, 'n');
  struct Case {
    const char* what;
    bool edns;
    bool wants_nsid;
    std::string nsid;
    int ecs_prefix;  // -1: no Client Subnet
    size_t size;
  };
  const std::vector<Case> cases = {
      {"no EDNS: no OPT", false, true, "id", 24, 0},
      {"bare OPT", true, false, "id", -1, 11},
      {"NSID asked but none set", true, true, "", -1, 11},
      {"NSID asked and set", true, true, "id", -1, 11 + 4 + 2},
      {"NSID set but not asked", true, false, "id", -1, 11},
      {"an NSID too long is not answered", true, true, long_nsid, -1, 11},
      {"Client Subnet /24", true, false, "", 24, 11 + 8 + 3},
      {"Client Subnet /0", true, false, "", 0, 11 + 8},
      {"both", true, true, "id", 20, 11 + 6 + 8 + 3},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    ParsedQuery query = edns_query(1232);
    query.has_edns = c.edns;
    query.wants_nsid = c.wants_nsid;
    if (c.ecs_prefix >= 0) {
      query.has_client_subnet = true;
      query.client_subnet.family = 1;
      query.client_subnet.source_prefix = static_cast<uint8_t>(c.ecs_prefix);
    }
    const EdnsSettings settings{.nsid = c.nsid, .udp_payload_size = 1232};
    CHECK(opt_size(query, settings) == c.size);
    if (!c.edns) continue;
    CHECK(answers_nsid(query, settings) == (c.size >= 11 + 4 + 2 && c.wants_nsid));
    uint8_t opt[kMaxOptSize];
    CHECK(build_opt(opt, query, settings, rcode::NOERROR, 0) == c.size);
    CHECK(read_u16(opt + 9) == c.size - 11);  // RDLENGTH
  }
}

TEST_CASE("build_opt writes extended rcode - DO - NSID and a capped scope") {
  ParsedQuery query = edns_query(4096);
  query.edns_do = true;
  query.wants_nsid = true;
  query.has_client_subnet = true;
  query.client_subnet.family = 1;
  query.client_subnet.source_prefix = 24;
  query.client_subnet.address[0] = 198;
  query.client_subnet.address[1] = 51;
  query.client_subnet.address[2] = 100;
  uint8_t opt[kMaxOptSize];
  const size_t size =
      build_opt(opt, query, {.nsid = "ns", .udp_payload_size = 1232}, rcode::BADVERS, 99);
  const std::vector<uint8_t> expected = {
      0, 0, 41, 0x04, 0xD0,                  // root, OPT, payload 1232
      1, 0, 0x80, 0,                         // extended rcode 16 >> 4, version 0, DO
      0, 6 + 11,                             // RDLENGTH
      0, 3, 0, 2, 'n', 's',                  // NSID
      0, 8, 0, 7, 0, 1, 24, 32, 198, 51, 100,  // Client Subnet, scope capped at 32
  };
  CHECK(std::vector<uint8_t>(opt, opt + size) == expected);
}

}  // namespace
}  // namespace rotor::dns

TEST_SUITE_END();
