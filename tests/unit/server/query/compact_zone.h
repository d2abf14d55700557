#pragma once
// A small zone signed with a fresh key (SOA, NS, DNSKEY with their RRSIGs,
// and www) in a snapshot that lists it as signed online with compact denial,
// for the tests of late compact denial (query path and workers). Uses
// doctest's REQUIRE; single-threaded test code.

#include <doctest/doctest.h>
#include <ldns/ldns.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "server/dns/wire.h"
#include "server/dnssec/signer.h"
#include "server/snapshot/snapshot.h"
#include "zones/zone_file.h"

namespace rotor::test {

inline const char* const kCompactOrigin = "compact.test.";
inline const std::string kCompactOriginWire("\x07" "compact\x04test\x00", 14);

inline uint32_t now_seconds() { return static_cast<uint32_t>(std::time(nullptr)); }

// The record `rdata` of `type` at `owner` in presentation form, through ldns.
inline std::string record_text(std::string_view owner, uint16_t type, uint32_t ttl, std::string_view rdata) {
  std::string wire(owner);
  wire += static_cast<char>(type >> 8);
  wire += static_cast<char>(type & 0xff);
  wire += std::string("\x00\x01", 2);
  for (int shift = 24; shift >= 0; shift -= 8) wire += static_cast<char>((ttl >> shift) & 0xff);
  wire += static_cast<char>(rdata.size() >> 8);
  wire += static_cast<char>(rdata.size() & 0xff);
  wire += rdata;
  ldns_rr* rr = nullptr;
  size_t position = 0;
  REQUIRE(ldns_wire2rr(&rr, reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), &position,
                       LDNS_SECTION_ANSWER) == LDNS_STATUS_OK);
  char* text = ldns_rr2str(rr);
  std::string out(text);
  free(text);
  ldns_rr_free(rr);
  return out;
}

// A small zone signed by `key`: SOA, NS and DNSKEY with their RRSIGs (so the
// loader attaches the SOA's signature), and one name, www.
struct SignedZone {
  std::shared_ptr<const dnssec::SigningKey> key;
  std::shared_ptr<Snapshot> snapshot;
};

inline SignedZone make_compact_zone() {
  SignedZone out;
  out.key = std::make_shared<const dnssec::SigningKey>(dnssec::SigningKey::generate(
      kCompactOrigin, dnssec::kEcdsaP256Sha256, now_seconds(), now_seconds() - 10));
  const dnssec::RrsetSigner signer;
  std::string zone_text = "$ORIGIN compact.test.\n";
  auto add_signed = [&](uint16_t type, uint32_t ttl, const std::string& rdata_text) {
    const std::string line = std::string(kCompactOrigin) + " " + std::to_string(ttl) + " IN " + rdata_text;
    zone_text += line + "\n";
    ldns_rr* rr = nullptr;
    REQUIRE(ldns_rr_new_frm_str(&rr, line.c_str(), 0, nullptr, nullptr) == LDNS_STATUS_OK);
    uint8_t* wire = nullptr;
    size_t size = 0;
    ldns_buffer* buffer = ldns_buffer_new(512);
    REQUIRE(ldns_rr_rdata2buffer_wire(buffer, rr) == LDNS_STATUS_OK);
    wire = ldns_buffer_begin(buffer);
    size = ldns_buffer_position(buffer);
    const zones::RRset rrset{type, ttl, {std::string(reinterpret_cast<char*>(wire), size)}};
    ldns_buffer_free(buffer);
    ldns_rr_free(rr);
    const auto rrsig = signer.sign(kCompactOriginWire, rrset, *out.key);
    REQUIRE(rrsig);
    zone_text += record_text(kCompactOriginWire, dnssec::kTypeRrsig, ttl, rrsig->rdata) + "\n";
  };
  add_signed(dns::type::SOA, 3600, "SOA ns.compact.test. admin.compact.test. 1 3600 600 86400 300");
  std::string dnskey = out.key->dnskey_text().substr(out.key->dnskey_text().find("DNSKEY") + 7);
  while (!dnskey.empty() && (dnskey.back() == '\n' || dnskey.back() == ' ')) dnskey.pop_back();
  add_signed(dnssec::kTypeDnskey, 3600, "DNSKEY " + dnskey);
  zone_text += "@ 3600 IN NS ns.compact.test.\nns 3600 IN A 192.0.2.53\nwww 300 IN A 192.0.2.1\n";
  const std::string path = std::filesystem::temp_directory_path() /
                           ("rotor-compact-" + std::to_string(getpid()) + ".zone");
  std::ofstream(path) << zone_text;
  out.snapshot = std::make_shared<Snapshot>();
  out.snapshot->zones.add(zones::load_zone_file(path, kCompactOrigin));
  std::filesystem::remove(path);
  const zones::Zone* zone = out.snapshot->zones.find_authoritative(kCompactOriginWire);
  REQUIRE(zone != nullptr);
  REQUIRE(zone->is_signed());
  out.snapshot->online_denial.push_back({zone, out.key});
  return out;
}

}  // namespace rotor::test
