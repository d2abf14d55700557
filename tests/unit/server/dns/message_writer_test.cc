#include "server/dns/message_writer.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "tests/support/dns_client.h"
#include "tests/unit/support/allocation_counter.h"

TEST_SUITE_BEGIN("unit/server/dns/message_writer");

namespace rotor::dns {
namespace {

using Section = MessageWriter::Section;

// "www.Example.test." -> wire form, case kept.
std::string wire(const std::string& presentation) {
  std::string out;
  size_t start = 0;
  while (start < presentation.size()) {
    const size_t dot = presentation.find('.', start);
    const size_t end = dot == std::string::npos ? presentation.size() : dot;
    if (end > start) {
      out += static_cast<char>(end - start);
      out += presentation.substr(start, end - start);
    }
    start = end + 1;
  }
  out += '\0';
  return out;
}

WireName wire_name(const std::string& presentation) {
  const std::string bytes = wire(presentation);
  WireName name;
  name.size = static_cast<uint8_t>(bytes.size());
  name.labels = static_cast<uint8_t>(label_count(bytes));
  std::memcpy(name.bytes, bytes.data(), bytes.size());
  return name;
}

// One record to write: an A record owned by `owner`, or an NS record when
// `ns_target` is set (its RDATA name is compressed too).
struct Record {
  std::string owner;
  std::string ns_target;
};

const std::string kAddress("\xC0\x00\x02\x01", 4);

bool write(MessageWriter& writer, const Record& record) {
  const std::string owner = wire(record.owner);
  if (record.ns_target.empty()) {
    return writer.write_record(Section::answer, {.name = owner}, type::A, rrclass::IN, 60, kAddress);
  }
  const std::string target = wire(record.ns_target);
  return writer.write_record(Section::answer, {.name = owner}, type::NS, rrclass::IN, 60, target);
}

// The names of the answer section as ldns decodes them (owner, then the NS
// target if any), in presentation form with their case; fails the test when
// ldns does not accept the message.
std::vector<std::string> decoded_names(const uint8_t* message, size_t size) {
  const test::LdnsPacket packet = test::parse_reply(test::Bytes(message, message + size));
  REQUIRE(packet != nullptr);
  std::vector<std::string> names;
  const ldns_rr_list* answer = ldns_pkt_answer(packet.get());
  auto text = [](const ldns_rdf* rdf) {
    char* chars = ldns_rdf2str(rdf);
    std::string out(chars);
    free(chars);
    return out;
  };
  for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    names.push_back(text(ldns_rr_owner(rr)));
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NS) names.push_back(text(ldns_rr_rdf(rr, 0)));
  }
  return names;
}

struct CompressionCase {
  const char* what;
  std::vector<Record> records;          // after the question www.example.test.
  size_t size;                          // of the whole message
  std::vector<std::string> names;       // as ldns reads them back
};

// Sizes: header 12, question 18 + 4 (www.example.test. at 12, example.test. at
// 16, test. at 24), an A record 10 + 4 after its owner, NS 10 + its target.
TEST_CASE("names are compressed against the suffixes already written") {
  const std::vector<CompressionCase> cases = {
      {"a name written twice is a pointer to the first",
       {{"www.example.test."}}, 34 + 2 + 14, {"www.example.test."}},
      {"a shared suffix: the new label then a pointer",
       {{"mail.example.test."}}, 34 + 5 + 2 + 14, {"mail.example.test."}},
      {"case does not matter: the pointer reads as first written",
       {{"WWW.EXAMPLE.TEST."}}, 34 + 2 + 14, {"www.example.test."}},
      {"new labels keep their case before the pointer",
       {{"MAIL.Example.test."}}, 34 + 5 + 2 + 14, {"MAIL.example.test."}},
      {"a suffix of the question alone",
       {{"test."}, {"example.test."}}, 34 + 2 + 14 + 2 + 14, {"test.", "example.test."}},
      {"the root is one byte",
       {{"."}}, 34 + 1 + 14, {"."}},
      {"a label equal to one of another parent is not matched",
       {{"www.example.org."}, {"example.org."}},
       34 + 17 + 14 + 2 + 14, {"www.example.org.", "example.org."}},
      {"the same label at several depths",
       {{"a.a.a.test."}, {"a.a.test."}, {"a.a.a.a.test."}},
       34 + (6 + 2 + 14) + (2 + 14) + (2 + 2 + 14),
       {"a.a.a.test.", "a.a.test.", "a.a.a.a.test."}},
      {"names inside NS data are compressed and remembered",
       {{"example.test.", "ns1.example.test."}, {"ns1.example.test."}},
       34 + 2 + 10 + 6 + 2 + 14, {"example.test.", "ns1.example.test.", "ns1.example.test."}},
      {"a later name points into an earlier record's data",
       {{"example.test.", "ns.Other.net."}, {"x.other.net."}},
       34 + 2 + 10 + 14 + 4 + 14,
       {"example.test.", "ns.Other.net.", "x.Other.net."}},
  };
  for (const CompressionCase& c : cases) {
    CAPTURE(c.what);
    uint8_t buffer[512];
    MessageWriter writer(buffer, sizeof buffer, sizeof buffer);
    writer.write_header(1, flag::QR);
    REQUIRE(writer.write_question(wire_name("www.example.test."), type::A, rrclass::IN));
    for (const Record& record : c.records) REQUIRE(write(writer, record));
    CHECK(writer.size() == c.size);
    CHECK(decoded_names(buffer, writer.size()) == c.names);
  }
}

TEST_CASE("a name past offset 0x3fff is written in full again: no pointer can reach it") {
  std::vector<uint8_t> buffer(kMaxMessage);
  MessageWriter writer(buffer.data(), buffer.size(), buffer.size());
  writer.write_header(1, flag::QR);
  REQUIRE(writer.write_question(wire_name("www.example.test."), type::TXT, rrclass::IN));
  const std::string text(255, 'x');
  const std::string txt = static_cast<char>(254) + text.substr(0, 254);
  while (writer.size() <= MessageWriter::kMaxPointerTarget) {
    REQUIRE(writer.write_record(Section::answer, {.is_question = true}, type::TXT, rrclass::IN, 60, txt));
  }
  const std::string far = wire("far.example.test.");
  size_t firsts[2];
  for (size_t& first : firsts) {
    first = writer.size();
    REQUIRE(writer.write_record(Section::answer, {.name = far}, type::A, rrclass::IN, 60, kAddress));
  }
  for (const size_t first : firsts) {
    CAPTURE(first);
    CHECK(first > MessageWriter::kMaxPointerTarget);
    // "far" in place, then a pointer to example.test. in the question.
    CHECK(std::string(reinterpret_cast<const char*>(&buffer[first]), 4) == "\x03" "far");
    CHECK(buffer[first + 4] == 0xC0);
    CHECK(buffer[first + 5] == 16);
  }
  const test::LdnsPacket packet = test::parse_reply(test::Bytes(buffer.begin(), buffer.begin() + writer.size()));
  REQUIRE(packet != nullptr);
  CHECK(ldns_rr_list_rr_count(ldns_pkt_answer(packet.get())) == writer.count(Section::answer));
}

TEST_CASE("a full table writes later names in full and every name stays right") {
  std::vector<uint8_t> buffer(kMaxMessage);
  MessageWriter writer(buffer.data(), buffer.size(), buffer.size());
  writer.write_header(1, flag::QR);
  REQUIRE(writer.write_question(wire_name("www.example.test."), type::A, rrclass::IN));
  // Each owner hN.tN. brings two suffixes of its own; the question's three go
  // into the table with the first owner. After owners 0..29 it holds 63: the
  // 64th is t30., and h30.t30. and everything after are left out.
  std::vector<std::string> expected;
  auto owner = [](size_t n) { return "h" + std::to_string(n) + ".t" + std::to_string(n) + "."; };
  for (size_t n = 0; n < 40; ++n) {
    REQUIRE(write(writer, {owner(n)}));
    expected.push_back(owner(n));
  }
  // The same names again: remembered ones as one pointer, h30 in place before
  // a pointer to t30., h39.t39. in full (9 bytes).
  const std::map<size_t, size_t> owner_sizes = {{0, 2}, {29, 2}, {30, 4 + 2}, {39, 9}};
  for (const auto& [n, owner_size] : owner_sizes) {
    CAPTURE(n);
    const size_t before = writer.size();
    REQUIRE(write(writer, {owner(n)}));
    expected.push_back(owner(n));
    CHECK(writer.size() - before - 14 == owner_size);
  }
  CHECK(decoded_names(buffer.data(), writer.size()) == expected);
}

TEST_CASE("a rolled back record leaves no pointer into the dropped bytes") {
  uint8_t buffer[512];
  MessageWriter writer(buffer, sizeof buffer, 120);
  writer.write_header(1, flag::QR);
  REQUIRE(writer.write_question(wire_name("www.example.test."), type::A, rrclass::IN));
  REQUIRE(write(writer, {"first.example.test."}));  // pending until the next name
  const std::string big(90, 'x');
  const std::string owner = wire("new.example.test.");
  CHECK_FALSE(writer.write_record(Section::answer, {.name = owner}, type::TXT, rrclass::IN, 60, big));
  const MessageWriter::Mark mark = writer.mark();
  REQUIRE(write(writer, {"new.example.test."}));
  REQUIRE(write(writer, {"first.example.test."}));
  writer.rollback(mark);
  // "new" is at the same offset again, under another parent: a table that
  // kept the dropped new.example.test. would point the next one there.
  REQUIRE(write(writer, {"new.test."}));
  REQUIRE(write(writer, {"new.example.test."}));
  CHECK(decoded_names(buffer, writer.size()) ==
        std::vector<std::string>{"first.example.test.", "new.test.", "new.example.test."});
  CHECK(writer.size() == 34 + (8 + 14) + (6 + 14) + (6 + 14));
}

TEST_CASE("writing and compressing allocates nothing") {
  std::vector<uint8_t> buffer(kMaxMessage);
  std::vector<std::string> names;  // 80 owners: more suffixes than the table holds
  for (int n = 0; n < 80; ++n) {
    names.push_back(wire("h" + std::to_string(n) + ".Example" + std::to_string(n % 8) + ".test."));
  }
  const WireName question = wire_name("www.example.test.");
  size_t written = 0;
  test::AllocationCounter counter;
  for (size_t message = 0; message < 10; ++message) {
    MessageWriter writer(buffer.data(), buffer.size(), buffer.size());
    writer.write_header(1, flag::QR);
    writer.write_question(question, type::A, rrclass::IN);
    // Past 64 suffixes and past 0x3fff bytes, with a rollback now and then:
    // every path of the table.
    for (size_t record = 0; record < 2000; ++record) {
      const MessageWriter::Mark mark = writer.mark();
      writer.write_record(Section::answer, {.name = names[record % names.size()]}, type::NS,
                          rrclass::IN, 60, names[(record + message) % names.size()]);
      if (record % 7 == 0) writer.rollback(mark);
    }
    written += writer.size();
  }
  CHECK(counter.allocations() == 0);
  CHECK(written > 10 * MessageWriter::kMaxPointerTarget);
}

TEST_CASE("address records owned by the question are the bytes write_record writes") {
  const std::vector<std::string> v4 = {std::string("\xC0\x00\x02\x01", 4), std::string("\x0A\x00\x00\x02", 4),
                                       std::string("\xC6\x33\x64\x03", 4)};
  std::vector<std::string> v6;
  for (char last = 1; last <= 3; ++last) v6.push_back(std::string(15, '\x20') + last);
  for (const bool ipv6 : {false, true}) {
    const std::vector<std::string>& rdatas = ipv6 ? v6 : v4;
    const uint16_t rrtype = ipv6 ? type::AAAA : type::A;
    // Limits from no room for any record to room for all three and more.
    for (size_t limit = 34; limit <= 34 + 3 * 28 + 4; ++limit) {  // the question is 34
      CAPTURE(ipv6);
      CAPTURE(limit);
      uint8_t expected[256];
      MessageWriter one_by_one(expected, sizeof expected, limit);
      one_by_one.write_header(7, flag::QR);
      REQUIRE(one_by_one.write_question(wire_name("Web.example.test."), rrtype, rrclass::IN));
      size_t fitted = 0;
      while (fitted < rdatas.size() && one_by_one.write_record(Section::answer, {.is_question = true},
                                                                rrtype, rrclass::IN, 30, rdatas[fitted])) {
        ++fitted;
      }
      uint8_t written[256];
      MessageWriter at_once(written, sizeof written, limit);
      at_once.write_header(7, flag::QR);
      REQUIRE(at_once.write_question(wire_name("Web.example.test."), rrtype, rrclass::IN));
      const auto rdata_of = [&](size_t i) { return reinterpret_cast<const uint8_t*>(rdatas[i].data()); };
      const size_t count = ipv6 ? at_once.write_question_address_records<16>(Section::answer, rrtype, 30,
                                                                             rdatas.size(), rdata_of)
                                : at_once.write_question_address_records<4>(Section::answer, rrtype, 30,
                                                                            rdatas.size(), rdata_of);
      CHECK(count == fitted);
      REQUIRE(at_once.size() == one_by_one.size());
      CHECK(std::memcmp(written, expected, at_once.size()) == 0);
      CHECK(at_once.count(Section::answer) == fitted);
    }
  }
}

}  // namespace
}  // namespace rotor::dns

TEST_SUITE_END();
