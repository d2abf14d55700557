#include "server/dns/wire.h"

#include <cassert>

namespace rotor::dns {

bool read_name(const uint8_t* packet, size_t packet_size, size_t& offset, WireName& out,
               bool lowercase) noexcept {
  if (!lowercase) {
    // A name without pointers (every question): its labels are walked, then
    // copied at once. Anything else (a pointer, a reserved label type, a name
    // too long or cut short) is left to the label-by-label loop below.
    size_t end = offset;
    uint8_t labels = 0;
    while (end < packet_size && end - offset < kMaxNameLength) {
      const uint8_t len = packet[end];
      if (len == 0) {
        const size_t size = end + 1 - offset;
        std::memcpy(out.bytes, packet + offset, size);
        out.size = static_cast<uint8_t>(size);
        out.labels = labels;
        offset = end + 1;
        return true;
      }
      if (len & 0xC0) break;
      end += 1 + len;
      ++labels;
    }
  }
  size_t pos = offset;
  size_t end_of_name_in_place = 0;  // where the caller resumes: after the first pointer
  bool jumped = false;
  // Every pointer must go strictly backwards, so a name can follow at most
  // packet_size pointers; this bound also stops loops.
  size_t lowest_target = pos;
  size_t written = 0;
  uint8_t labels = 0;
  for (;;) {
    if (pos >= packet_size) return false;
    const uint8_t len = packet[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= packet_size) return false;
      const size_t target = (size_t{len & 0x3Fu} << 8) | packet[pos + 1];
      if (target >= lowest_target) return false;  // forward, self or looping pointer
      lowest_target = target;
      if (!jumped) {
        end_of_name_in_place = pos + 2;
        jumped = true;
      }
      pos = target;
      continue;
    }
    if (len & 0xC0) return false;  // 0x40 and 0x80 label types are reserved
    if (written + 1 + len > kMaxNameLength) return false;
    if (pos + 1 + len > packet_size) return false;
    out.bytes[written++] = len;
    if (len == 0) break;
    const uint8_t* label = packet + pos + 1;
    if (lowercase) {
      for (uint8_t i = 0; i < len; ++i) out.bytes[written + i] = ascii_lower(label[i]);
    } else {
      std::memcpy(out.bytes + written, label, len);
    }
    written += len;
    ++labels;
    pos += 1 + len;
  }
  out.size = static_cast<uint8_t>(written);
  out.labels = labels;
  offset = jumped ? end_of_name_in_place : pos + 1;
  return true;
}

void copy_lowercase_name(const uint8_t* from, uint8_t* to, size_t size) noexcept {
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const auto lower = [](uint64_t word) noexcept {
    // Per byte, without carries between bytes: the high bit of `at_least_a`
    // is set when its low seven bits are >= 'A', of `past_z` when >= 'Z' + 1;
    // a byte with its own high bit set is no ASCII letter.
    const uint64_t low7 = word & ~kHigh;
    const uint64_t at_least_a = low7 + 0x3F3F3F3F3F3F3F3FULL;  // 0x80 - 'A'
    const uint64_t past_z = low7 + 0x2525252525252525ULL;      // 0x80 - ('Z' + 1)
    const uint64_t upper = at_least_a & ~past_z & ~word & kHigh;
    return word | (upper >> 2);  // 0x80 >> 2 == 0x20, the case bit
  };
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, from + i, 8);
    word = lower(word);
    std::memcpy(to + i, &word, 8);
  }
  if (i < size) {
    uint64_t word = 0;
    std::memcpy(&word, from + i, size - i);
    word = lower(word);
    std::memcpy(to + i, &word, size - i);
  }
}

void lowercase_name(uint8_t* name, size_t size) noexcept { copy_lowercase_name(name, name, size); }

size_t name_length(const uint8_t* name, size_t limit) noexcept {
  size_t pos = 0;
  while (pos < limit) {
    const uint8_t len = name[pos];
    if (len & 0xC0) return 0;
    if (len == 0) return pos + 1 <= kMaxNameLength ? pos + 1 : 0;
    pos += 1 + len;
  }
  return 0;
}

bool is_subdomain(std::string_view name, std::string_view ancestor) noexcept {
  if (ancestor.size() > name.size()) return false;
  size_t pos = 0;
  const size_t want = name.size() - ancestor.size();
  while (pos < want) pos += static_cast<uint8_t>(name[pos]) + 1;
  return pos == want && name.substr(pos) == ancestor;
}

unsigned label_count(std::string_view name) noexcept {
  unsigned count = 0;
  size_t pos = 0;
  while (pos < name.size() && name[pos] != 0) {
    pos += static_cast<uint8_t>(name[pos]) + 1;
    ++count;
  }
  return count;
}

bool substitute_dname(std::string_view name, std::string_view owner, std::string_view target,
                      WireName& out) noexcept {
  assert(is_subdomain(name, owner));
  const size_t prefix = name.size() - owner.size();
  if (prefix + target.size() > kMaxNameLength) return false;
  out.size = static_cast<uint8_t>(prefix + target.size());
  std::memcpy(out.bytes, name.data(), prefix);
  std::memcpy(out.bytes + prefix, target.data(), target.size());
  out.labels = static_cast<uint8_t>(label_count(out.view()));
  return true;
}

std::string lowercase_name(std::string_view name) {
  std::string out(name.size(), '\0');
  copy_lowercase_name(reinterpret_cast<const uint8_t*>(name.data()),
                      reinterpret_cast<uint8_t*>(out.data()), name.size());
  return out;
}

std::string rcode_name(uint16_t code) {
  const size_t position = rcode_position(code);
  if (position == kRcodeNames.size()) return std::to_string(code);
  return std::string(kRcodeNames[position].name);
}

}  // namespace rotor::dns
