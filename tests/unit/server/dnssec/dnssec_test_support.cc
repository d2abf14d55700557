#include "tests/unit/server/dnssec/dnssec_test_support.h"

#include <cstdlib>
#include <stdexcept>

// After the standard headers: ldns defines bool, true and false for C.
#include <ldns/ldns.h>

namespace rotor::dnssec::testing {
namespace {

ldns_rr* parse(const std::string& text) {
  ldns_rr* rr = nullptr;
  if (ldns_rr_new_frm_str(&rr, text.c_str(), 3600, nullptr, nullptr) != LDNS_STATUS_OK) {
    throw std::runtime_error("test record does not parse: " + text);
  }
  return rr;
}

std::string rdata_of(const ldns_rr* rr) {
  ldns_buffer* buffer = ldns_buffer_new(512);
  ldns_rr_rdata2buffer_wire(buffer, rr);
  std::string wire(reinterpret_cast<const char*>(ldns_buffer_begin(buffer)),
                   ldns_buffer_position(buffer));
  ldns_buffer_free(buffer);
  return wire;
}

}  // namespace

zones::RRset rrset_from_text(const std::vector<std::string>& records, std::string& owner) {
  zones::RRset rrset;
  for (const std::string& text : records) {
    ldns_rr* rr = parse(text);
    if (owner.empty()) {
      owner.assign(reinterpret_cast<const char*>(ldns_rdf_data(ldns_rr_owner(rr))),
                   ldns_rdf_size(ldns_rr_owner(rr)));
      rrset.type = ldns_rr_get_type(rr);
      rrset.ttl = ldns_rr_ttl(rr);
    }
    rrset.rdatas.push_back(rdata_of(rr));
    ldns_rr_free(rr);
  }
  return rrset;
}

std::string verify_with_ldns(const std::vector<std::string>& records, const Rrsig& signature,
                             const std::vector<std::string>& dnskeys, int64_t now) {
  ldns_rr_list* rrset = ldns_rr_list_new();
  for (const std::string& text : records) ldns_rr_list_push_rr(rrset, parse(text));
  ldns_rr_list* keys = ldns_rr_list_new();
  for (const std::string& text : dnskeys) ldns_rr_list_push_rr(keys, parse(text));
  // The RRSIG record: the covered RRset's owner, class and TTL, our RDATA.
  const ldns_rr* first = ldns_rr_list_rr(rrset, 0);
  std::string wire(reinterpret_cast<const char*>(ldns_rdf_data(ldns_rr_owner(first))),
                   ldns_rdf_size(ldns_rr_owner(first)));
  const uint32_t ttl = ldns_rr_ttl(first);
  const uint8_t fixed[] = {0, 46, 0, 1, static_cast<uint8_t>(ttl >> 24),
                           static_cast<uint8_t>(ttl >> 16), static_cast<uint8_t>(ttl >> 8),
                           static_cast<uint8_t>(ttl),
                           static_cast<uint8_t>(signature.rdata.size() >> 8),
                           static_cast<uint8_t>(signature.rdata.size())};
  wire.append(reinterpret_cast<const char*>(fixed), sizeof fixed);
  wire += signature.rdata;
  ldns_rr* rrsig = nullptr;
  size_t position = 0;
  std::string verdict = "the RRSIG does not parse";
  if (ldns_wire2rr(&rrsig, reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), &position,
                   LDNS_SECTION_ANSWER) == LDNS_STATUS_OK) {
    ldns_rr_list* good_keys = ldns_rr_list_new();
    verdict = ldns_get_errorstr_by_id(
        ldns_verify_rrsig_keylist_time(rrset, rrsig, keys, static_cast<time_t>(now), good_keys));
    ldns_rr_list_free(good_keys);
    ldns_rr_free(rrsig);
  }
  ldns_rr_list_deep_free(rrset);
  ldns_rr_list_deep_free(keys);
  return verdict;
}

Checked check_rrset(ldns_rr_list* section, const std::string& owner, uint16_t type,
                    const ldns_rr_list* keys) {
  Checked out;
  ldns_rr_list* rrset = ldns_rr_list_new();
  std::vector<ldns_rr*> signatures;
  ldns_rdf* name = ldns_dname_new_frm_str(owner.c_str());
  for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(section, i);
    if (ldns_dname_compare(ldns_rr_owner(rr), name) != 0) continue;
    if (ldns_rr_get_type(rr) == type) {
      ldns_rr_list_push_rr(rrset, ldns_rr_clone(rr));
      char* text = ldns_rdf2str(ldns_rr_rdf(rr, 0));
      out.rdatas.insert(text);
      out.order.push_back(text);
      free(text);
      out.ttl = ldns_rr_ttl(rr);
    } else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG &&
               ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == type) {
      signatures.push_back(rr);
    }
  }
  ldns_rdf_deep_free(name);
  out.signatures = signatures.size();
  for (ldns_rr* signature : signatures) {
    ldns_rr_list* good = ldns_rr_list_new();  // gets the keys themselves: freed shallowly
    const ldns_status status = ldns_verify_rrsig_keylist(rrset, signature, keys, good);
    ldns_rr_list_free(good);
    if (status != LDNS_STATUS_OK) out.failure = ldns_get_errorstr_by_id(status);
    out.verified = out.verified || status == LDNS_STATUS_OK;
  }
  ldns_rr_list_deep_free(rrset);
  return out;
}

}  // namespace rotor::dnssec::testing
