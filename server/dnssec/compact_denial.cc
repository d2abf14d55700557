#include "server/dnssec/compact_denial.h"

#include <algorithm>

#include "server/dns/wire.h"

namespace rotor::dnssec {

namespace {

// "\000.<owner>" and the window-0 bitmap of `types` (ascending, below 256).
template <size_t N>
size_t compact_rdata(std::string_view owner, const uint16_t (&types)[N], uint8_t* out) noexcept {
  if (owner.empty() || owner.size() + 2 > 255) return 0;
  size_t size = 0;
  out[size++] = 1;  // the label "\000"
  out[size++] = 0;
  std::memcpy(out + size, owner.data(), owner.size());
  size += owner.size();
  const size_t bitmap_length = types[N - 1] / 8 + 1;
  out[size++] = 0;
  out[size++] = static_cast<uint8_t>(bitmap_length);
  uint8_t* bitmap = out + size;
  std::memset(bitmap, 0, bitmap_length);
  for (const uint16_t type : types) bitmap[type / 8] |= static_cast<uint8_t>(0x80 >> (type % 8));
  return size + bitmap_length;
}

}  // namespace

size_t nxname_nsec_rdata(std::string_view owner, uint8_t* out) noexcept {
  // Window 0 up to type 128 (NXNAME): 17 octets; RRSIG (46), NSEC (47).
  constexpr uint16_t kTypes[] = {46, 47, kTypeNxname};
  return compact_rdata(owner, kTypes, out);
}

size_t empty_nonterminal_nsec_rdata(std::string_view owner, uint8_t* out) noexcept {
  constexpr uint16_t kTypes[] = {46, 47};
  return compact_rdata(owner, kTypes, out);
}

namespace {

constexpr size_t kMaxLabel = 63;

// RFC 4034 6.1 orders names as lower case: after a decrement, an upper-case
// letter would sort as its lower-case self; the largest octet below 'A'..'Z'
// in that order is '@'.
uint8_t lower_case_predecessor(uint8_t octet) noexcept {
  const auto before = static_cast<uint8_t>(octet - 1);
  return before >= 'A' && before <= 'Z' ? static_cast<uint8_t>('@') : before;
}

// The same for an increment (`octet` < 0xff): the smallest octet above '@'
// in that order is '[', since 'A'..'Z' sort as 'a'..'z'.
uint8_t lower_case_successor(uint8_t octet) noexcept {
  if (octet >= 'A' && octet <= 'Z') octet = static_cast<uint8_t>(octet - 'A' + 'a');
  const auto after = static_cast<uint8_t>(octet + 1);
  return after >= 'A' && after <= 'Z' ? static_cast<uint8_t>('[') : after;
}

}  // namespace

size_t covering_nsec(std::string_view next_closer, FixedName& owner, uint8_t* out) noexcept {
  const auto* name = reinterpret_cast<const uint8_t*>(next_closer.data());
  if (next_closer.size() < 2 || next_closer.size() > dns::kMaxNameLength) return 0;
  const size_t label = name[0];
  if (label == 0 || label > kMaxLabel || next_closer.size() < 1 + label + 1) return 0;
  const std::string_view parent = next_closer.substr(1 + label);
  const uint8_t last = name[label];

  // Next name: the first name after every name at or below next_closer.
  // With room for one more octet in the label and in the name, that is the
  // label with "\000" appended; without (a label of 63 octets, a name of 255),
  // no name extends the label, so it is the label's successor: its last
  // octet below 0xff incremented (in lower-case order) and what follows it
  // dropped. A label of 63 octets 0xff has no successor under its parent.
  uint8_t next_label[kMaxLabel];
  size_t next_size = label;
  std::memcpy(next_label, name + 1, label);
  if (label < kMaxLabel && next_closer.size() < dns::kMaxNameLength) {
    next_label[next_size++] = 0;
  } else {
    while (next_size > 0 && next_label[next_size - 1] == 0xff) --next_size;
    if (next_size == 0) return 0;
    next_label[next_size - 1] = lower_case_successor(next_label[next_size - 1]);
  }

  uint8_t* at = owner.bytes;
  if (label == 1 && last == 0) {
    // "\000" is the first name below its parent: its predecessor is the
    // parent itself (the closest encloser, a name of the zone; the caller
    // gives the NSEC that name's types).
    std::memcpy(at, parent.data(), parent.size());
    at += parent.size();
  } else {
    // The largest label below the first one, under the same parent.
    uint8_t previous[kMaxLabel];
    size_t previous_size = label - 1;
    std::memcpy(previous, name + 1, previous_size);
    if (last != 0) {
      previous[previous_size++] = lower_case_predecessor(last);
      const size_t room = std::min(kMaxLabel, dns::kMaxNameLength - 1 - parent.size());
      while (previous_size < room) previous[previous_size++] = 0xff;
    }
    // Then the deepest name below it: labels of 0xff, as long as they can
    // be, outermost first (a longer label sorts after every shorter one).
    size_t size = 1 + previous_size + parent.size();
    size_t depth_labels[dns::kMaxNameLength / 2];
    size_t depth = 0;
    while (dns::kMaxNameLength - size >= 2) {
      const size_t length = std::min(kMaxLabel, dns::kMaxNameLength - size - 1);
      depth_labels[depth++] = length;
      size += 1 + length;
    }
    for (size_t i = depth; i > 0; --i) {  // the deepest label is written first
      *at++ = static_cast<uint8_t>(depth_labels[i - 1]);
      std::memset(at, 0xff, depth_labels[i - 1]);
      at += depth_labels[i - 1];
    }
    *at++ = static_cast<uint8_t>(previous_size);
    std::memcpy(at, previous, previous_size);
    at += previous_size;
    std::memcpy(at, parent.data(), parent.size());
    at += parent.size();
  }
  owner.size = static_cast<uint8_t>(at - owner.bytes);

  size_t rdata = 0;
  out[rdata++] = static_cast<uint8_t>(next_size);
  std::memcpy(out + rdata, next_label, next_size);
  rdata += next_size;
  std::memcpy(out + rdata, parent.data(), parent.size());
  rdata += parent.size();
  // Window 0 up to NSEC (47): 6 octets; RRSIG (46), NSEC (47).
  out[rdata++] = 0;
  out[rdata++] = 6;
  std::memset(out + rdata, 0, 6);
  out[rdata + 5] = 0x03;
  return rdata + 6;
}

size_t wildcard_nodata_nsec_rdata(std::string_view qname, std::string_view wildcard_nsec,
                                  uint8_t* out) noexcept {
  if (qname.empty() || qname.size() + 2 > dns::kMaxNameLength) return 0;
  const size_t next = dns::name_length(reinterpret_cast<const uint8_t*>(wildcard_nsec.data()),
                                       wildcard_nsec.size());
  if (next == 0) return 0;
  const std::string_view bitmaps = wildcard_nsec.substr(next);
  if (qname.size() + 2 + bitmaps.size() > kMaxNsecRdata) return 0;
  size_t size = 0;
  out[size++] = 1;  // the label "\000"
  out[size++] = 0;
  std::memcpy(out + size, qname.data(), qname.size());
  size += qname.size();
  std::memcpy(out + size, bitmaps.data(), bitmaps.size());
  return size + bitmaps.size();
}

}  // namespace rotor::dnssec
