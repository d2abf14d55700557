#pragma once
// Writes a DNS reply into a caller-owned buffer, compressing names (RFC 1035
// 4.1.4) against what the message already holds. Every append either fits
// within the limit or leaves the message as it was and returns false, so the
// answerer can stop at a whole-RRset boundary and set TC. No allocation.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/dns/wire.h"

namespace rotor::dns {

class MessageWriter {
 public:
  // `limit` is the most the message may grow to (≤ capacity).
  MessageWriter(uint8_t* buffer, size_t capacity, size_t limit) noexcept
      : buffer_(buffer), capacity_(capacity), limit_(limit <= capacity ? limit : capacity) {}

  size_t size() const noexcept { return size_; }
  uint8_t* data() noexcept { return buffer_; }
  void set_limit(size_t limit) noexcept { limit_ = limit <= capacity_ ? limit : capacity_; }
  size_t limit() const noexcept { return limit_; }

  // The header with all counts zero; the counts are filled as sections grow.
  void write_header(uint16_t id, uint16_t flags) noexcept;
  void set_flags(uint16_t flags) noexcept { write_u16(buffer_ + 2, flags); }
  uint16_t flags() const noexcept { return read_u16(buffer_ + 2); }

  // The question, with the name exactly as the client wrote it (its case).
  bool write_question(const WireName& name, uint16_t qtype, uint16_t qclass) noexcept;

  enum class Section : uint8_t { answer = 0, authority = 1, additional = 2 };

  // Where the owner name of a record comes from: the question (a pointer to
  // offset 12, which keeps the client's case) or a wire name.
  struct Owner {
    std::string_view name;  // used when !is_question
    bool is_question = false;
  };

  // Appends one record. Names inside RDATA of the RFC 1035 types that allow it
  // are compressed too. Returns false, with the message unchanged, if the
  // record does not fit.
  bool write_record(Section section, Owner owner, uint16_t type, uint16_t rrclass, uint32_t ttl,
                    std::string_view rdata) noexcept;

  // A rollback point, to drop a partly written RRset.
  struct Mark {
    size_t size;
    uint16_t counts[3];
    uint8_t compression_entries;
  };
  Mark mark() const noexcept;
  void rollback(const Mark& mark) noexcept;

  uint16_t count(Section section) const noexcept {
    return read_u16(buffer_ + 6 + 2 * static_cast<int>(section));
  }

  // Appends raw bytes (the OPT record is built by the caller) to the additional
  // section, counting one record. Ignores the limit but not the capacity: the
  // caller reserved room for it.
  bool append_raw_additional(const uint8_t* bytes, size_t size) noexcept;

 private:
  bool write_name(std::string_view name, bool compress) noexcept;
  size_t find_suffix(std::string_view suffix, unsigned labels) const noexcept;
  bool names_equal_at(size_t offset, std::string_view suffix) const noexcept;
  void remember(size_t offset, unsigned labels) noexcept;
  bool put(const void* bytes, size_t size) noexcept;

  static constexpr size_t kMaxCompressionEntries = 64;
  struct CompressionEntry {
    uint16_t offset;
    uint8_t labels;
  };

  uint8_t* buffer_;
  size_t capacity_;
  size_t limit_;
  size_t size_ = 0;
  CompressionEntry entries_[kMaxCompressionEntries];
  uint8_t entry_count_ = 0;
};

}  // namespace rotor::dns
