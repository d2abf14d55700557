#pragma once
// Test-side DNS messages built and read with ldns, so the query path is checked
// against a wire implementation it does not share code with.

#include <ldns/ldns.h>

#include <memory>
#include <string>
#include <vector>

namespace rotor::test {

struct LdnsPacketFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using LdnsPacket = std::unique_ptr<ldns_pkt, LdnsPacketFree>;

struct QueryOptions {
  bool edns = false;
  uint16_t udp_size = 1232;
  uint8_t version = 0;
  bool dnssec_ok = false;
  bool nsid = false;
  bool recursion_desired = true;
  uint16_t id = 0x4242;
};

inline std::vector<uint8_t> make_query(const std::string& name, ldns_rr_type type,
                                       const QueryOptions& options = {}) {
  ldns_pkt* raw = nullptr;
  if (ldns_pkt_query_new_frm_str(&raw, name.c_str(), type, LDNS_RR_CLASS_IN,
                                 options.recursion_desired ? LDNS_RD : 0) != LDNS_STATUS_OK)
    throw std::runtime_error("cannot build query for " + name);
  LdnsPacket packet(raw);
  ldns_pkt_set_id(raw, options.id);
  if (options.edns) {
    ldns_pkt_set_edns_udp_size(raw, options.udp_size);
    ldns_pkt_set_edns_version(raw, options.version);
    ldns_pkt_set_edns_do(raw, options.dnssec_ok);
    if (options.nsid) {
      // One empty NSID option (code 3, length 0).
      static const uint8_t nsid_option[4] = {0, 3, 0, 0};
      ldns_pkt_set_edns_data(raw, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 4, nsid_option));
    }
    // ldns only writes an OPT when some EDNS field is non-default.
    ldns_pkt_set_edns_udp_size(raw, options.udp_size);
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, raw, &size) != LDNS_STATUS_OK)
    throw std::runtime_error("cannot encode query");
  std::vector<uint8_t> bytes(wire, wire + size);
  free(wire);
  return bytes;
}

inline LdnsPacket parse_reply(const std::vector<uint8_t>& bytes) {
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, bytes.data(), bytes.size()) != LDNS_STATUS_OK) return nullptr;
  return LdnsPacket(raw);
}

// Records of one section as "owner ttl class type rdata", single-spaced.
inline std::vector<std::string> section_text(const ldns_pkt* packet, ldns_pkt_section section) {
  std::vector<std::string> out;
  ldns_rr_list* list = ldns_pkt_get_section_clone(packet, section);
  for (size_t i = 0; list != nullptr && i < ldns_rr_list_rr_count(list); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(list, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_OPT) continue;
    char* text = ldns_rr2str(rr);
    std::string line;
    bool space = false;
    for (const char* c = text; *c != '\0'; ++c) {
      if (*c == '\t' || *c == ' ' || *c == '\n') {
        space = true;
      } else {
        if (space && !line.empty()) line += ' ';
        space = false;
        line += *c;
      }
    }
    free(text);
    out.push_back(line);
  }
  ldns_rr_list_deep_free(list);
  return out;
}

}  // namespace rotor::test
