#pragma once
// What a pre-signed zone (signed offline: ldns-signzone, dnssec-signzone,
// OpenDNSSEC) needs at query time, worked out once when the zone is built:
// which RRSIGs cover which RRset, the NSEC chain in canonical order (RFC 4034
// 6.1) and the NSEC3 chain by hash (RFC 5155), with each name's own NSEC3 and
// the one covering its wildcard. The query-time helpers here (canonical order,
// NSEC3 hashing of a name, cover lookups on Zone) are noexcept, allocate
// nothing and only read; index_dnssec runs on the builder's thread and may
// allocate. A zone is signed, as NSD decides it, when an RRSIG at the apex
// covers the DNSKEY RRset; it uses NSEC3 when an NSEC3PARAM at the apex (hash
// 1, flags 0) matches an NSEC3 record of the apex's hash with the SOA bit.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rotor::zones {

class Zone;
struct EncodedAuthority;

inline constexpr size_t kNsec3HashSize = 20;  // SHA-1

struct Nsec3Params {
  uint16_t iterations = 0;
  uint8_t salt_size = 0;
  uint8_t salt[255] = {};
};

// <0, 0, >0 as `a` sorts before, equal to or after `b` in canonical order.
// Both are well-formed lower-case wire names.
int canonical_compare(std::string_view a, std::string_view b) noexcept;

// The RFC 5155 5 hash of a lower-case wire name: SHA-1 over name and salt,
// then `iterations` more times over digest and salt. Fixed buffers only.
void nsec3_hash(std::string_view lower_name, const Nsec3Params& params,
                uint8_t (&out)[kNsec3HashSize]) noexcept;

// Builder side (allocates): the NSEC type bit maps (RFC 4034 4.1.2) of
// `types`, in any order, duplicates allowed.
std::string nsec_type_bitmaps(std::vector<uint16_t> types);
// The RDATA of the compact-denial NSEC (RFC 9824 3) owned by the lower-case
// wire name `owner`: next name "\000.<owner>", then the bit maps of `types`
// (the caller lists RRSIG and NSEC among them). The one builder of these
// records: the zone's names (ZoneBuilder) and array names (server/dnssec
// array_signer) both use it. Empty when "\000.<owner>" would pass 255
// octets: such a name (254 octets or more) gets no NSEC, since one whose
// next name is its owner would claim to cover every other name of the zone.
// With `covers_zero_child` the next name is "\000\000.<owner>" (when that
// fits 255 octets): for a name with a wildcard child and nothing at or below
// "\000.<owner>" (zero_child_covered below), whose NSEC must also cover
// "\000.<owner>": a wildcard expansion there needs a proof that the name
// does not exist literally, and nothing sorts between a name and
// "\000.<name>", so only the NSEC owned by the name itself can cover it
// (server/dnssec/compact_denial.h). One NSEC per name: the NODATA proof at
// the name and that wildcard proof are the same record, which validators
// cache by owner and would otherwise swap for each other.
std::string compact_nsec_rdata(std::string_view owner, std::vector<uint16_t> types,
                               bool covers_zero_child = false);
// Whether the compact NSEC of `lower_owner` covers "\000.<owner>" (above):
// `*.<owner>` is a name of `zone` and "\000.<owner>" is not.
bool zero_child_covered(const Zone& zone, std::string_view lower_owner);

// Fills in the zone's DNSSEC view: called by ZoneBuilder::finish after the
// index exists. Never fails: a zone that is not signed stays plain data.
void index_dnssec(Zone& zone);

// Encodes the negative answers of a signed zone (Node::nodata_authority,
// Node::nxdomain_authority) with a dns::MessageWriter, as the responder
// writes them record by record: NSEC zones and zones rotor signs; NSEC3
// zones are left to the query path. Called by ZoneBuilder::finish last,
// once the signatures are in place. An NSEC covering a missing name one
// label below the apex that a name in the SOA's RDATA ends in (the usual
// hostmaster.<apex>) gets no NXDOMAIN encoding: there the writer compresses
// that name against the query name itself. At most `budget` bytes (the
// encodings' sizes, zone.h negative_answer_budget): names are encoded in the
// zone's order while the next name's encodings fit, and the ones after that
// are counted in Zone::unencoded_negative_names.
void encode_negative_answers(Zone& zone, size_t budget);

// The authority section of a DO NODATA at an instance array's name `owner`
// (lower-case wire) in `zone`, whose NSEC is the array's own (compact
// denial, made with its signatures: server/dnssec/array_signer.h): the
// zone's SOA and its RRSIGs at `ttl`, then the NSEC with `nsec_rdata` and
// its RRSIG `nsec_rrsig`, at `ttl` too, as the responder writes them
// (add_negative, add_array_nsec) right after a question of `owner`. Empty
// when the zone has no SOA or it would not fit. Builder side: allocates.
EncodedAuthority encode_array_nodata(const Zone& zone, std::string_view owner, uint32_t ttl,
                                     const std::string& nsec_rdata, const std::string& nsec_rrsig);

}  // namespace rotor::zones
