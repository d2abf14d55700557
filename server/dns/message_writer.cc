#include "server/dns/message_writer.h"

#include <bit>

namespace rotor::dns {

namespace {

// Which RDATA layouts hold names that RFC 1035 (and RFC 3597 section 4) lets a
// server compress: the prefix before the first name and how many names follow.
struct CompressibleLayout {
  uint8_t prefix;
  uint8_t names;
};

bool compressible_layout(uint16_t rrtype, CompressibleLayout& layout) noexcept {
  switch (rrtype) {
    case type::NS:
    case type::CNAME:
    case type::PTR:
      layout = {0, 1};
      return true;
    case type::MX:
      layout = {2, 1};
      return true;
    case type::SOA:
      layout = {0, 2};
      return true;
    default:
      return false;
  }
}

// Whether two bytes of a label are equal, ignoring ASCII case.
bool same_letter(uint8_t x, uint8_t y) noexcept {
  return x == y || ((x ^ y) == 0x20 && static_cast<uint8_t>((x | 0x20) - 'a') < 26);
}

// Whether two labels (length byte first) are equal, ignoring ASCII case.
bool labels_equal(const uint8_t* a, const uint8_t* b) noexcept {
  const uint8_t length = a[0];
  if (length != b[0]) return false;
  for (uint8_t i = 1; i <= length; ++i) {
    if (!same_letter(a[i], b[i])) return false;
  }
  return true;
}

// The first hash slot of the suffix `label` + entry `parent`. It hashes the
// parent, the length and the first and last bytes of the label with the case
// bit set, not every byte: hashing whole labels cost more than the linear
// search it replaced did on small answers. Labels equal but for case hash
// alike; others that hash alike are told apart by labels_equal, so a
// collision costs a probe, never a wrong pointer.
size_t suffix_slot(const uint8_t* label, uint8_t parent) noexcept {
  const uint8_t length = label[0];  // 1..63: never the root
  const uint32_t key = uint32_t{parent} << 24 | uint32_t{length} << 16 |
                       uint32_t{label[1] | 0x20u} << 8 | uint32_t{label[length] | 0x20u};
  constexpr int kSlotBits = std::countr_zero(MessageWriter::kSuffixSlots);
  return (key * 0x9E3779B1u) >> (32 - kSlotBits);
}

}  // namespace

void MessageWriter::write_header(uint16_t id, uint16_t flags) noexcept {
  std::memset(buffer_, 0, kHeaderSize);
  write_u16(buffer_, id);
  write_u16(buffer_ + 2, flags);
  size_ = kHeaderSize;
  forget_suffixes_from(0);
  pending_.labels = 0;
}

bool MessageWriter::put(const void* bytes, size_t size) noexcept {
  if (size_ + size > limit_) return false;
  std::memcpy(buffer_ + size_, bytes, size);
  size_ += size;
  return true;
}

bool MessageWriter::write_question(const WireName& name, uint16_t qtype,
                                   uint16_t qclass) noexcept {
  assert(name_length(name.bytes, name.size) == name.size && name.labels == label_count(name.view()));
  if (size_ == kHeaderSize && suffix_count_ == 0 && pending_.labels == 0 &&
      size_ + name.size + 4 <= limit_) {
    // The first name of the message, as write_name would write it: in place
    // (nothing to point at yet), its suffixes pending. Once per answer.
    std::memcpy(buffer_ + size_, name.bytes, name.size);
    if (name.labels > 0) pending_ = {static_cast<uint16_t>(size_), name.labels, kRoot, kNoSlot};
    uint8_t* fixed = buffer_ + size_ + name.size;
    write_u16(fixed, qtype);
    write_u16(fixed + 2, qclass);
    size_ += name.size + 4;
    write_u16(buffer_ + 4, 1);
    return true;
  }
  const Mark before = mark();
  if (!write_name(name.view())) {
    rollback(before);
    return false;
  }
  uint8_t fixed[4];
  write_u16(fixed, qtype);
  write_u16(fixed + 2, qclass);
  if (!put(fixed, sizeof fixed)) {
    rollback(before);
    return false;
  }
  write_u16(buffer_ + 4, 1);
  return true;
}

uint8_t MessageWriter::find_suffix(const uint8_t* label, uint8_t parent,
                                   size_t& slot) const noexcept {
  for (slot = suffix_slot(label, parent);; slot = (slot + 1) & (kSuffixSlots - 1)) {
    const uint8_t held = slots_[slot];
    if (held == 0) return kMissing;  // there is always an empty slot: at most half are used
    const Suffix& suffix = suffixes_[held - 1];
    if (suffix.parent == parent && labels_equal(buffer_ + suffix.offset, label)) {
      return static_cast<uint8_t>(held - 1);
    }
  }
}

size_t MessageWriter::empty_slot(const uint8_t* label, uint8_t parent) const noexcept {
  size_t slot = suffix_slot(label, parent);
  while (slots_[slot] != 0) slot = (slot + 1) & (kSuffixSlots - 1);
  return slot;
}

void MessageWriter::remember_pending() noexcept {
  if (pending_.labels == 0) return;
  if (!slots_clear_) {
    slots_.fill(0);
    slots_clear_ = true;
  }
  uint8_t starts[kMaxNameLength / 2];
  size_t position = pending_.offset;
  for (uint8_t label = 0; label < pending_.labels; ++label) {
    starts[label] = static_cast<uint8_t>(position - pending_.offset);
    position += buffer_[position] + size_t{1};
  }
  // Shortest first: each suffix's parent is the one remembered before it. A
  // suffix left out (table full, or out of a pointer's reach) leaves the
  // longer ones out too, as they could not be found through it.
  uint8_t parent = pending_.parent;
  size_t slot = pending_.slot;
  for (size_t label = pending_.labels; label > 0; --label) {
    const size_t offset = pending_.offset + starts[label - 1];
    if (offset > kMaxPointerTarget || suffix_count_ == kMaxSuffixes) break;
    if (label != pending_.labels || slot == kNoSlot) slot = empty_slot(buffer_ + offset, parent);
    const uint8_t entry = suffix_count_++;
    suffixes_[entry] = {static_cast<uint16_t>(offset), parent, static_cast<uint8_t>(slot)};
    slots_[slot] = static_cast<uint8_t>(entry + 1);
    parent = entry;
  }
  pending_.labels = 0;
}

void MessageWriter::forget_suffixes_from(uint8_t count) noexcept {
  while (suffix_count_ > count) slots_[suffixes_[--suffix_count_].slot] = 0;
}

// A name's suffixes go into the table only when the next name is written
// (remember_pending), not as it is written: the last name of a message is
// never looked up, and in the commonest answer, records owned by the
// question's name with no names in their data, that is the question itself.
bool MessageWriter::write_name(std::string_view name) noexcept {
  remember_pending();
  const auto* bytes = reinterpret_cast<const uint8_t*>(name.data());
  // Where each label starts: a name of at most 255 bytes has at most 127
  // labels besides the root, each starting below 255.
  if (name.size() > kMaxNameLength) return put(bytes, name.size());  // not a name: as it is
  uint8_t starts[kMaxNameLength / 2];
  size_t labels = 0;
  size_t root = 0;  // the position of the root label
  while (root < name.size() && bytes[root] != 0) {
    starts[labels++] = static_cast<uint8_t>(root);
    root += bytes[root] + size_t{1};
  }
  if (root >= name.size()) return put(bytes, name.size());  // no root label: as it is
  // The longest suffix the table holds, matched from the root up; `slot` is
  // where the first label that did not match goes. An empty table (the
  // question, the first name) is not even looked at.
  uint8_t known = kRoot;
  size_t first_known = labels;
  size_t slot = kNoSlot;
  while (first_known > 0 && suffix_count_ > 0) {
    const uint8_t entry = find_suffix(bytes + starts[first_known - 1], known, slot);
    if (entry == kMissing) break;
    known = entry;
    --first_known;
  }
  const size_t at = size_;
  const size_t in_place = first_known < labels ? starts[first_known] : root;
  if (!put(bytes, in_place)) return false;
  if (known == kRoot) {
    const uint8_t root_label = 0;
    if (!put(&root_label, 1)) return false;
  } else {
    uint8_t pointer[2];
    write_u16(pointer, static_cast<uint16_t>(0xC000 | suffixes_[known].offset));
    if (!put(pointer, sizeof pointer)) return false;
  }
  if (first_known > 0 && at <= kMaxPointerTarget) {
    pending_ = {static_cast<uint16_t>(at), static_cast<uint8_t>(first_known), known,
                static_cast<uint8_t>(slot)};
  }
  return true;
}

bool MessageWriter::write_record(Section section, Owner owner, uint16_t rrtype, uint16_t rrclass,
                                 uint32_t ttl, std::string_view rdata) noexcept {
  const Mark before = mark();
  bool ok;
  if (owner.is_question) {
    const uint8_t pointer[2] = {0xC0, static_cast<uint8_t>(kHeaderSize)};
    ok = put(pointer, sizeof pointer);
  } else {
    ok = write_name(owner.name);
  }
  uint8_t fixed[10];
  write_u16(fixed, rrtype);
  write_u16(fixed + 2, rrclass);
  write_u32(fixed + 4, ttl);
  const size_t rdlength_at = size_ + 8;
  ok = ok && put(fixed, sizeof fixed);

  CompressibleLayout layout;
  if (ok && compressible_layout(rrtype, layout) && rdata.size() >= layout.prefix) {
    ok = put(rdata.data(), layout.prefix);
    size_t pos = layout.prefix;
    for (uint8_t n = 0; ok && n < layout.names; ++n) {
      const size_t length = name_length(reinterpret_cast<const uint8_t*>(rdata.data()) + pos,
                                        rdata.size() - pos);
      if (length == 0) {  // not a name after all: keep the bytes as they are
        break;
      }
      ok = write_name(rdata.substr(pos, length));
      pos += length;
    }
    ok = ok && put(rdata.data() + pos, rdata.size() - pos);
  } else if (ok) {
    ok = put(rdata.data(), rdata.size());
  }
  if (!ok) {
    rollback(before);
    return false;
  }
  write_u16(buffer_ + rdlength_at, static_cast<uint16_t>(size_ - rdlength_at - 2));
  uint8_t* counter = buffer_ + 6 + 2 * static_cast<int>(section);
  write_u16(counter, static_cast<uint16_t>(read_u16(counter) + 1));
  return true;
}

MessageWriter::Mark MessageWriter::mark() const noexcept {
  return {size_,
          {count(Section::answer), count(Section::authority), count(Section::additional)},
          suffix_count_, pending_};
}

void MessageWriter::rollback(const Mark& mark) noexcept {
  size_ = mark.size;
  for (int i = 0; i < 3; ++i) write_u16(buffer_ + 6 + 2 * i, mark.counts[i]);
  forget_suffixes_from(mark.suffix_count);
  pending_ = mark.pending;
}

bool MessageWriter::append_encoded(Section section, std::string_view bytes,
                                   std::span<const uint16_t> pointers, uint16_t shift,
                                   uint16_t records) noexcept {
  if (size_ + bytes.size() > limit_) return false;
  uint8_t* at = buffer_ + size_;
  std::memcpy(at, bytes.data(), bytes.size());
  for (const uint16_t pointer : pointers) {
    write_u16(at + pointer, static_cast<uint16_t>(read_u16(at + pointer) + shift));
  }
  size_ += bytes.size();
  uint8_t* counter = buffer_ + 6 + 2 * static_cast<int>(section);
  write_u16(counter, static_cast<uint16_t>(read_u16(counter) + records));
  return true;
}

bool MessageWriter::append_raw_additional(const uint8_t* bytes, size_t size) noexcept {
  if (size_ + size > capacity_) return false;
  std::memcpy(buffer_ + size_, bytes, size);
  size_ += size;
  write_u16(buffer_ + 10, static_cast<uint16_t>(read_u16(buffer_ + 10) + 1));
  return true;
}

}  // namespace rotor::dns
