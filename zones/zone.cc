#include "zones/zone.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstdio>
#include <cstring>

#include "server/dns/wire.h"

namespace rotor::zones {

namespace {

// Label walks over names this file built or checked itself; the query path
// never calls these.
size_t first_label_size(std::string_view wire) noexcept {
  return static_cast<uint8_t>(wire[0]);
}

// True when the well-formed wire name `name` equals `ancestor` or lies below it.
bool at_or_below(std::string_view name, std::string_view ancestor) noexcept {
  while (name.size() > ancestor.size()) name.remove_prefix(first_label_size(name) + 1);
  return name == ancestor;
}

// Wire names handed to the builder come from callers, so check the framing
// once here instead of trusting it everywhere after.
bool well_formed(std::string_view wire) noexcept {
  size_t offset = 0;
  while (offset < wire.size()) {
    const size_t label = static_cast<uint8_t>(wire[offset]);
    if (label == 0) return offset + 1 == wire.size();
    if (label > dns::kMaxLabelLength) return false;
    offset += label + 1;
  }
  return false;
}

std::string lower(std::string_view wire) { return dns::lowercase_name(wire); }

bool is_wildcard(std::string_view wire) noexcept {
  return wire.size() >= 2 && wire[0] == 1 && wire[1] == '*';
}

// Class mnemonics for the error that rejects them.
std::string class_text(uint16_t rrclass) {
  switch (rrclass) {
    case dns::rrclass::CH: return "CH";
    case 4: return "HS";
    case dns::rrclass::NONE: return "NONE";
    case dns::rrclass::ANY: return "ANY";
    default: return "CLASS" + std::to_string(rrclass);
  }
}

// SOA RDATA is MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM: the five
// counters are the last 20 bytes, whatever the names' lengths.
uint32_t soa_field(const RRset& soa, size_t from_end) noexcept {
  const std::string& rdata = soa.rdatas.front();
  if (rdata.size() < 22) return 0;
  return dns::read_u32(reinterpret_cast<const uint8_t*>(rdata.data()) + rdata.size() - from_end);
}

}  // namespace

uint16_t Signature::covered() const noexcept {
  return rdata.size() < 2 ? 0 : dns::read_u16(reinterpret_cast<const uint8_t*>(rdata.data()));
}

const RRset* Node::find(uint16_t type) const noexcept {
  for (const RRset& rrset : rrsets) {
    if (rrset.type == type) return &rrset;
    if (rrset.type > type) break;
  }
  return nullptr;
}

// A word at a time, multiply-xorshift mixing: names are 10 to 40 bytes, and
// this runs for every label of every query.
size_t NameHash::operator()(std::string_view s) const noexcept {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  uint64_t h = 0xCBF29CE484222325ULL ^ (s.size() * kMul);
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    h = (h ^ word) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  // The last 1 to 7 bytes in at most two fixed-size loads (a memcpy of n
  // bytes was a library call): for a given n every byte lands in `tail`.
  uint64_t tail = 0;
  if (n >= 4) {
    uint32_t first, last;
    std::memcpy(&first, p, 4);
    std::memcpy(&last, p + n - 4, 4);
    tail = first | (uint64_t{last} << 32);
  } else if (n > 0) {
    tail = uint64_t{static_cast<uint8_t>(p[0])} | uint64_t{static_cast<uint8_t>(p[n / 2])} << 8 |
           uint64_t{static_cast<uint8_t>(p[n - 1])} << 16;
  }
  h = (h ^ tail) * kMul;
  h ^= h >> 32;
  return static_cast<size_t>(h);
}

uint32_t Zone::serial() const noexcept { return soa_field(*soa_, 20); }

uint32_t Zone::negative_ttl() const noexcept { return std::min(soa_->ttl, soa_field(*soa_, 4)); }

const Node* Zone::find(std::string_view lower_wire_name) const noexcept {
  const auto it = index_.find(lower_wire_name);
  return it == index_.end() ? nullptr : it->second;
}

ZoneBuilder::ZoneBuilder(std::string_view origin_wire) : zone_(new Zone) {
  zone_->origin_ = lower(origin_wire);
  zone_->origin_text_ = name_to_text(zone_->origin_);
}

Node& ZoneBuilder::node_for(std::string_view lower_name) {
  const auto it = by_name_.find(std::string(lower_name));
  if (it != by_name_.end()) return *it->second;
  Node& node = zone_->nodes_.emplace_back();
  node.name = std::string(lower_name);
  by_name_.emplace(node.name, &node);
  return node;
}

// A node add_empty_non_terminals guarantees: every ancestor of an owner.
Node& ZoneBuilder::existing(std::string_view lower_name) {
  const auto it = by_name_.find(std::string(lower_name));
  assert(it != by_name_.end());
  return *it->second;
}

std::optional<std::string> ZoneBuilder::add(std::string_view owner_wire, uint16_t type,
                                            uint16_t rrclass, uint32_t ttl,
                                            std::string_view rdata) {
  if (!well_formed(owner_wire)) return "malformed owner name";
  const std::string owner = lower(owner_wire);
  if (!well_formed(zone_->origin_) || !at_or_below(owner, zone_->origin_))
    return "out of zone: " + name_to_text(owner) + " is not under " + zone_->origin_text_;
  if (rrclass != dns::rrclass::IN) return "class " + class_text(rrclass) + " is not served, only IN";

  Node& node = node_for(owner);
  auto pos = std::lower_bound(node.rrsets.begin(), node.rrsets.end(), type,
                              [](const RRset& r, uint16_t t) { return r.type < t; });
  if (pos == node.rrsets.end() || pos->type != type) {
    pos = node.rrsets.insert(pos, RRset{type, ttl, {}});
  }
  if (std::find(pos->rdatas.begin(), pos->rdatas.end(), rdata) != pos->rdatas.end())
    return std::nullopt;
  pos->rdatas.emplace_back(rdata);
  if (type == dns::type::RRSIG) node.rrsigs.push_back({ttl, std::string(rdata)});
  ++zone_->record_count_;
  return std::nullopt;
}

namespace {

using FinishStep = std::optional<std::string> (ZoneBuilder::*)();

}  // namespace

// The zone-wide rules and the derived structure, in the order they depend on
// each other: the first error wins.
std::optional<std::string> ZoneBuilder::finish(std::shared_ptr<const Zone>& zone) {
  static constexpr FinishStep kFinishSteps[] = {
      &ZoneBuilder::check_apex,               // one SOA, at the apex, beside NS
      &ZoneBuilder::check_singletons,         // one CNAME or DNAME, CNAME alone
      &ZoneBuilder::add_empty_non_terminals,  // every name up to the apex exists
      &ZoneBuilder::mark_cuts,                // delegations, glue, wildcards, DNAMEs
      &ZoneBuilder::add_compact_denial,       // online signing: an NSEC at every name
      &ZoneBuilder::build_index,              // the lookup table the query path uses
      &ZoneBuilder::sign_rrsets,              // online signing: the RRSIGs
      &ZoneBuilder::encode_negative_answers,  // signed zones: NODATA, NXDOMAIN authority sections
  };
  if (!zone_) return "the zone was already built";
  if (!well_formed(zone_->origin_)) return "malformed origin name";
  for (const FinishStep step : kFinishSteps) {
    if (auto error = (this->*step)()) return error;
  }
  by_name_.clear();
  zone.reset(zone_.release());
  return std::nullopt;
}

std::optional<std::string> ZoneBuilder::check_apex() {
  size_t soa_records = 0;
  for (const Node& node : zone_->nodes_) {
    if (const RRset* soa = node.find(dns::type::SOA)) soa_records += soa->rdatas.size();
  }
  if (soa_records > 1) return "more than one SOA";
  const auto apex = by_name_.find(zone_->origin_);
  if (apex == by_name_.end() || apex->second->find(dns::type::SOA) == nullptr) {
    return "no SOA record at the apex " + zone_->origin_text_;
  }
  if (apex->second->find(dns::type::NS) == nullptr) {
    return "no NS records at the apex " + zone_->origin_text_;
  }
  apex_ = apex->second;
  return std::nullopt;
}

std::optional<std::string> ZoneBuilder::check_singletons() {
  for (const Node& node : zone_->nodes_) {
    for (const uint16_t single : {dns::type::CNAME, dns::type::DNAME}) {
      const RRset* rrset = node.find(single);
      if (rrset != nullptr && rrset->rdatas.size() > 1) {
        return std::string("more than one ") + (single == dns::type::CNAME ? "CNAME" : "DNAME") +
               " at " + name_to_text(node.name);
      }
    }
    if (node.find(dns::type::CNAME) == nullptr) continue;
    // DNSSEC records are the only data RFC 2181 10.1 and RFC 4035 allow beside a CNAME.
    for (const RRset& rrset : node.rrsets) {
      if (rrset.type != dns::type::CNAME && rrset.type != dns::type::RRSIG &&
          rrset.type != dns::type::NSEC) {
        return "CNAME and other data at " + name_to_text(node.name);
      }
    }
  }
  return std::nullopt;
}

// Every name between a record's owner and the apex exists (RFC 4592 2.2.2),
// so lookups can stop at the closest encloser. Nodes added here only add
// ancestors that are already handled, so the original count is enough.
std::optional<std::string> ZoneBuilder::add_empty_non_terminals() {
  const std::string& origin = zone_->origin_;
  const size_t owners = zone_->nodes_.size();
  for (size_t i = 0; i < owners; ++i) {
    std::string_view name = zone_->nodes_[i].name;
    while (name.size() > origin.size()) {
      name.remove_prefix(first_label_size(name) + 1);
      node_for(name);
    }
  }
  return std::nullopt;
}

// Marks delegations and what lies below them (glue, occluded data) and the
// parents of wildcards; refuses data below a DNAME (RFC 6672 2.4).
std::optional<std::string> ZoneBuilder::mark_cuts() {
  Zone& zone = *zone_;
  const std::string& origin = zone.origin_;
  for (Node& node : zone.nodes_) {
    node.is_delegation = &node != apex_ && node.find(dns::type::NS) != nullptr;
    if (node.is_delegation) zone.has_delegations_ = true;
  }
  for (Node& node : zone.nodes_) {
    if (&node == apex_) continue;
    std::string_view name = node.name;
    const std::string_view parent = name.substr(first_label_size(name) + 1);
    if (is_wildcard(name)) existing(parent).has_wildcard_child = true;
    for (name = parent; name.size() > origin.size();
         name.remove_prefix(first_label_size(name) + 1)) {
      const Node& ancestor = existing(name);
      if (ancestor.is_delegation) node.below_delegation = true;
      if (ancestor.find(dns::type::DNAME) != nullptr && !node.rrsets.empty()) {
        return name_to_text(node.name) + " is below the DNAME at " + name_to_text(ancestor.name);
      }
    }
  }
  // A DNAME at the apex redirects everything below it just the same.
  if (apex_->find(dns::type::DNAME) != nullptr) {
    for (const Node& node : zone.nodes_) {
      if (&node != apex_ && !node.rrsets.empty()) {
        return name_to_text(node.name) + " is below the DNAME at " + zone.origin_text_;
      }
    }
  }
  return std::nullopt;
}

void ZoneBuilder::sign_online(std::shared_ptr<const OnlineSigner> signer) { signer_ = std::move(signer); }

namespace {

// RFC 4035 2.2: the RRsets a zone signs. Below a cut nothing is the zone's
// (glue, occluded data); at a cut only the DS and the NSEC are, the NS is the
// child's.
bool zone_signs(const Node& node, const RRset& rrset) noexcept {
  if (node.below_delegation || rrset.type == dns::type::RRSIG) return false;
  return !node.is_delegation || rrset.type == dns::type::DS || rrset.type == dns::type::NSEC;
}

}  // namespace

// RFC 9824 3: every name above a cut (the cut itself included, for DS
// NODATA, and empty non-terminals) owns one NSEC whose next name is
// "\000.<name>" ("\000\000.<name>" for a wildcard's parent: zones/dnssec.h)
// and whose bit maps are its types plus RRSIG and NSEC.
// Before build_index, which points at the SOA RRset this may move.
std::optional<std::string> ZoneBuilder::add_compact_denial() {
  if (!signer_) return std::nullopt;
  const RRset& soa = *apex_->find(dns::type::SOA);
  const uint32_t nsec_ttl = std::min(soa.ttl, soa_field(soa, 4));
  for (Node& node : zone_->nodes_) {
    if (node.below_delegation) continue;
    std::vector<uint16_t> types{dns::type::RRSIG, dns::type::NSEC};
    for (const RRset& rrset : node.rrsets) types.push_back(rrset.type);
    // A wildcard parent's NSEC also covers "\000.<name>" (zones/dnssec.h).
    const bool covers_zero_child =
        node.has_wildcard_child &&
        by_name_.find(std::string("\x01\x00", 2).append(node.name)) == by_name_.end();
    std::string rdata = compact_nsec_rdata(node.name, std::move(types), covers_zero_child);
    if (rdata.empty()) continue;  // a name of 254+ octets: no NSEC (zones/dnssec.h)
    RRset nsec{dns::type::NSEC, nsec_ttl, {std::move(rdata)}};
    const auto at = std::lower_bound(node.rrsets.begin(), node.rrsets.end(), dns::type::NSEC,
                                     [](const RRset& r, uint16_t t) { return r.type < t; });
    node.rrsets.insert(at, std::move(nsec));
  }
  return std::nullopt;
}

std::optional<std::string> ZoneBuilder::sign_rrsets() {
  if (!signer_) return std::nullopt;
  Zone& zone = *zone_;
  for (Node& node : zone.nodes_) {
    for (RRset& rrset : node.rrsets) {
      if (!zone_signs(node, rrset)) continue;
      std::optional<std::string> signature = signer_->sign(node.name, rrset);
      if (!signature) {
        return "cannot sign the type " + std::to_string(rrset.type) + " RRset at " +
               name_to_text(node.name) + " (key tag " + std::to_string(signer_->key_tag()) + ")";
      }
      rrset.signatures.assign(1, std::move(*signature));
      rrset.signature_ttl = rrset.ttl;
    }
  }
  zone.signed_ = true;
  zone.denial_ = Zone::Denial::compact;
  zone.online_signer_ = signer_;
  return std::nullopt;
}

std::optional<std::string> ZoneBuilder::build_index() {
  Zone& zone = *zone_;
  zone.index_.reserve(zone.nodes_.size());
  for (Node& node : zone.nodes_) {
    node.nsec3_only = node.find(dns::type::NSEC3) != nullptr &&
                      std::all_of(node.rrsets.begin(), node.rrsets.end(), [](const RRset& r) {
                        return r.type == dns::type::NSEC3 || r.type == dns::type::RRSIG;
                      });
    if (!node.nsec3_only) zone.index_.emplace(node.name, &node);
  }
  zone.apex_ = apex_;
  zone.soa_ = apex_->find(dns::type::SOA);
  index_dnssec(zone);
  return std::nullopt;
}

namespace {
std::atomic<size_t> negative_answer_budget_bytes{kDefaultNegativeAnswerBudget};
}  // namespace

void set_negative_answer_budget(size_t bytes) noexcept { negative_answer_budget_bytes = bytes; }
size_t negative_answer_budget() noexcept { return negative_answer_budget_bytes; }

std::optional<std::string> ZoneBuilder::encode_negative_answers() {
  const size_t budget = negative_answer_budget_bytes;
  if (budget > 0) zones::encode_negative_answers(*zone_, budget);
  return std::nullopt;
}

std::string name_to_text(std::string_view wire) {
  if (wire.empty() || wire[0] == 0) return ".";
  std::string text;
  size_t offset = 0;
  while (offset < wire.size()) {
    const size_t label = static_cast<uint8_t>(wire[offset]);
    if (label == 0 || offset + 1 + label > wire.size()) break;
    for (size_t i = offset + 1; i <= offset + label; ++i) {
      const auto c = static_cast<uint8_t>(wire[i]);
      if (c == '.' || c == '\\') {
        text += '\\';
        text += static_cast<char>(c);
      } else if (c <= 0x20 || c >= 0x7f) {
        char escaped[5];
        std::snprintf(escaped, sizeof escaped, "\\%03u", unsigned{c});
        text += escaped;
      } else {
        text += static_cast<char>(c);
      }
    }
    text += '.';
    offset += label + 1;
  }
  return text;
}

std::optional<std::string> name_from_text(std::string_view text) {
  if (text == ".") return std::string(1, '\0');
  if (text.empty()) return std::nullopt;
  std::string wire;
  std::string label;
  auto end_label = [&]() {
    if (label.empty() || label.size() > dns::kMaxLabelLength) return false;
    wire += static_cast<char>(label.size());
    wire += label;
    label.clear();
    return true;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      if (!end_label()) return std::nullopt;
      continue;
    }
    if (c != '\\') {
      label += c;
      continue;
    }
    if (++i == text.size()) return std::nullopt;
    const auto digit = [](char d) { return d >= '0' && d <= '9'; };
    if (digit(text[i])) {
      if (i + 2 >= text.size() || !digit(text[i + 1]) || !digit(text[i + 2])) return std::nullopt;
      const int value = (text[i] - '0') * 100 + (text[i + 1] - '0') * 10 + (text[i + 2] - '0');
      if (value > 255) return std::nullopt;
      label += static_cast<char>(value);
      i += 2;
    } else {
      label += text[i];
    }
  }
  if (!label.empty() && !end_label()) return std::nullopt;
  wire += '\0';
  if (wire.size() > dns::kMaxNameLength) return std::nullopt;
  return wire;
}

std::optional<std::string> lower_name_from_text(std::string_view text) {
  auto wire = name_from_text(text);
  if (wire) *wire = dns::lowercase_name(*wire);
  return wire;
}

}  // namespace rotor::zones
