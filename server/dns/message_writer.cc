#include "server/dns/message_writer.h"

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

}  // namespace

void MessageWriter::write_header(uint16_t id, uint16_t flags) noexcept {
  std::memset(buffer_, 0, kHeaderSize);
  write_u16(buffer_, id);
  write_u16(buffer_ + 2, flags);
  size_ = kHeaderSize;
  entry_count_ = 0;
}

bool MessageWriter::put(const void* bytes, size_t size) noexcept {
  if (size_ + size > limit_) return false;
  std::memcpy(buffer_ + size_, bytes, size);
  size_ += size;
  return true;
}

bool MessageWriter::write_question(const WireName& name, uint16_t qtype,
                                   uint16_t qclass) noexcept {
  const Mark before = mark();
  if (!write_name(name.view(), true)) {
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

void MessageWriter::remember(size_t offset, unsigned labels) noexcept {
  if (offset >= 0x3FFF || entry_count_ == kMaxCompressionEntries) return;
  entries_[entry_count_++] = {static_cast<uint16_t>(offset), static_cast<uint8_t>(labels)};
}

bool MessageWriter::names_equal_at(size_t offset, std::string_view suffix) const noexcept {
  size_t pos = 0;
  // Names in the message were written by us, so pointers only go backwards;
  // the hop bound is a belt against our own bugs.
  for (int hops = 0; hops < 128;) {
    uint8_t len = buffer_[offset];
    if ((len & 0xC0) == 0xC0) {
      offset = (size_t{len & 0x3Fu} << 8) | buffer_[offset + 1];
      ++hops;
      continue;
    }
    if (static_cast<uint8_t>(suffix[pos]) != len) return false;
    if (len == 0) return true;
    for (uint8_t i = 1; i <= len; ++i) {
      if (ascii_lower(buffer_[offset + i]) != ascii_lower(static_cast<uint8_t>(suffix[pos + i])))
        return false;
    }
    offset += 1 + len;
    pos += 1 + len;
  }
  return false;
}

size_t MessageWriter::find_suffix(std::string_view suffix, unsigned labels) const noexcept {
  for (uint8_t i = 0; i < entry_count_; ++i) {
    if (entries_[i].labels == labels && names_equal_at(entries_[i].offset, suffix))
      return entries_[i].offset;
  }
  return SIZE_MAX;
}

bool MessageWriter::write_name(std::string_view name, bool compress) noexcept {
  unsigned labels = label_count(name);
  size_t pos = 0;
  while (labels > 0) {
    if (compress) {
      const size_t target = find_suffix(name.substr(pos), labels);
      if (target != SIZE_MAX) {
        uint8_t pointer[2];
        write_u16(pointer, static_cast<uint16_t>(0xC000 | target));
        return put(pointer, sizeof pointer);
      }
      remember(size_, labels);
    }
    const size_t label_size = static_cast<uint8_t>(name[pos]) + size_t{1};
    if (!put(name.data() + pos, label_size)) return false;
    pos += label_size;
    --labels;
  }
  const uint8_t root = 0;
  return put(&root, 1);
}

bool MessageWriter::write_record(Section section, Owner owner, uint16_t rrtype, uint16_t rrclass,
                                 uint32_t ttl, std::string_view rdata) noexcept {
  const Mark before = mark();
  bool ok;
  if (owner.is_question) {
    const uint8_t pointer[2] = {0xC0, static_cast<uint8_t>(kHeaderSize)};
    ok = put(pointer, sizeof pointer);
  } else {
    ok = write_name(owner.name, true);
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
      ok = write_name(rdata.substr(pos, length), true);
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
          entry_count_};
}

void MessageWriter::rollback(const Mark& mark) noexcept {
  size_ = mark.size;
  for (int i = 0; i < 3; ++i) write_u16(buffer_ + 6 + 2 * i, mark.counts[i]);
  entry_count_ = mark.compression_entries;
}

bool MessageWriter::append_raw_additional(const uint8_t* bytes, size_t size) noexcept {
  if (size_ + size > capacity_) return false;
  std::memcpy(buffer_ + size_, bytes, size);
  size_ += size;
  write_u16(buffer_ + 10, static_cast<uint16_t>(read_u16(buffer_ + 10) + 1));
  return true;
}

}  // namespace rotor::dns
