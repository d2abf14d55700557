#pragma once
// Helpers of the dnssec unit tests: RRsets from presentation text and an
// independent check of an RRSIG with ldns (ldns_verify_rrsig_keylist_time).
// Single-threaded test code.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "server/dnssec/signer.h"
#include "zones/zone.h"

struct ldns_struct_rr_list;

namespace rotor::dnssec::testing {

// An RRset of one owner and type from records in presentation form ("www.example.test.
// 300 IN A 192.0.2.1"); `owner` gets the first record's owner (wire, case kept).
zones::RRset rrset_from_text(const std::vector<std::string>& records, std::string& owner);

// The ldns verdict ("All OK" when good) on `signature` over the RRset given as
// text, checked at `now` against the DNSKEY records in `dnskeys` (presentation form).
std::string verify_with_ldns(const std::vector<std::string>& records, const Rrsig& signature,
                             const std::vector<std::string>& dnskeys, int64_t now);

// The records of `type` at `owner` (presentation form) in a reply's
// `section`, and whether an RRSIG beside them verifies them with `keys`
// (ldns_verify_rrsig_keylist, against the real clock).
struct Checked {
  std::set<std::string> rdatas;    // the first RDATA field, presentation form
  std::vector<std::string> order;  // the same, in the reply's order
  uint32_t ttl = 0;
  size_t signatures = 0;
  bool verified = false;
  std::string failure;  // ldns's verdict on the last signature that failed
};
Checked check_rrset(ldns_struct_rr_list* section, const std::string& owner, uint16_t type,
                    const ldns_struct_rr_list* keys);

}  // namespace rotor::dnssec::testing
