#include "server/dns/wire.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "server/dns/message_writer.h"

TEST_SUITE_BEGIN("unit/server/dns/wire");

namespace rotor::dns {
namespace {

std::string wire(std::initializer_list<std::string> labels) {
  std::string out;
  for (const auto& label : labels) {
    out += static_cast<char>(label.size());
    out += label;
  }
  out += '\0';
  return out;
}

struct NameCase {
  const char* what;
  std::vector<uint8_t> packet;
  size_t offset;
  bool ok;
  std::string expected;  // lower-cased
  size_t next_offset;
};

TEST_CASE("read_name") {
  const std::vector<NameCase> cases = {
      {"plain", {3, 'W', 'w', 'W', 2, 'i', 'O', 0}, 0, true, wire({"www", "io"}), 8},
      {"root", {0}, 0, true, std::string(1, '\0'), 1},
      {"pointer back", {2, 'i', 'o', 0, 1, 'a', 0xC0, 0}, 4, true, wire({"a", "io"}), 8},
      {"pointer to itself", {0xC0, 0}, 0, false, "", 0},
      {"forward pointer", {0xC0, 2, 0}, 0, false, "", 0},
      {"loop through two pointers", {1, 'a', 0xC0, 4, 0xC0, 0}, 4, false, "", 0},
      {"truncated label", {5, 'a', 'b'}, 0, false, "", 0},
      {"truncated pointer", {0xC0}, 0, false, "", 0},
      {"missing root", {1, 'a'}, 0, false, "", 0},
      {"reserved 0x40 label", {0x40, 0}, 0, false, "", 0},
      {"reserved 0x80 label", {0x80, 0}, 0, false, "", 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    WireName name;
    size_t offset = c.offset;
    const bool ok = read_name(c.packet.data(), c.packet.size(), offset, name, true);
    CHECK(ok == c.ok);
    if (ok) {
      CHECK(std::string(name.view()) == c.expected);
      CHECK(offset == c.next_offset);
    }
  }
}

TEST_CASE("read_name keeping the case agrees with it lowering on every case") {
  // Names without pointers take a shorter path there: the same verdicts.
  const std::vector<NameCase> cases = {
      {"plain", {3, 'W', 'w', 'W', 2, 'i', 'O', 0}, 0, true, wire({"www", "io"}), 8},
      {"root", {0}, 0, true, std::string(1, '\0'), 1},
      {"at an offset", {9, 1, 'A', 0}, 1, true, wire({"a"}), 4},
      {"pointer back", {2, 'i', 'o', 0, 1, 'a', 0xC0, 0}, 4, true, wire({"a", "io"}), 8},
      {"pointer after a label", {1, 'a', 0xC0, 2}, 0, false, "", 0},
      {"truncated label", {5, 'a', 'b'}, 0, false, "", 0},
      {"missing root", {1, 'a'}, 0, false, "", 0},
      {"empty", {}, 0, false, "", 0},
      {"reserved 0x40 label", {1, 'a', 0x40, 0}, 0, false, "", 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    WireName name;
    size_t offset = c.offset;
    const bool ok = read_name(c.packet.data(), c.packet.size(), offset, name, false);
    CHECK(ok == c.ok);
    if (ok) {
      CHECK(lowercase_name(std::string(name.view())) == c.expected);
      CHECK(name.labels == label_count(c.expected));
      CHECK(offset == c.next_offset);
    }
  }
}

TEST_CASE("a name of 255 bytes is read and one of 256 is not") {
  for (const bool lowercase : {false, true}) {
    for (const size_t size : {size_t{255}, size_t{256}}) {
      CAPTURE(lowercase);
      CAPTURE(size);
      std::vector<uint8_t> packet;
      for (int i = 0; i < 3; ++i) {
        packet.push_back(63);
        packet.insert(packet.end(), 63, 'A');
      }
      const size_t last = size - 1 - 3 * 64 - 1;  // the last label's length
      packet.push_back(static_cast<uint8_t>(last));
      packet.insert(packet.end(), last, 'b');
      packet.push_back(0);
      REQUIRE(packet.size() == size);
      packet.push_back(0xEE);  // what follows the name
      WireName name;
      size_t offset = 0;
      const bool ok = read_name(packet.data(), packet.size(), offset, name, lowercase);
      CHECK(ok == (size == 255));
      if (ok) {
        CHECK(name.size == 255);
        CHECK(name.labels == 4);
        CHECK(offset == 255);
      }
    }
  }
}

TEST_CASE("a name over 255 bytes is rejected") {
  std::vector<uint8_t> packet;
  for (int i = 0; i < 5; ++i) {
    packet.push_back(63);
    packet.insert(packet.end(), 63, 'a');
  }
  packet.push_back(0);  // 5 * 64 + 1 = 321 bytes
  WireName name;
  size_t offset = 0;
  CHECK_FALSE(read_name(packet.data(), packet.size(), offset, name, false));
}

TEST_CASE("is_subdomain and label_count") {
  const std::string apex = wire({"example", "test"});
  CHECK(is_subdomain(wire({"www", "example", "test"}), apex));
  CHECK(is_subdomain(apex, apex));
  CHECK_FALSE(is_subdomain(wire({"wwwexample", "test"}), apex));
  CHECK_FALSE(is_subdomain(wire({"test"}), apex));
  CHECK(is_subdomain(apex, std::string(1, '\0')));
  CHECK(label_count(apex) == 2);
  CHECK(label_count(std::string(1, '\0')) == 0);
}

TEST_CASE("the writer compresses names against earlier ones") {
  uint8_t buffer[512];
  MessageWriter writer(buffer, sizeof buffer, sizeof buffer);
  writer.write_header(1, 0x8000);
  WireName question;
  const std::string qname = wire({"www", "example", "test"});
  question.size = static_cast<uint8_t>(qname.size());
  question.labels = static_cast<uint8_t>(label_count(qname));
  std::memcpy(question.bytes, qname.data(), qname.size());
  REQUIRE(writer.write_question(question, 1, 1));
  const size_t after_question = writer.size();
  // An owner under the same zone: "mail" then a pointer to "example.test" at 16.
  const std::string mail = wire({"mail", "example", "test"});
  REQUIRE(writer.write_record(MessageWriter::Section::answer, {.name = mail, .is_question = false},
                              1, 1, 60, std::string("\x01\x02\x03\x04", 4)));
  CHECK(buffer[after_question] == 4);
  CHECK(std::string(reinterpret_cast<char*>(buffer) + after_question + 1, 4) == "mail");
  CHECK(buffer[after_question + 5] == 0xC0);
  CHECK(buffer[after_question + 6] == 16);
  // The same owner again is one pointer, and matching ignores case.
  const std::string mail_upper = wire({"MAIL", "Example", "TEST"});
  const size_t second = writer.size();
  REQUIRE(writer.write_record(MessageWriter::Section::answer,
                              {.name = mail_upper, .is_question = false}, 1, 1, 60,
                              std::string("\x01\x02\x03\x04", 4)));
  CHECK(buffer[second] == 0xC0);
  CHECK(buffer[second + 1] == after_question);
  CHECK(writer.count(MessageWriter::Section::answer) == 2);
}

TEST_CASE("a record that does not fit leaves the message as it was") {
  uint8_t buffer[64];
  MessageWriter writer(buffer, sizeof buffer, 40);
  writer.write_header(1, 0x8000);
  const std::string owner = wire({"example", "test"});
  const std::string rdata(20, 'x');
  REQUIRE(writer.write_record(MessageWriter::Section::answer, {.name = owner}, 16, 1, 60,
                              std::string("\x03" "abc", 4)));
  const size_t size = writer.size();
  CHECK_FALSE(writer.write_record(MessageWriter::Section::answer, {.name = owner}, 16, 1, 60, rdata));
  CHECK(writer.size() == size);
  CHECK(writer.count(MessageWriter::Section::answer) == 1);
}

struct DnameCase {
  const char* what;
  std::string name;
  std::string owner;
  std::string target;
  bool fits;
  std::string expected;  // when it fits
};

TEST_CASE("DNAME substitution replaces the owner suffix by the target") {
  const std::string label62(62, 'a');
  const std::string long_prefix_name = wire({label62, label62, label62, label62, "o"});  // 255
  const std::vector<DnameCase> cases = {
      {"one label below", wire({"www", "old", "test"}), wire({"old", "test"}),
       wire({"new", "example"}), true, wire({"www", "new", "example"})},
      {"several labels below", wire({"a", "b", "old", "test"}), wire({"old", "test"}),
       wire({"new", "example"}), true, wire({"a", "b", "new", "example"})},
      {"the target keeps its case", wire({"www", "old", "test"}), wire({"old", "test"}),
       wire({"New", "Example"}), true, wire({"www", "New", "Example"})},
      {"a root target", wire({"www", "old", "test"}), wire({"old", "test"}), std::string(1, '\0'),
       true, wire({"www"})},
      {"a root owner", wire({"www", "test"}), std::string(1, '\0'), wire({"x"}), true,
       wire({"www", "test", "x"})},
      {"exactly 255 octets fit", long_prefix_name, wire({"o"}), wire({"t"}), true,
       wire({label62, label62, label62, label62, "t"})},
      {"256 octets are too long (YXDOMAIN)", long_prefix_name, wire({"o"}), wire({"tt"}), false,
       ""},
  };
  for (const DnameCase& c : cases) {
    CAPTURE(c.what);
    WireName out;
    out.size = 7;
    REQUIRE(substitute_dname(c.name, c.owner, c.target, out) == c.fits);
    if (!c.fits) {
      CHECK(out.size == 7);
      continue;
    }
    CHECK(std::string(out.view()) == c.expected);
    CHECK(out.labels == label_count(c.expected));
  }
}

TEST_CASE("one rcode table names the codes for explain and metrics alike") {
  struct Case {
    uint16_t rcode;
    const char* name;
  };
  for (const Case& c : {Case{rcode::NOERROR, "NOERROR"}, Case{rcode::NXDOMAIN, "NXDOMAIN"},
                        Case{rcode::YXDOMAIN, "YXDOMAIN"}, Case{rcode::BADVERS, "BADVERS"},
                        Case{9, "9"}}) {
    CAPTURE(c.rcode);
    CHECK(rcode_name(c.rcode) == c.name);
  }
  CHECK(rcode_position(rcode::YXDOMAIN) < kRcodeNames.size());
  CHECK(rcode_position(9) == kRcodeNames.size());
}

// The reference the lowerings are checked against, independent of them:
// byte by byte, from an explicit table of the 26 letters (RFC 4343: only
// ASCII letters fold; every other byte, length bytes included, stays).
uint8_t reference_lower(uint8_t byte) {
  constexpr std::string_view kUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  constexpr std::string_view kLower = "abcdefghijklmnopqrstuvwxyz";
  const size_t at = kUpper.find(static_cast<char>(byte));
  return at == std::string_view::npos ? byte : static_cast<uint8_t>(kLower[at]);
}

// The three lowerings of a wire name, each of `name`, as strings.
struct Lowered {
  std::string in_place;  // lowercase_name(uint8_t*, size_t)
  std::string copied;    // copy_lowercase_name
  std::string as_string; // lowercase_name(std::string_view)
};

Lowered lower_each_way(const std::string& name) {
  REQUIRE(name.size() <= kMaxNameLength);
  Lowered out;
  uint8_t bytes[kMaxNameLength + 1];
  std::memcpy(bytes, name.data(), name.size());
  bytes[name.size()] = 0xEE;
  lowercase_name(bytes, name.size());
  CHECK(bytes[name.size()] == 0xEE);  // nothing past the name is written
  out.in_place.assign(reinterpret_cast<const char*>(bytes), name.size());
  uint8_t copy[kMaxNameLength + 1];
  std::memset(copy, 0xEE, sizeof copy);
  copy_lowercase_name(reinterpret_cast<const uint8_t*>(name.data()), copy, name.size());
  CHECK(copy[name.size()] == 0xEE);
  out.copied.assign(reinterpret_cast<const char*>(copy), name.size());
  out.as_string = lowercase_name(std::string_view(name));
  return out;
}

TEST_CASE("wire name lowering - the letters of the labels and nothing else") {
  struct Case {
    const char* what;
    std::string name;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"mixed case", wire({"WwW", "Example", "COM"}), wire({"www", "example", "com"})},
      {"already lower", wire({"www", "example", "com"}), wire({"www", "example", "com"})},
      {"the root", std::string(1, '\0'), std::string(1, '\0')},
      {"next to the letters", wire({"@AZ[`az{"}), wire({"@az[`az{"})},
      {"digits hyphen underscore", wire({"_SIP-0-9", "_UDP"}), wire({"_sip-0-9", "_udp"})},
      {"high bit set", wire({"\xC1\xDA\x80\xFF\xE1"}), wire({"\xC1\xDA\x80\xFF\xE1"})},
      {"one word and a byte", wire({"ABCDEFG"}), wire({"abcdefg"})},
      {"two words", wire({"ABCDEF", "GHIJKLM"}), wire({"abcdef", "ghijklm"})},
      {"a label of 63", wire({std::string(63, 'Q'), "NeT"}), wire({std::string(63, 'q'), "net"})},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const Lowered lowered = lower_each_way(c.name);
    CHECK(lowered.in_place == c.expected);
    CHECK(lowered.copied == c.expected);
    CHECK(lowered.as_string == c.expected);
  }
}

TEST_CASE("wire name lowering agrees with a byte by byte reference on every byte value") {
  // Every byte value in a label, at every offset of the eight-byte words and
  // every tail length.
  for (size_t lead = 0; lead < 9; ++lead) {
    for (unsigned first = 0; first < 256; first += 37) {
      std::string name;
      name += static_cast<char>(lead + 1);
      for (size_t i = 0; i <= lead; ++i) name += static_cast<char>('A' + i);
      name += static_cast<char>(60);
      for (unsigned i = 0; i < 60; ++i) name += static_cast<char>((first + i * 5) & 0xFF);
      name += '\0';
      std::string expected = name;
      // Length bytes below 64 are no letters: the reference may lower every byte.
      for (char& byte : expected) byte = static_cast<char>(reference_lower(static_cast<uint8_t>(byte)));
      CAPTURE(lead);
      CAPTURE(first);
      const Lowered lowered = lower_each_way(name);
      CHECK(lowered.in_place == expected);
      CHECK(lowered.copied == expected);
      CHECK(lowered.as_string == expected);
    }
  }
}

}  // namespace
}  // namespace rotor::dns

TEST_SUITE_END();
