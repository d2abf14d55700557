#pragma once
// Compact denial of existence (RFC 9824) as the query path and the denial
// signer exchange it: the NSEC a name that does not exist is denied with (its
// owner is the query name, the next name "\000.<qname>", the type bitmap
// RRSIG, NSEC and NXNAME), a request to sign such an NSEC, and the signed
// result. Both are fixed-size values (no heap), so the rings between a worker
// and the signer (server/common/spsc_ring.h) copy them without allocating.
//
// Thread-safety: plain values and pure functions. Errors: the builders return
// 0 when a name is too long for the record (the caller answers without it).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "zones/online_signer.h"

namespace rotor::dnssec {

inline constexpr uint16_t kTypeNsec = 47;
// RFC 9824 5: the meta-type that marks a compact NSEC as "this name does not exist".
inline constexpr uint16_t kTypeNxname = 128;
// The EDNS header flag "Compact Answers OK" (RFC 9824 5.1): the bit after DO.
inline constexpr uint16_t kEdnsFlagCo = 0x4000;

// An NSEC RDATA compact denial writes: a next name (at most 255 octets) and a
// bitmap of window 0 (at most 2 + 32 octets).
inline constexpr size_t kMaxNsecRdata = 255 + 34;
// An RRSIG RDATA of algorithm 13 or 15: 18 fixed octets, the signer's name,
// a 64-octet signature.
inline constexpr size_t kMaxRrsigRdata = 18 + 255 + 64;

// The NSEC RDATA denying `owner` (lower-case wire) with NXNAME: next name
// "\000.<owner>", bitmap RRSIG NSEC NXNAME. Writes into `out` (kMaxNsecRdata
// octets); returns its size, or 0 when "\000.<owner>" exceeds 255 octets.
size_t nxname_nsec_rdata(std::string_view owner, uint8_t* out) noexcept;

// A name of at most 255 octets, in place.
struct FixedName {
  uint8_t size = 0;
  uint8_t bytes[255];
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(bytes), size}; }
  void assign(std::string_view name) noexcept {
    size = static_cast<uint8_t>(name.size() > sizeof bytes ? sizeof bytes : name.size());
    std::memcpy(bytes, name.data(), size);
  }
};

// One NSEC RRset to sign: owner, TTL, RDATA, and the key that signs it.
struct DenialRecord {
  FixedName owner;  // lower-case wire
  uint32_t ttl = 0;
  uint16_t rdata_size = 0;
  uint8_t rdata[kMaxNsecRdata];
  std::string_view rdata_view() const noexcept {
    return {reinterpret_cast<const char*>(rdata), rdata_size};
  }
};

// Worker -> signer. `key` is the zone's signer (Zone::online_signer, which
// signs with the zone's active key); holding it keeps it alive while the
// request waits, whatever snapshot the worker moves on to.
struct DenialRequest {
  std::shared_ptr<const zones::OnlineSigner> key;
  DenialRecord record;
};

// Signer -> worker: the record signed by `key`. Holding the key keeps its
// address from being reused while a result is in flight or cached, so the
// worker may compare keys by address.
struct SignedDenial {
  std::shared_ptr<const zones::OnlineSigner> key;
  DenialRecord record;
  bool signed_ok = false;
  uint32_t expiration = 0;  // of the signature, Unix seconds (low 32 bits)
  uint16_t rrsig_size = 0;
  uint8_t rrsig[kMaxRrsigRdata];
  std::string_view rrsig_view() const noexcept {
    return {reinterpret_cast<const char*>(rrsig), rrsig_size};
  }
};

}  // namespace rotor::dnssec
