#pragma once
// Helpers of the dnssec unit tests: RRsets from presentation text and an
// independent check of an RRSIG with ldns (ldns_verify_rrsig_keylist_time).
// Single-threaded test code.

#include <cstdint>
#include <string>
#include <vector>

#include "server/dnssec/signer.h"
#include "zones/zone.h"

namespace rotor::dnssec::testing {

// An RRset of one owner and type from records in presentation form ("www.example.test.
// 300 IN A 192.0.2.1"); `owner` gets the first record's owner (wire, case kept).
zones::RRset rrset_from_text(const std::vector<std::string>& records, std::string& owner);

// The ldns verdict ("All OK" when good) on `signature` over the RRset given as
// text, checked at `now` against the DNSKEY records in `dnskeys` (presentation form).
std::string verify_with_ldns(const std::vector<std::string>& records, const Rrsig& signature,
                             const std::vector<std::string>& dnskeys, int64_t now);

}  // namespace rotor::dnssec::testing
