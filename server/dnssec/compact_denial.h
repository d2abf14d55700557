#pragma once
// Compact denial of existence (RFC 9824) as the query path and the denial
// signer exchange it: the NSEC a name that does not exist is denied with (its
// owner is the query name, the next name "\000.<qname>", the type bitmap
// RRSIG, NSEC and NXNAME), the same without NXNAME for an empty non-terminal
// that only instance arrays make, the NSECs a wildcard-synthesized answer needs (the
// "white lie" covering the next closer name, RFC 4470, and the NSEC of a
// wildcard NODATA owned by the query name), a request to sign such an NSEC,
// and the signed result. Both are fixed-size values (no heap), so the rings between a worker
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

// An NSEC RDATA compact denial writes: a next name (at most 255 octets) and
// bitmaps of up to two windows (2 + 32 octets each: window 0 and, for a
// wildcard NODATA, window 1's CAA and the like).
inline constexpr size_t kMaxNsecRdata = 255 + 2 * 34;
// An RRSIG RDATA of algorithm 13 or 15: 18 fixed octets, the signer's name,
// a 64-octet signature.
inline constexpr size_t kMaxRrsigRdata = 18 + 255 + 64;

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

// The NSEC RDATA denying `owner` (lower-case wire) with NXNAME: next name
// "\000.<owner>", bitmap RRSIG NSEC NXNAME. Writes into `out` (kMaxNsecRdata
// octets); returns its size, or 0 when "\000.<owner>" exceeds 255 octets.
size_t nxname_nsec_rdata(std::string_view owner, uint8_t* out) noexcept;

// The NSEC RDATA of an empty non-terminal the zone does not hold (a name with
// instance arrays below it and nothing else, arrays/array_table.h): next name
// "\000.<owner>", bitmap RRSIG NSEC, no NXNAME (the name exists, RFC 9824 3:
// the NODATA there), as a zone's own empty non-terminal has. Same contract
// as nxname_nsec_rdata.
size_t empty_nonterminal_nsec_rdata(std::string_view owner, uint8_t* out) noexcept;

// The RFC 4470 "white lie" a wildcard-synthesized answer carries (RFC 4035
// 3.1.3.3) in a zone denied compactly: an NSEC covering `next_closer` (the
// lower-case wire name one label below the closest encloser on the way to the
// query name, which does not exist, nor anything below it) and everything
// below it, and nothing else. Its owner, written to `owner`, is the canonical
// predecessor of `next_closer` (the largest name that sorts before it: the
// first label's last octet decremented, or dropped when it is 0, padded with
// 0xff to 63 octets, then the deepest 0xff labels 255 octets allow; for a
// first label "\000", the closest encloser itself); its next name is the
// first name after `next_closer`'s subtree: the first label with "\000"
// appended under the same parent, or, when there is no room for one more
// octet (a label of 63 octets, a name of 255), the label's successor (its
// last octet below 0xff incremented in lower-case order, what follows
// dropped); bitmap RRSIG NSEC. A validator finds the closest encloser from
// it as the wildcard's parent (RFC 4035 5.3.4). When the owner is a name of
// the zone the caller must not use it (it would deny that name's types):
// for a first label "\000" the owner is the encloser, whose own NSEC covers
// "\000.<encloser>" when it has a wildcard child (zones/dnssec.h,
// compact_nsec_rdata); any other owner that exists is a name of 254 or more
// octets, which has no NSEC at all. Writes the RDATA into `out`
// (kMaxNsecRdata octets) and returns its size, or 0 when there is no such
// NSEC: a first label of 63 octets 0xff (no successor) or a malformed name.
size_t covering_nsec(std::string_view next_closer, FixedName& owner, uint8_t* out) noexcept;

// The NSEC of a wildcard NODATA (RFC 9824 3: the synthesized name exists
// without the type): owned by the query name `qname`, next name
// "\000.<qname>", and the bitmaps of the wildcard's own NSEC RDATA
// `wildcard_nsec` (its types, RRSIG and NSEC). Returns the size written to
// `out`, or 0 when it would not fit or `wildcard_nsec` is malformed.
size_t wildcard_nodata_nsec_rdata(std::string_view qname, std::string_view wildcard_nsec,
                                  uint8_t* out) noexcept;

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
