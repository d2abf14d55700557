#include "server/dnssec/signer.h"

#include <ldns/ldns.h>

#include <chrono>
#include <memory>

#include "server/dns/wire.h"

namespace rotor::dnssec {
namespace {

struct RrListFree {
  void operator()(ldns_rr_list* list) const noexcept { ldns_rr_list_deep_free(list); }
};
struct KeyListFree {
  // The list only borrows the key.
  void operator()(ldns_key_list* list) const noexcept {
    ldns_key_list_set_key_count(list, 0);
    ldns_key_list_free(list);
  }
};
using RrList = std::unique_ptr<ldns_rr_list, RrListFree>;


// The RRset as an ldns list, each record parsed from its wire form.
RrList ldns_rrset(std::string_view owner_wire, const zones::RRset& rrset) {
  RrList list(ldns_rr_list_new());
  for (const std::string& rdata : rrset.rdatas) {
    std::string wire(owner_wire);
    dns::append_u16(wire, rrset.type);
    dns::append_u16(wire, dns::rrclass::IN);
    dns::append_u32(wire, rrset.ttl);
    dns::append_u16(wire, static_cast<uint16_t>(rdata.size()));
    wire += rdata;
    ldns_rr* rr = nullptr;
    size_t position = 0;
    if (ldns_wire2rr(&rr, reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), &position,
                     LDNS_SECTION_ANSWER) != LDNS_STATUS_OK) {
      return nullptr;
    }
    ldns_rr_list_push_rr(list.get(), rr);
  }
  return list;
}

}  // namespace

int64_t RrsetSigner::system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

RrsetSigner::RrsetSigner(Clock now) : now_(std::move(now)) {}

std::optional<Rrsig> RrsetSigner::sign(std::string_view owner_wire, const zones::RRset& rrset,
                                       const SigningKey& key) const {
  if (rrset.rdatas.empty()) return std::nullopt;
  const RrList records = ldns_rrset(owner_wire, rrset);
  if (!records) return std::nullopt;
  const int64_t now = now_();
  Rrsig signature;
  // RFC 4034 3.1.5: serial-number arithmetic, so the low 32 bits are the value.
  signature.inception = static_cast<uint32_t>(now - kInceptionBeforeNow);
  signature.expiration = static_cast<uint32_t>(now + kValidity);
  ldns_key_set_inception(key.ldns(), signature.inception);
  ldns_key_set_expiration(key.ldns(), signature.expiration);
  std::unique_ptr<ldns_key_list, KeyListFree> keys(ldns_key_list_new());
  ldns_key_list_push_key(keys.get(), key.ldns());
  const RrList signatures(ldns_sign_public(records.get(), keys.get()));
  if (!signatures || ldns_rr_list_rr_count(signatures.get()) != 1) return std::nullopt;
  signature.rdata = rdata_wire(ldns_rr_list_rr(signatures.get(), 0));
  if (signature.rdata.empty()) return std::nullopt;
  return signature;
}

std::vector<zones::RRset> apex_key_rrsets(const std::vector<SigningKey>& keys) {
  zones::RRset dnskey{kTypeDnskey, kDnskeyTtl, {}};
  zones::RRset cds{kTypeCds, kDnskeyTtl, {}};
  zones::RRset cdnskey{kTypeCdnskey, kDnskeyTtl, {}};
  for (const SigningKey& key : keys) {
    dnskey.rdatas.push_back(key.dnskey_rdata());
    cds.rdatas.push_back(key.ds_rdata());
    cdnskey.rdatas.push_back(key.dnskey_rdata());
  }
  return {dnskey, cds, cdnskey};
}

std::optional<RrsigHeader> read_rrsig_header(std::string_view rdata) noexcept {
  if (rdata.size() < 18) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(rdata.data());
  RrsigHeader header;
  header.type_covered = dns::read_u16(p);
  header.algorithm = p[2];
  header.labels = p[3];
  header.original_ttl = dns::read_u32(p + 4);
  header.expiration = dns::read_u32(p + 8);
  header.inception = dns::read_u32(p + 12);
  header.key_tag = dns::read_u16(p + 16);
  return header;
}

}  // namespace rotor::dnssec
