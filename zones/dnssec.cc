#include "zones/dnssec.h"

#include <ldns/sha1.h>

#include <algorithm>
#include <vector>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "server/dns/message_writer.h"
#include "server/dns/wire.h"
#include "zones/zone.h"

namespace rotor::zones {

namespace {

constexpr size_t kMaxLabels = 128;
constexpr uint8_t kNsec3Sha1 = 1;

// Offsets of the labels of a well-formed wire name, root excluded.
size_t label_offsets(std::string_view name, uint8_t (&offsets)[kMaxLabels]) noexcept {
  size_t count = 0;
  size_t at = 0;
  while (at < name.size() && name[at] != 0 && count < kMaxLabels) {
    offsets[count++] = static_cast<uint8_t>(at);
    at += static_cast<uint8_t>(name[at]) + size_t{1};
  }
  return count;
}

// RFC 4648 base32 with the extended hex alphabet, either case; nullopt when
// `text` is not exactly one NSEC3 hash.
bool base32hex_hash(std::string_view text, uint8_t (&out)[kNsec3HashSize]) noexcept {
  if (text.size() != kNsec3HashSize * 8 / 5) return false;
  uint64_t bits = 0;
  size_t bit_count = 0;
  size_t written = 0;
  for (const char c : text) {
    int value;
    if (c >= '0' && c <= '9') value = c - '0';
    else if (c >= 'a' && c <= 'v') value = c - 'a' + 10;
    else if (c >= 'A' && c <= 'V') value = c - 'A' + 10;
    else return false;
    bits = (bits << 5) | static_cast<uint64_t>(value);
    bit_count += 5;
    if (bit_count >= 8) {
      bit_count -= 8;
      out[written++] = static_cast<uint8_t>(bits >> bit_count);
    }
  }
  return written == kNsec3HashSize;
}

// NSEC3 and NSEC3PARAM RDATA start alike: hash, flags, iterations, salt.
struct Nsec3Fields {
  uint8_t algorithm;
  uint8_t flags;
  Nsec3Params params;
  std::string_view rest;  // NSEC3: next hashed owner and the type bitmaps
};

std::optional<Nsec3Fields> nsec3_fields(std::string_view rdata) {
  if (rdata.size() < 5) return std::nullopt;
  const auto* bytes = reinterpret_cast<const uint8_t*>(rdata.data());
  Nsec3Fields fields{.algorithm = bytes[0], .flags = bytes[1], .params = {}, .rest = {}};
  fields.params.iterations = dns::read_u16(bytes + 2);
  fields.params.salt_size = bytes[4];
  if (rdata.size() < 5u + fields.params.salt_size) return std::nullopt;
  std::memcpy(fields.params.salt, bytes + 5, fields.params.salt_size);
  fields.rest = rdata.substr(5 + fields.params.salt_size);
  return fields;
}

bool same_params(const Nsec3Params& a, const Nsec3Params& b) noexcept {
  return a.iterations == b.iterations && a.salt_size == b.salt_size &&
         std::memcmp(a.salt, b.salt, a.salt_size) == 0;
}

// An NSEC3 record with these parameters whose bitmap's window 0 has SOA.
bool nsec3_matches(std::string_view rdata, const Nsec3Params& params, bool with_soa) {
  const auto fields = nsec3_fields(rdata);
  if (!fields || fields->algorithm != kNsec3Sha1 || !same_params(fields->params, params)) {
    return false;
  }
  if (!with_soa) return true;
  const std::string_view rest = fields->rest;
  if (rest.empty()) return false;
  const size_t hash_size = static_cast<uint8_t>(rest[0]);
  const std::string_view bitmap = rest.substr(std::min(rest.size(), 1 + hash_size));
  return bitmap.size() >= 3 && bitmap[0] == 0 && (static_cast<uint8_t>(bitmap[2]) & 0x02) != 0;
}

void attach_signatures(std::deque<Node>& nodes) {
  for (Node& node : nodes) {
    for (RRset& rrset : node.rrsets) {
      if (rrset.type == dns::type::RRSIG) continue;
      for (const Signature& signature : node.rrsigs) {
        if (signature.covered() != rrset.type) continue;
        if (rrset.signatures.empty()) rrset.signature_ttl = signature.ttl;
        rrset.signatures.push_back(signature.rdata);
      }
    }
  }
}

// The apex's NSEC3PARAM that an NSEC3 of the apex's hash with SOA confirms.
std::optional<Nsec3Params> zone_nsec3_params(const Zone& zone,
                                             const std::vector<std::pair<std::string, const Node*>>&
                                                 hashed) {
  const RRset* params = zone.apex().find(dns::type::NSEC3PARAM);
  if (params == nullptr) return std::nullopt;
  for (const std::string& rdata : params->rdatas) {
    const auto fields = nsec3_fields(rdata);
    if (!fields || fields->algorithm != kNsec3Sha1 || fields->flags != 0) continue;
    uint8_t apex_hash[kNsec3HashSize];
    nsec3_hash(zone.origin(), fields->params, apex_hash);
    const std::string key(reinterpret_cast<const char*>(apex_hash), kNsec3HashSize);
    for (const auto& [hash, node] : hashed) {
      if (hash != key) continue;
      const RRset* nsec3 = node->find(dns::type::NSEC3);
      for (const std::string& record : nsec3->rdatas) {
        if (nsec3_matches(record, fields->params, true)) return fields->params;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

int canonical_compare(std::string_view a, std::string_view b) noexcept {
  uint8_t a_labels[kMaxLabels];
  uint8_t b_labels[kMaxLabels];
  const size_t a_count = label_offsets(a, a_labels);
  const size_t b_count = label_offsets(b, b_labels);
  for (size_t i = 1; i <= std::min(a_count, b_count); ++i) {
    const size_t a_at = a_labels[a_count - i];
    const size_t b_at = b_labels[b_count - i];
    const size_t a_size = static_cast<uint8_t>(a[a_at]);
    const size_t b_size = static_cast<uint8_t>(b[b_at]);
    const int order = std::memcmp(a.data() + a_at + 1, b.data() + b_at + 1, std::min(a_size, b_size));
    if (order != 0) return order;
    if (a_size != b_size) return a_size < b_size ? -1 : 1;
  }
  if (a_count == b_count) return 0;
  return a_count < b_count ? -1 : 1;
}

void nsec3_hash(std::string_view lower_name, const Nsec3Params& params,
                uint8_t (&out)[kNsec3HashSize]) noexcept {
  uint8_t input[dns::kMaxNameLength + 255];
  const size_t name_size = std::min(lower_name.size(), dns::kMaxNameLength);
  std::memcpy(input, lower_name.data(), name_size);
  std::memcpy(input + name_size, params.salt, params.salt_size);
  ldns_sha1(input, static_cast<unsigned>(name_size + params.salt_size), out);
  for (uint16_t i = 0; i < params.iterations; ++i) {
    std::memcpy(input, out, kNsec3HashSize);
    std::memcpy(input + kNsec3HashSize, params.salt, params.salt_size);
    ldns_sha1(input, static_cast<unsigned>(kNsec3HashSize + params.salt_size), out);
  }
}

const Node* Zone::covering_nsec(std::string_view lower_wire_name) const noexcept {
  const auto after = std::upper_bound(
      canonical_.begin(), canonical_.end(), lower_wire_name,
      [](std::string_view name, const Node* node) { return canonical_compare(name, node->name) < 0; });
  if (after == canonical_.begin()) return nullptr;
  return nsec_before_[static_cast<size_t>(after - canonical_.begin()) - 1];
}

const Node* Zone::nsec3_cover_hash(const uint8_t (&hash)[kNsec3HashSize],
                                   bool& exact) const noexcept {
  exact = false;
  if (nsec3_chain_.empty()) return nullptr;
  const auto after = std::upper_bound(
      nsec3_chain_.begin(), nsec3_chain_.end(), hash, [](const uint8_t* h, const Nsec3Link& link) {
        return std::memcmp(h, link.hash, kNsec3HashSize) < 0;
      });
  // Before the first hash: the last NSEC3 covers the wrap-around.
  if (after == nsec3_chain_.begin()) return nsec3_chain_.back().node;
  const Nsec3Link& link = *(after - 1);
  exact = std::memcmp(link.hash, hash, kNsec3HashSize) == 0;
  return link.node;
}

const Node* Zone::nsec3_cover(std::string_view lower_wire_name, bool& exact) const noexcept {
  uint8_t hash[kNsec3HashSize];
  nsec3_hash(lower_wire_name, nsec3_params_, hash);
  return nsec3_cover_hash(hash, exact);
}

std::string nsec_type_bitmaps(std::vector<uint16_t> types) {
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  std::string out;
  for (size_t i = 0; i < types.size();) {
    const uint8_t window = static_cast<uint8_t>(types[i] >> 8);
    uint8_t bits[32] = {};
    size_t length = 0;
    for (; i < types.size() && (types[i] >> 8) == window; ++i) {
      const uint8_t low = static_cast<uint8_t>(types[i] & 0xFF);
      bits[low / 8] = static_cast<uint8_t>(bits[low / 8] | (0x80 >> (low % 8)));
      length = low / 8 + size_t{1};
    }
    out += static_cast<char>(window);
    out += static_cast<char>(length);
    out.append(reinterpret_cast<const char*>(bits), length);
  }
  return out;
}

std::string compact_nsec_rdata(std::string_view owner, std::vector<uint16_t> types,
                               bool covers_zero_child) {
  if (owner.size() + 2 > dns::kMaxNameLength) return {};
  const bool wide = covers_zero_child && owner.size() + 3 <= dns::kMaxNameLength;
  std::string rdata = wide ? std::string("\x02\x00\x00", 3) : std::string("\x01\x00", 2);
  rdata.append(owner);
  return rdata + nsec_type_bitmaps(std::move(types));
}

bool zero_child_covered(const Zone& zone, std::string_view lower_owner) {
  const Node* node = zone.find(lower_owner);
  if (node == nullptr || !node->has_wildcard_child) return false;
  return zone.find(std::string("\x01\x00", 2).append(lower_owner)) == nullptr;
}

void index_dnssec(Zone& zone) {
  for (const Signature& signature : zone.apex_->rrsigs) {
    if (signature.covered() == dns::type::DNSKEY) zone.signed_ = true;
  }
  if (!zone.signed_) return;
  attach_signatures(zone.nodes_);

  for (const Node& node : zone.nodes_) zone.canonical_.push_back(&node);
  std::sort(zone.canonical_.begin(), zone.canonical_.end(), [](const Node* a, const Node* b) {
    return canonical_compare(a->name, b->name) < 0;
  });
  const Node* last_nsec = nullptr;
  for (const Node* node : zone.canonical_) {
    if (node->find(dns::type::NSEC) != nullptr) last_nsec = node;
    zone.nsec_before_.push_back(last_nsec);
  }

  // Hashed owners: one base32hex label right below the apex, with NSEC3.
  std::vector<std::pair<std::string, const Node*>> hashed;
  for (const Node& node : zone.nodes_) {
    if (node.find(dns::type::NSEC3) == nullptr) continue;
    uint8_t hash[kNsec3HashSize];
    if (node.name.size() < 2 || node.name.substr(node.name[0] + 1u) != zone.origin_) continue;
    if (!base32hex_hash(std::string_view(node.name).substr(1, static_cast<uint8_t>(node.name[0])),
                        hash)) {
      continue;
    }
    hashed.emplace_back(std::string(reinterpret_cast<const char*>(hash), kNsec3HashSize), &node);
  }
  const auto params = zone_nsec3_params(zone, hashed);
  if (!params) {
    zone.denial_ = zone.apex_->find(dns::type::NSEC) != nullptr ? Zone::Denial::nsec
                                                                 : Zone::Denial::none;
    return;
  }
  zone.denial_ = Zone::Denial::nsec3;
  zone.nsec3_params_ = *params;
  for (const auto& [hash, node] : hashed) {
    const RRset* nsec3 = node->find(dns::type::NSEC3);
    const bool usable = std::any_of(nsec3->rdatas.begin(), nsec3->rdatas.end(),
                                    [&](const std::string& r) { return nsec3_matches(r, *params, false); });
    if (!usable) continue;
    Zone::Nsec3Link link{};
    std::memcpy(link.hash, hash.data(), kNsec3HashSize);
    link.node = node;
    zone.nsec3_chain_.push_back(link);
  }
  std::sort(zone.nsec3_chain_.begin(), zone.nsec3_chain_.end(),
            [](const Zone::Nsec3Link& a, const Zone::Nsec3Link& b) {
              return std::memcmp(a.hash, b.hash, kNsec3HashSize) < 0;
            });
  for (Node& node : zone.nodes_) {
    if (node.nsec3_only || node.below_delegation) continue;
    node.nsec3 = zone.nsec3_cover(node.name, node.nsec3_exact);
    if (node.name.size() + 2 <= dns::kMaxNameLength) {
      const std::string wildcard = std::string("\x01*", 2) + node.name;
      bool exact = false;
      node.nsec3_wildcard = zone.nsec3_cover(wildcard, exact);
    }
  }
}

namespace {

// Notes the offset of a compression pointer ending the name at `position`
// in `bytes` and moves past the name; false when it runs out.
bool skip_encoded_name(std::string_view bytes, size_t& position, std::vector<uint16_t>& pointers) {
  while (position < bytes.size()) {
    const auto length = static_cast<uint8_t>(bytes[position]);
    if (length == 0) {
      ++position;
      return true;
    }
    if ((length & 0xC0) == 0xC0) {
      pointers.push_back(static_cast<uint16_t>(position));
      position += 2;
      return position <= bytes.size();
    }
    position += length + size_t{1};
  }
  return false;
}

// The compression pointers of records as MessageWriter writes the ones
// encoded here (SOA, RRSIG, NSEC): in owner names and the SOA's two names,
// nowhere else (it compresses no other RDATA of these types).
bool find_pointers(std::string_view bytes, std::vector<uint16_t>& pointers) {
  size_t position = 0;
  while (position < bytes.size()) {
    if (!skip_encoded_name(bytes, position, pointers) || position + 10 > bytes.size()) return false;
    const auto* fixed = reinterpret_cast<const uint8_t*>(bytes.data()) + position;
    const uint16_t type = dns::read_u16(fixed);
    const size_t end = position + 10 + dns::read_u16(fixed + 8);
    position += 10;
    if (type == dns::type::SOA) {
      for (int name = 0; name < 2; ++name) {
        if (!skip_encoded_name(bytes, position, pointers)) return false;
      }
    }
    if (end > bytes.size() || position > end) return false;
    position = end;
  }
  return true;
}

// Records written by `write_records` into the authority section of a
// dns::MessageWriter right after a question of `question`, as the responder
// writes them there: the bytes, their compression pointers and what the
// writer held; empty when a record failed or they would not fit where a
// pointer reaches. `write_records(writer)` returns false when one failed.
template <typename WriteRecords>
EncodedAuthority encode_after_question(std::string_view question, const WriteRecords& write_records) {
  EncodedAuthority out;
  // Not zeroed (a std::vector would clear 64 KiB for each of a zone's names
  // and each array NSEC signature): the writer reads only what it wrote.
  const std::unique_ptr<uint8_t[]> buffer(new uint8_t[dns::kMaxMessage]);
  dns::MessageWriter writer(buffer.get(), dns::kMaxMessage, dns::kMaxMessage);
  writer.write_header(0, 0);
  dns::WireName name;
  std::memcpy(name.bytes, question.data(), question.size());
  name.size = static_cast<uint8_t>(question.size());
  name.labels = static_cast<uint8_t>(dns::label_count(question));
  writer.write_question(name, dns::type::A, dns::rrclass::IN);
  const size_t start = writer.size();
  const bool ok = write_records(writer);
  const std::string_view bytes(reinterpret_cast<const char*>(buffer.get()) + start,
                               writer.size() - start);
  // Copied after a question of up to 255 octets, every pointer must still
  // reach what it points at (14 bits).
  const size_t farthest = dns::kHeaderSize + dns::kMaxNameLength + 4 + bytes.size();
  if (!ok || farthest > dns::MessageWriter::kMaxPointerTarget ||
      writer.remembered_suffixes() > 0xFF || !find_pointers(bytes, out.pointers)) {
    out.pointers.clear();
    return out;
  }
  out.bytes.assign(bytes);
  out.records = writer.count(dns::MessageWriter::Section::authority);
  out.suffixes = static_cast<uint8_t>(writer.remembered_suffixes());
  return out;
}

// Writes `rdatas` of `type` owned by `owner` at `ttl`, then `signatures` at
// `signature_ttl`, into the authority section, as the responder's add_rrset
// does for a DO query; false when one did not fit.
bool write_signed(dns::MessageWriter& writer, std::string_view owner, uint16_t type,
                  const std::vector<std::string>& rdatas, uint32_t ttl,
                  const std::vector<std::string>& signatures, uint32_t signature_ttl) {
  const dns::MessageWriter::Owner at{.name = owner, .is_question = false};
  bool ok = true;
  for (const std::string& rdata : rdatas) {
    ok = ok && writer.write_record(dns::MessageWriter::Section::authority, at, type,
                                   dns::rrclass::IN, ttl, rdata);
  }
  for (const std::string& signature : signatures) {
    ok = ok && writer.write_record(dns::MessageWriter::Section::authority, at, dns::type::RRSIG,
                                   dns::rrclass::IN, signature_ttl, signature);
  }
  return ok;
}

// The SOA at the negative TTL and the NSEC RRsets of `proofs` (once each),
// with their RRSIGs, as the responder writes a DO negative answer's
// authority section (add_negative, then flush_proofs) after a question of
// `question`; empty when they would not fit where a pointer reaches.
EncodedAuthority encode_authority(const Zone& zone, std::string_view question,
                                  std::initializer_list<const Node*> proofs) {
  return encode_after_question(question, [&](dns::MessageWriter& writer) {
    const uint32_t negative_ttl = zone.negative_ttl();
    bool ok = write_signed(writer, zone.origin(), dns::type::SOA, zone.soa().rdatas, negative_ttl,
                           zone.soa().signatures, negative_ttl);
    const Node* written[2] = {nullptr, nullptr};
    size_t count = 0;
    for (const Node* node : proofs) {
      if (node == nullptr || std::find(written, written + count, node) != written + count) continue;
      const RRset* nsec = node->find(dns::type::NSEC);
      if (nsec == nullptr) continue;
      written[count++] = node;
      ok = ok && write_signed(writer, node->name, dns::type::NSEC, nsec->rdatas, nsec->ttl,
                              nsec->signatures, nsec->signature_ttl);
    }
    return ok;
  });
}

// What an encoding holds on the heap, as the budget counts it.
size_t encoded_size(const EncodedAuthority& authority) noexcept {
  return authority.bytes.size() + authority.pointers.size() * sizeof(uint16_t);
}

// The nodes whose NSEC covers a name one label below the apex that does not
// exist but is, or is above, a name in the SOA's RDATA (hostmaster.<apex>
// as the mailbox, mostly): the writer compresses that SOA name against a
// question for such a name (or one below it) further than the apex, so an
// NXDOMAIN there is left to the query path. Every such question is covered
// by the same NSEC (nothing exists below a name that does not exist). False
// when the SOA's RDATA does not parse (then no NXDOMAIN is encoded at all).
bool soa_name_covers(const Zone& zone, std::vector<const Node*>& covers) {
  const std::string& rdata = zone.soa().rdatas.front();
  const unsigned apex_labels = dns::label_count(zone.origin());
  size_t position = 0;
  for (int field = 0; field < 2; ++field) {
    const size_t length = dns::name_length(reinterpret_cast<const uint8_t*>(rdata.data()) + position,
                                           rdata.size() - position);
    if (length == 0) return false;
    const std::string lower = dns::lowercase_name(std::string_view(rdata).substr(position, length));
    position += length;
    std::string_view name = lower;
    if (!dns::is_subdomain(name, zone.origin()) || name.size() == zone.origin().size()) continue;
    for (unsigned labels = dns::label_count(name); labels > apex_labels + 1; --labels) {
      name = name.substr(dns::parent_offset(name));
    }
    if (zone.find(name) == nullptr) covers.push_back(zone.covering_nsec(name));
  }
  return true;
}

}  // namespace

void encode_negative_answers(Zone& zone, size_t budget) {
  const Zone::Denial denial = zone.denial();
  if (!zone.is_signed() || (denial != Zone::Denial::nsec && denial != Zone::Denial::compact)) return;
  if (zone.soa_ == nullptr || zone.soa().rdatas.empty()) return;
  std::vector<const Node*> soa_covers;
  const bool nxdomain = denial == Zone::Denial::nsec && soa_name_covers(zone, soa_covers);
  const Node* wildcard_cover = nullptr;
  if (nxdomain && zone.origin().size() + 2 <= dns::kMaxNameLength) {
    wildcard_cover = zone.covering_nsec(std::string("\x01*", 2) + zone.origin());
  }
  size_t spent = 0;
  bool full = false;
  for (Node& node : zone.nodes_) {
    if (node.below_delegation || node.nsec3_only) continue;
    if (full) {
      ++zone.unencoded_negative_names_;
      continue;
    }
    // The responder's proofs (prove_nodata, prove_nxdomain).
    const Node* own = denial == Zone::Denial::compact ? &node : zone.covering_nsec(node.name);
    EncodedAuthority nodata = encode_authority(zone, node.name, {own});
    EncodedAuthority nxdomain_authority;
    if (nxdomain && node.find(dns::type::NSEC) != nullptr &&
        std::find(soa_covers.begin(), soa_covers.end(), &node) == soa_covers.end()) {
      nxdomain_authority = encode_authority(zone, zone.origin(), {&node, wildcard_cover});
    }
    const size_t cost = encoded_size(nodata) + encoded_size(nxdomain_authority);
    if (spent + cost > budget) {
      // This name and every one after it go record by record: the budget
      // is a bound, so the last name is not allowed past it.
      full = true;
      ++zone.unencoded_negative_names_;
      continue;
    }
    spent += cost;
    node.nodata_authority = std::move(nodata);
    node.nxdomain_authority = std::move(nxdomain_authority);
  }
  zone.encoded_negative_bytes_ = spent;
}

EncodedAuthority encode_array_nodata(const Zone& zone, std::string_view owner, uint32_t ttl,
                                    const std::string& nsec_rdata, const std::string& nsec_rrsig) {
  if (zone.soa_ == nullptr || zone.soa().rdatas.empty() || owner.size() > dns::kMaxNameLength) {
    return {};
  }
  std::string question(owner);
  dns::lowercase_name(reinterpret_cast<uint8_t*>(question.data()), question.size());
  return encode_after_question(question, [&](dns::MessageWriter& writer) {
    return write_signed(writer, zone.origin(), dns::type::SOA, zone.soa().rdatas, ttl,
                        zone.soa().signatures, ttl) &&
           write_signed(writer, owner, dns::type::NSEC, {nsec_rdata}, ttl, {nsec_rrsig}, ttl);
  });
}

}  // namespace rotor::zones
