#pragma once
// Writes a DNS reply into a caller-owned buffer, compressing names (RFC 1035
// 4.1.4) against what the message already holds. Every append either fits
// within the limit or leaves the message as it was and returns false, so the
// answerer can stop at a whole-RRset boundary and set TC. No allocation, no
// exception; one writer per message, used by one thread.
//
// Compression: every name suffix written in place (not as a pointer) at an
// offset a pointer can reach (<= 0x3FFF) is remembered in a fixed table, keyed
// by its first label (compared without regard to case) and the table entry of
// the suffix after it, so a name is matched label by label from the root up,
// one hash probe per label, instead of being compared against every earlier
// name. A pointer goes to the first place a suffix was written, in the case it
// was written there. A name's suffixes enter the table when the next name is
// written, so the last name of a message is never hashed. When the table is
// full, later suffixes are not remembered and are written again in full: less
// compression, never a wrong pointer.

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
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

  // The question, with the name exactly as the client wrote it (its case):
  // a well-formed name with its `labels` counted, as read_name gives it.
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

  // Appends address records (A: RdataSize 4, AAAA: 16) owned by the
  // question, of one type and TTL, class IN, the RDATA of the i-th at
  // rdata_of(i) for i < count: as many as fit whole, in order; returns how
  // many. The bytes are the ones write_record writes for each (RDATA of
  // these types holds no name), but the fixed part is built once and no
  // record is checked against the limit on its own: an array answer's
  // records (issue 18: write_record was a quarter of such an answer).
  template <size_t RdataSize, typename RdataOf>
  size_t write_question_address_records(Section section, uint16_t rrtype, uint32_t ttl,
                                        size_t count, RdataOf&& rdata_of) noexcept {
    static_assert(RdataSize == 4 || RdataSize == 16);
    assert(rrtype == (RdataSize == 4 ? type::A : type::AAAA));
    constexpr size_t kRecordSize = 2 + 10 + RdataSize;
    const size_t room = limit_ > size_ ? (limit_ - size_) / kRecordSize : 0;
    if (count > room) count = room;
    uint8_t fixed[12] = {0xC0, static_cast<uint8_t>(kHeaderSize)};
    write_u16(fixed + 2, rrtype);
    write_u16(fixed + 4, rrclass::IN);
    write_u32(fixed + 6, ttl);
    write_u16(fixed + 10, static_cast<uint16_t>(RdataSize));
    uint8_t* at = buffer_ + size_;
    for (size_t i = 0; i < count; ++i, at += kRecordSize) {
      std::memcpy(at, fixed, sizeof fixed);
      std::memcpy(at + sizeof fixed, rdata_of(i), RdataSize);
    }
    size_ += count * kRecordSize;
    uint8_t* counter = buffer_ + 6 + 2 * static_cast<int>(section);
    write_u16(counter, static_cast<uint16_t>(read_u16(counter) + count));
    return count;
  }

  // The last name written in place, whose suffixes are not in the table yet
  // (see write_name); `labels` == 0: none.
  struct PendingName {
    uint16_t offset;
    uint8_t labels;  // written in place, before the pointer or the root
    uint8_t parent;  // the entry of what follows them (or kRoot)
    uint8_t slot;    // the empty slot its last label goes to, or kNoSlot
  };

  // A rollback point, to drop a partly written RRset.
  struct Mark {
    size_t size;
    uint16_t counts[3];
    uint8_t suffix_count;
    PendingName pending;
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

  // Appends records another writer encoded ahead of time (zones'
  // EncodedAuthority: a negative answer's authority section, written after a
  // question by a writer like this one) to `section`, counting `records`:
  // `bytes` as they are, but for the compression pointers at `pointers`
  // (offsets into `bytes`), each moved `shift` octets further, because the
  // question they were encoded after was that much shorter than this one.
  // Whole or not at all: false, with the message unchanged, when it does not
  // fit the limit. Its names are not remembered for compression, so a name
  // written after it is not compressed against them (the responder appends
  // nothing after it but the OPT record).
  bool append_encoded(Section section, std::string_view bytes, std::span<const uint16_t> pointers,
                      uint16_t shift, uint16_t records) noexcept;

  // The name suffixes the writer has remembered, with those of the last name
  // written (not remembered yet): what an encoded fragment records so that it
  // is copied only where the table would not have filled up (kMaxSuffixes).
  size_t remembered_suffixes() const noexcept { return size_t{suffix_count_} + pending_.labels; }

  // How many suffixes one message remembers, and the hash slots they live in
  // (a power of two, at least twice as many, so probes stay short and always
  // end at an empty slot).
  static constexpr size_t kMaxSuffixes = 64;
  static constexpr size_t kSuffixSlots = 128;
  // The highest offset a compression pointer can hold (14 bits).
  static constexpr size_t kMaxPointerTarget = 0x3FFF;

 private:
  // Entry numbers that are not entries: the root as a parent, and "none".
  static constexpr uint8_t kRoot = 0xFF;
  static constexpr uint8_t kMissing = 0xFE;
  static constexpr uint8_t kNoSlot = 0xFF;  // a PendingName whose slot was not looked for
  static_assert(kMaxSuffixes < kMissing && kSuffixSlots >= 2 * kMaxSuffixes &&
                (kSuffixSlots & (kSuffixSlots - 1)) == 0);

  // A suffix written in place at `offset`: the label there, then the suffix
  // of entry `parent` (or the root).
  struct Suffix {
    uint16_t offset;
    uint8_t parent;
    uint8_t slot;  // where it sits in slots_, to forget it on rollback
  };

  bool write_name(std::string_view name) noexcept;
  // The entry of the suffix made of `label` (a length byte, then its bytes)
  // followed by entry `parent`, or kMissing; `slot` ends where it was found,
  // or at the empty slot where it would go.
  uint8_t find_suffix(const uint8_t* label, uint8_t parent, size_t& slot) const noexcept;
  // The empty slot where a suffix not in the table goes.
  size_t empty_slot(const uint8_t* label, uint8_t parent) const noexcept;
  // Puts the pending name's suffixes into the table, shortest first.
  void remember_pending() noexcept;
  // Forgets every entry from `count` on, newest first (which leaves the open
  // addressing exactly as it was before they came).
  void forget_suffixes_from(uint8_t count) noexcept;
  bool put(const void* bytes, size_t size) noexcept;

  uint8_t* buffer_;
  size_t capacity_;
  size_t limit_;
  size_t size_ = 0;
  std::array<Suffix, kMaxSuffixes> suffixes_;  // the first suffix_count_ are in use
  // 0: empty, else a suffixes_ index + 1. Cleared when the first suffix goes
  // in (slots_clear_), not when the writer is made: most answers never get
  // there (see write_name), and clearing 128 bytes per message showed in
  // rotor_answer_bench. Rollbacks clear the slots they free.
  std::array<uint8_t, kSuffixSlots> slots_;
  bool slots_clear_ = false;
  uint8_t suffix_count_ = 0;
  PendingName pending_{};
};

}  // namespace rotor::dns
