#include "server/query/responder.h"

#include <algorithm>
#include <cassert>

#include <netinet/in.h>

#include "server/arrays/fallback.h"
#include "server/arrays/selector.h"
#include "server/arrays/signed_answers.h"
#include "server/common/client_ip.h"
#include "server/dns/edns.h"
#include "server/dns/message_writer.h"
#include "server/dns/query_parser.h"

namespace rotor {

namespace {

using dns::MessageWriter;
using Section = MessageWriter::Section;
using zones::Node;
using zones::RRset;
using zones::Zone;

// Longest CNAME chain we follow; NSD and Knot use small limits of this order.
constexpr int kMaxCnameChain = 8;
// Distinct targets we add address records for in one reply.
constexpr size_t kMaxAdditionalTargets = 16;
// Distinct denial-of-existence RRsets (NSEC, NSEC3, DS) one reply carries:
// an NSEC3 NXDOMAIN needs three, a CNAME chain a few per link.
constexpr size_t kMaxProofs = 16;

// Where a name leads inside one zone.
struct Lookup {
  enum class Kind : uint8_t { found, wildcard, delegation, dname, nxdomain } kind;
  // found/wildcard: the data; delegation: the cut; dname: the DNAME's owner;
  // nxdomain: the closest encloser.
  const Node* node;
  // wildcard and nxdomain: the closest encloser (RFC 4592 3.3.1).
  const Node* encloser = nullptr;
};

// The highest delegation on the path from the apex to `name`: a referral
// points at the first cut below the apex, whatever lies beneath it.
const Node* topmost_cut(const Zone& zone, std::string_view name) noexcept {
  const Node* cut = nullptr;
  while (name.size() > zone.origin().size()) {
    const Node* node = zone.find(name);
    if (node != nullptr && node->is_delegation) cut = node;
    name = name.substr(dns::parent_offset(name));
  }
  return cut;
}

Lookup lookup(const Zone& zone, std::string_view name, uint16_t qtype) noexcept {
  if (const Node* node = zone.find(name)) {
    if (node->below_delegation) return {Lookup::Kind::delegation, topmost_cut(zone, name)};
    // RFC 4035 3.1.4.1: the parent side answers DS at a cut itself.
    if (node->is_delegation && qtype != dns::type::DS) return {Lookup::Kind::delegation, node};
    return {Lookup::Kind::found, node};
  }
  std::string_view encloser_name = name;
  const Node* encloser = nullptr;
  while (encloser == nullptr && encloser_name.size() > zone.origin().size()) {
    encloser_name = encloser_name.substr(dns::parent_offset(encloser_name));
    // A suffix as long as the origin is the origin (the name is in the
    // zone): the apex, without a look-up (most missing names are one label
    // below it).
    encloser = encloser_name.size() == zone.origin().size() ? &zone.apex() : zone.find(encloser_name);
    assert(encloser_name.size() != zone.origin().size() || zone.find(encloser_name) == &zone.apex());
  }
  // The walk ends at the apex at the latest: every name asked of a zone is in it.
  assert(encloser != nullptr);
  if (encloser == nullptr) encloser = &zone.apex();
  if (encloser->is_delegation || encloser->below_delegation)
    return {Lookup::Kind::delegation, topmost_cut(zone, encloser_name)};
  // Nothing exists below a DNAME (the loader refuses it), so the closest
  // encloser of a name under one is the DNAME's owner (RFC 6672 2.3).
  if (encloser->find(dns::type::DNAME) != nullptr) return {Lookup::Kind::dname, encloser};
  if (encloser->has_wildcard_child && encloser_name.size() + 2 <= dns::kMaxNameLength) {
    uint8_t wildcard[dns::kMaxNameLength];
    wildcard[0] = 1;
    wildcard[1] = '*';
    std::memcpy(wildcard + 2, encloser_name.data(), encloser_name.size());
    const Node* source =
        zone.find({reinterpret_cast<const char*>(wildcard), encloser_name.size() + 2});
    if (source != nullptr) return {Lookup::Kind::wildcard, source, encloser};
  }
  return {Lookup::Kind::nxdomain, encloser, encloser};
}

// Offset of the domain name inside RDATA that calls for additional address
// records (RFC 1035 3.3.9, RFC 2782), or -1.
int additional_name_offset(uint16_t rrtype) noexcept {
  switch (rrtype) {
    case dns::type::NS: return 0;
    case dns::type::MX: return 2;
    case dns::type::SRV: return 6;
    default: return -1;
  }
}

// Where one step of the answer loop left off (Knot's solve_answer states).
// solve_name ends in any of the first six; follow_alias in follow (go on from
// the alias target), hit (the chain ends with the alias), truncated or
// name_too_long.
enum class Step : uint8_t {
  hit,            // the records asked for are written (or the array's selection)
  nodata,         // the name exists without that type: the SOA is in authority
  nxdomain,       // no such name: the SOA is in authority
  delegation,     // the name is at or below a zone cut: a referral is written
  follow,         // the name is an alias (CNAME, or below a DNAME): go on at its target
  truncated,      // a record the answer needs did not fit: stop, TC is set
  name_too_long,  // a DNAME rewrite would pass 255 octets (RFC 6672 2.2): YXDOMAIN
  nxname,         // no such name, denied compactly (RFC 9824): NOERROR, or NXDOMAIN with CO
  awaits_signature,  // the compact denial's NSEC is not signed yet: no reply now
};

// Negative answers and referrals keep their kind (and so their rcode) even
// when their SOA or NS did not fit; the TC flag tells that.
uint16_t rcode_of(Step step) noexcept {
  switch (step) {
    case Step::nxdomain: return dns::rcode::NXDOMAIN;
    case Step::name_too_long: return dns::rcode::YXDOMAIN;
    default: return dns::rcode::NOERROR;
  }
}

class Answer {
 public:
  Answer(const Snapshot& snapshot, const dns::ParsedQuery& query, MessageWriter& writer,
         const ClientInfo& client, WorkerState& state) noexcept
      : snapshot_(snapshot),
        query_(query),
        writer_(writer),
        client_(client),
        state_(state),
        tcp_(client.transport == Transport::tcp) {}

  bool truncated() const noexcept { return truncated_; }
  // The answer needs a signature the worker's denial cache lacks (kAwaitsSignature).
  bool awaits_signature() const noexcept { return awaits_signature_; }
  bool authoritative() const noexcept { return authoritative_; }
  // RFC 7871 scope of the answer: the prefix length that decided it.
  uint8_t client_subnet_scope() const noexcept { return ecs_scope_; }

  // Answers a query for data in `zone`; returns the rcode. Each turn of the
  // loop solves one name; an alias moves the loop to its target, at most
  // kMaxCnameChain names in all.
  uint16_t answer_from(const Zone* zone) noexcept {
    authoritative_ = true;
    at_ = {.zone = zone,
           .name = query_.qname_lower.view(),
           .owner = {.name = {}, .is_question = true}};
    for (int link = 0;; ++link) {
      Alias alias;
      Step step = solve_name(alias);
      if (step == Step::follow) step = follow_alias(alias, link);
      if (step == Step::awaits_signature) {
        awaits_signature_ = true;
        return dns::rcode::NOERROR;
      }
      if (step == Step::nxname) {
        flush_proofs();
        return query_.edns_co ? dns::rcode::NXDOMAIN : dns::rcode::NOERROR;
      }
      if (step != Step::follow) {
        // Authority before additional: the section order of the message.
        flush_proofs();
        if (additional_source_ != nullptr) add_additional_for(*additional_source_);
        return rcode_of(step);
      }
    }
  }

 private:
  // The name the loop is at: the question, then each alias target in turn.
  struct Position {
    const Zone* zone;
    std::string_view name;  // lower-case wire; views the question or chain_target_
    MessageWriter::Owner owner;
  };

  // The alias solve_name found: a CNAME at the name, or a DNAME above it.
  struct Alias {
    const RRset* rrset = nullptr;
    std::string_view owner;  // the DNAME's owner; unused for a CNAME
  };

  // Writes what `at_` holds for the query type, or finds the alias to follow.
  Step solve_name(Alias& alias) noexcept {
    assert(at_.zone != nullptr && dns::is_subdomain(at_.name, at_.zone->origin()));
    const Zone& zone = *at_.zone;
    if (const arrays::ArrayState* array = snapshot_.arrays->find(at_.name)) {
      // An array at or below a zone cut belongs to the child's servers:
      // refer, as for any other name there (NSD would not answer it either).
      // Whether any array lies there was worked out with the snapshot
      // (arrays/zone_cuts.h): mostly none does, and the look-up is skipped.
      assert(snapshot_.arrays_at_zone_cuts || !zone.has_delegations() ||
             lookup(zone, at_.name, query_.qtype).kind != Lookup::Kind::delegation);
      if (snapshot_.arrays_at_zone_cuts && zone.has_delegations()) {
        if (const Lookup cut = lookup(zone, at_.name, query_.qtype);
            cut.kind == Lookup::Kind::delegation) {
          return add_referral(zone, *cut.node);
        }
      }
      if (query_.qtype == dns::type::A || query_.qtype == dns::type::AAAA) {
        return add_array(*array, at_.owner, zone);
      }
      // Other types at an array name are ordinary zone data; the name exists
      // even when the zone has nothing else there.
      const Node* node = zone.find(at_.name);
      const bool signing = query_.edns_do && array->signatures != nullptr;
      if (signing && query_.qtype == dns::type::NSEC) {
        // The name's NSEC is the array's (its bitmap knows the families).
        add_array_nsec(*array, zone.negative_ttl(), Section::answer);
        return truncated_ ? Step::truncated : Step::hit;
      }
      if (query_.qtype == dns::type::RRSIG && array->signatures != nullptr) {
        return add_array_rrsigs(*array, node, at_.owner, zone);
      }
      if (node == nullptr ||
          (node->find(query_.qtype) == nullptr && query_.qtype != dns::type::ANY)) {
        if (signing && add_encoded_array_nodata(*array, zone.negative_ttl())) return Step::nodata;
        const Step step = add_negative(zone, Step::nodata);
        if (signing) add_array_nsec(*array, zone.negative_ttl());
        return step;
      }
    }
    const Lookup found = lookup(zone, at_.name, query_.qtype);
    // Arrays make the names above them exist where the zone has nothing
    // (empty non-terminals, array_table.h): one at the name asked is a
    // NODATA (RFC 8020: an NXDOMAIN there would deny the arrays below), one
    // between it and the zone's closest encloser is the closest encloser,
    // which has no wildcard child: NXDOMAIN (RFC 4592 2.2.1). Without a
    // wildcard the answer below such a name is the NXDOMAIN it was, so
    // there only the name asked is looked up.
    switch (found.kind) {
      case Lookup::Kind::nxdomain:
        // The apex of another zone we serve exists even when its parent has
        // no records for it (a DS query answered from the parent).
        if (snapshot_.zones.find_authoritative(at_.name) != &zone) {
          return add_negative(zone, Step::nodata);
        }
        if (snapshot_.arrays->has_array_below(at_.name)) return add_array_made_nodata(zone);
        if (const auto* signer = online_denial(zone)) return add_compact_nxname(zone, *signer);
        if (add_encoded_nxdomain(zone, *found.encloser)) return Step::nxdomain;
        prove_nxdomain(zone, *found.encloser);
        return add_negative(zone, Step::nxdomain);
      case Lookup::Kind::delegation:
        return add_referral(zone, *found.node);
      case Lookup::Kind::dname:
        alias = {.rrset = found.node->find(dns::type::DNAME), .owner = found.node->name};
        return Step::follow;
      case Lookup::Kind::wildcard:
        if (const std::string_view array_encloser = array_made_encloser(found.encloser->name);
            array_encloser.size() == at_.name.size()) {
          return add_array_made_nodata(zone);
        } else if (!array_encloser.empty()) {
          // No proof of the closer names: arrays live only in zones rotor
          // signs online (registry/name_conflict.h), denied compactly.
          if (const auto* signer = online_denial(zone)) return add_compact_nxname(zone, *signer);
          return add_negative(zone, Step::nxdomain);
        }
        break;
      case Lookup::Kind::found:
        break;
    }
    const Node& node = *found.node;
    if (found.kind == Lookup::Kind::wildcard) {
      if (const auto* signer = online_denial(zone)) {
        const Step step = prove_wildcard_online(zone, node, *found.encloser, *signer);
        if (step != Step::follow) return step;
      } else {
        prove_wildcard(zone, *found.encloser);
      }
    }
    if (query_.qtype == dns::type::ANY) return add_any(at_.owner, node, zone);
    if (query_.qtype == dns::type::RRSIG && zone.is_signed() && !node.rrsigs.empty()) {
      return add_rrsigs(at_.owner, node);
    }
    if (query_.qtype == dns::type::RRSIG && zone.denial() == Zone::Denial::compact &&
        has_signatures(node)) {
      return add_online_rrsigs(at_.owner, node);
    }
    // NSD answers NSEC3 queries with NODATA: hashed owners are no names.
    const RRset* rrset = query_.qtype == dns::type::NSEC3 ? nullptr : node.find(query_.qtype);
    if (rrset != nullptr) {
      add_required(Section::answer, at_.owner, *rrset);
      additional_source_ = rrset;
      return truncated_ ? Step::truncated : Step::hit;
    }
    const RRset* cname = node.find(dns::type::CNAME);
    if (cname == nullptr || query_.qtype == dns::type::CNAME ||
        query_.qtype == dns::type::NSEC3) {
      if (found.kind == Lookup::Kind::found && add_encoded_nodata(zone, node)) return Step::nodata;
      prove_nodata(zone, node);
      return add_negative(zone, Step::nodata);
    }
    alias = {.rrset = cname, .owner = {}};
    return Step::follow;
  }

  // The deepest name at or above the one asked and strictly below the zone's
  // closest encloser `encloser` that an array is at or below, or an empty
  // view. At the name asked an array would have been answered (solve_name's
  // start), so there only one below counts. Allocation-free: trie look-ups
  // by hash, two per label between the name and the encloser.
  std::string_view array_made_encloser(std::string_view encloser) const noexcept {
    const arrays::ArrayTable& table = *snapshot_.arrays;
    if (table.size() == 0) return {};
    if (table.has_array_below(at_.name)) return at_.name;
    for (std::string_view name = at_.name.substr(dns::parent_offset(at_.name));
         name.size() > encloser.size(); name = name.substr(dns::parent_offset(name))) {
      if (table.has_array_below(name) || table.find(name) != nullptr) return name;
    }
    return {};
  }

  // NODATA at a name that exists only because arrays are below it. In a zone
  // rotor signs, for a DO query, its NSEC (next "\000.<name>", bitmap RRSIG
  // NSEC, no NXNAME: an empty non-terminal's, RFC 9824 3) is signed late,
  // like a compact denial's; the worker's denial cache compares RDATA, so an
  // NXNAME record it holds for the name from before the arrays came is a
  // miss, signed again and replaced. An NSEC query gets the NSEC in the
  // answer section, and an RRSIG query its signature, as at a zone's own
  // empty non-terminal (without DO there is none to give: NODATA).
  Step add_array_made_nodata(const Zone& zone) noexcept {
    const auto* signer = online_denial(zone);
    if (signer == nullptr) return add_negative(zone, Step::nodata);
    dnssec::DenialRecord& record = state_.denial->wanted;
    record.owner.assign(at_.name);
    record.ttl = zone.negative_ttl();
    record.rdata_size =
        static_cast<uint16_t>(dnssec::empty_nonterminal_nsec_rdata(at_.name, record.rdata));
    if (record.rdata_size == 0) return add_negative(zone, Step::nodata);  // "\000.<name>" is too long
    const dnssec::SignedDenial* hit = signed_denial(*signer);
    if (hit == nullptr) return Step::awaits_signature;
    if (query_.qtype == dnssec::kTypeNsec) {
      write_signed_denial(Section::answer, *hit);
      return truncated_ ? Step::truncated : Step::hit;
    }
    if (query_.qtype == dns::type::RRSIG) {
      if (!writer_.write_record(Section::answer, at_.owner, dns::type::RRSIG, dns::rrclass::IN,
                                hit->record.ttl, hit->rrsig_view())) {
        truncated_ = true;
        return Step::truncated;
      }
      return Step::hit;
    }
    add_negative(zone, Step::nodata);
    write_signed_denial(Section::authority, *hit);
    return Step::nodata;
  }

  // Writes the alias solve_name found and moves `at_` to its target (RFC 1034
  // 4.3.2 step 3a for a CNAME, RFC 6672 2.2 for a DNAME: the DNAME, then a
  // CNAME from the name to its rewrite). The chain goes on only inside zones
  // we serve and for fewer than kMaxCnameChain links.
  Step follow_alias(const Alias& alias, int link) noexcept {
    const RRset& rrset = *alias.rrset;
    const bool dname = rrset.type == dns::type::DNAME;
    add_required(Section::answer,
                 dname ? MessageWriter::Owner{.name = alias.owner, .is_question = false}
                       : at_.owner,
                 rrset);
    if (truncated_) return Step::truncated;
    if (rrset.rdatas.empty()) return Step::hit;
    const std::string& target = rrset.rdatas.front();
    dns::WireName next;
    if (dname) {
      if (!dns::substitute_dname(at_.name, alias.owner, target, next)) {
        return Step::name_too_long;
      }
      if (!writer_.write_record(Section::answer, at_.owner, dns::type::CNAME, dns::rrclass::IN,
                                rrset.ttl, next.view())) {
        truncated_ = true;
        return Step::truncated;
      }
      // A CNAME query is answered by the synthesized CNAME itself.
      if (query_.qtype == dns::type::CNAME) return Step::hit;
    } else {
      // The loader stores a CNAME's RDATA as one well-formed name.
      assert(target.size() <= dns::kMaxNameLength);
      next.size = static_cast<uint8_t>(target.size());
      std::memcpy(next.bytes, target.data(), target.size());
    }
    if (link + 1 >= kMaxCnameChain) return Step::hit;
    chain_target_ = next;
    dns::lowercase_name(chain_target_.bytes, chain_target_.size);
    at_.name = chain_target_.view();
    at_.zone = snapshot_.zones.find_authoritative(at_.name);
    if (at_.zone == nullptr) return Step::hit;
    at_.owner = {.name = at_.name, .is_question = false};
    return Step::follow;
  }

  // The RRset and, for a DO query, the RRSIGs covering it (RFC 4035 3.1.1),
  // whole or not at all. A negative answer's SOA is shortened to the
  // negative TTL, and so is its RRSIG, as NSD does.
  bool add_rrset(Section section, MessageWriter::Owner owner, const RRset& rrset,
                 uint32_t ttl) noexcept {
    const MessageWriter::Mark before = writer_.mark();
    for (const std::string& rdata : rrset.rdatas) {
      if (!writer_.write_record(section, owner, rrset.type, dns::rrclass::IN, ttl, rdata)) {
        writer_.rollback(before);
        return false;
      }
    }
    if (!query_.edns_do) return true;
    const uint32_t signature_ttl = rrset.type == dns::type::SOA ? ttl : rrset.signature_ttl;
    for (const std::string& signature : rrset.signatures) {
      if (!writer_.write_record(section, owner, dns::type::RRSIG, dns::rrclass::IN, signature_ttl,
                                signature)) {
        writer_.rollback(before);
        return false;
      }
    }
    return true;
  }

  // An RRSIG query in a signed zone: every signature at the name, each with
  // its own TTL, as one RRset.
  Step add_rrsigs(MessageWriter::Owner owner, const Node& node) noexcept {
    const MessageWriter::Mark before = writer_.mark();
    for (const zones::Signature& signature : node.rrsigs) {
      if (!writer_.write_record(Section::answer, owner, dns::type::RRSIG, dns::rrclass::IN,
                                signature.ttl, signature.rdata)) {
        writer_.rollback(before);
        truncated_ = true;
        return Step::truncated;
      }
    }
    return Step::hit;
  }

  // An RRSIG query in a zone rotor signs, answered as NSD answers one in a
  // pre-signed zone: the signatures of every RRset at the name (its NSEC's
  // too), each with its RRset's signature TTL, as one RRset, with or without
  // DO; TC when they do not all fit.
  static bool has_signatures(const Node& node) noexcept {
    for (const RRset& rrset : node.rrsets) {
      if (!rrset.signatures.empty()) return true;
    }
    return false;
  }
  Step add_online_rrsigs(MessageWriter::Owner owner, const Node& node) noexcept {
    const MessageWriter::Mark before = writer_.mark();
    for (const RRset& rrset : node.rrsets) {
      for (const std::string& signature : rrset.signatures) {
        if (!writer_.write_record(Section::answer, owner, dns::type::RRSIG, dns::rrclass::IN,
                                  rrset.signature_ttl, signature)) {
          writer_.rollback(before);
          truncated_ = true;
          return Step::truncated;
        }
      }
    }
    return Step::hit;
  }

  // An RRset the answer needs: if it does not fit whole, the reply is truncated
  // (RFC 2181 9) and nothing more is added.
  void add_required(Section section, MessageWriter::Owner owner, const RRset& rrset) noexcept {
    add_required(section, owner, rrset, rrset.ttl);
  }
  void add_required(Section section, MessageWriter::Owner owner, const RRset& rrset,
                    uint32_t ttl) noexcept {
    if (truncated_) return;
    if (!add_rrset(section, owner, rrset, ttl)) truncated_ = true;
  }

  // Helpful but not needed: left out silently when it does not fit.
  void add_optional(MessageWriter::Owner owner, const RRset& rrset) noexcept {
    if (!truncated_) add_rrset(Section::additional, owner, rrset, rrset.ttl);
  }

  // The SOA of a negative answer (RFC 2308 3); returns `kind`.
  Step add_negative(const Zone& zone, Step kind) noexcept {
    return add_negative(zone, zone.negative_ttl(), kind);
  }
  Step add_negative(const Zone& zone, uint32_t ttl, Step kind) noexcept {
    add_required(Section::authority, {.name = zone.origin(), .is_question = false}, zone.soa(),
                 ttl);
    return kind;
  }

  // The signer of a zone rotor signs (compact denial), for a DO query on a
  // worker that keeps a denial cache; null otherwise. Only its address is
  // used here: the denial signer thread signs with it, never this thread.
  const std::shared_ptr<const zones::OnlineSigner>* online_denial(const Zone& zone) const noexcept {
    if (!query_.edns_do || state_.denial == nullptr) return nullptr;
    if (zone.denial() != Zone::Denial::compact || !zone.online_signer()) return nullptr;
    return &zone.online_signer();
  }

  // The signed NSEC `state_.denial->wanted` (filled by the caller) from the
  // worker's cache, or null after noting the miss for the worker to park the
  // query on (kAwaitsSignature).
  const dnssec::SignedDenial* signed_denial(
      const std::shared_ptr<const zones::OnlineSigner>& signer) noexcept {
    DenialState& denial = *state_.denial;
    const dnssec::SignedDenial* hit = denial.cache.find(signer.get(), denial.wanted, denial.now);
    if (hit == nullptr) {
      state_.counters->denial_misses.add();
      denial.key = &signer;
      return nullptr;
    }
    state_.counters->denial_hits.add();
    return hit;
  }

  // Writes a signed NSEC from the denial cache and its RRSIG, whole, or TC.
  // Owned by the question's name, it points at the question, as the answer does.
  void write_signed_denial(Section section, const dnssec::SignedDenial& nsec) noexcept {
    if (truncated_) return;
    const std::string_view name = nsec.record.owner.view();
    const MessageWriter::Owner owner{.name = name,
                                     .is_question = name == query_.qname_lower.view()};
    const MessageWriter::Mark before = writer_.mark();
    if (!writer_.write_record(section, owner, dnssec::kTypeNsec, dns::rrclass::IN,
                              nsec.record.ttl, nsec.record.rdata_view()) ||
        !writer_.write_record(section, owner, dns::type::RRSIG, dns::rrclass::IN,
                              nsec.record.ttl, nsec.rrsig_view())) {
      writer_.rollback(before);
      truncated_ = true;
    }
  }

  // A name that does not exist, denied compactly (RFC 9824 3): NODATA with
  // the SOA and one NSEC owned by the name, next "\000.<name>", types RRSIG
  // NSEC NXNAME, both signed. The NSEC's signature comes from the worker's
  // cache; on a miss nothing is written and the query waits for it.
  Step add_compact_nxname(const Zone& zone,
                          const std::shared_ptr<const zones::OnlineSigner>& signer) noexcept {
    dnssec::DenialRecord& record = state_.denial->wanted;
    record.owner.assign(at_.name);
    // RFC 9077: the NSEC's TTL is the negative TTL, as the SOA's.
    record.ttl = zone.negative_ttl();
    record.rdata_size = static_cast<uint16_t>(dnssec::nxname_nsec_rdata(at_.name, record.rdata));
    if (record.rdata_size == 0) return add_negative(zone, Step::nxdomain);  // "\000.<name>" is too long
    const dnssec::SignedDenial* hit = signed_denial(signer);
    if (hit == nullptr) return Step::awaits_signature;
    add_negative(zone, Step::nxname);
    write_signed_denial(Section::authority, *hit);
    return Step::nxname;
  }

  // A wildcard expansion in a zone rotor signs, for a DO query: the proof
  // per query name, made late like a compact denial. The answer (data, a
  // CNAME, the RRSIGs asked for) gets the white lie covering the next closer
  // name (dnssec::covering_nsec; with the wildcard's own RRSIG, whose label
  // count leaves out the star, a validator accepts the expansion, RFC 4035
  // 5.3.4); a NODATA gets the NSEC of the query name with the wildcard's
  // types (RFC 9824 3: the synthesized name exists), and so does an NSEC
  // query, in the answer section. Returns Step::follow when the answer goes
  // on as for any name (the proof waits in late_proofs_), or the step that
  // ends it: awaits_signature on a miss, hit for the NSEC query. When no
  // such NSEC can be made (a next closer label of 63 octets 0xff, a
  // predecessor that is a name of 254 or more octets, an encloser too long
  // for its NSEC to reach past "\000.<encloser>"), the answer goes without it.
  Step prove_wildcard_online(const Zone& zone, const Node& wildcard, const Node& encloser,
                             const std::shared_ptr<const zones::OnlineSigner>& signer) noexcept {
    const uint16_t qtype = query_.qtype;
    const bool nsec_query = qtype == dnssec::kTypeNsec;
    const bool answered = !nsec_query && qtype != dns::type::NSEC3 &&
                          (qtype == dns::type::ANY || qtype == dns::type::RRSIG ||
                           wildcard.find(qtype) != nullptr ||
                           (qtype != dns::type::CNAME && wildcard.find(dns::type::CNAME) != nullptr));
    dnssec::DenialRecord& record = state_.denial->wanted;
    record.ttl = zone.nsec_ttl();
    if (answered) {
      std::string_view next_closer = at_.name;
      const unsigned wanted = dns::label_count(encloser.name) + 1;
      for (unsigned labels = dns::label_count(next_closer); labels > wanted; --labels) {
        next_closer = next_closer.substr(dns::parent_offset(next_closer));
      }
      // A next closer label "\000": nothing sorts between the closest
      // encloser and it, so only the encloser's own NSEC can cover it; a
      // wildcard's parent has one that does (next "\000\000.<encloser>",
      // zones/dnssec.h), signed with the zone.
      if (next_closer.size() >= 2 && next_closer[0] == 1 && next_closer[1] == 0) {
        prove_zero_child(zone, encloser);
        return Step::follow;
      }
      record.rdata_size =
          static_cast<uint16_t>(dnssec::covering_nsec(next_closer, record.owner, record.rdata));
      // An owner that is a name (254 or more octets of the 0xff chain: such
      // a name has no NSEC of its own) would have its types denied: no proof.
      if (record.rdata_size == 0 || zone.find(record.owner.view()) != nullptr ||
          snapshot_.arrays->find(record.owner.view()) != nullptr) {
        return Step::follow;
      }
    } else {
      const RRset* own = wildcard.find(dnssec::kTypeNsec);
      if (own == nullptr || own->rdatas.empty()) return Step::follow;
      record.owner.assign(at_.name);
      record.rdata_size = static_cast<uint16_t>(
          dnssec::wildcard_nodata_nsec_rdata(at_.name, own->rdatas.front(), record.rdata));
      if (record.rdata_size == 0) return Step::follow;
    }
    const dnssec::SignedDenial* hit = signed_denial(signer);
    if (hit == nullptr) return Step::awaits_signature;
    if (nsec_query) {
      write_signed_denial(Section::answer, *hit);
      return truncated_ ? Step::truncated : Step::hit;
    }
    if (late_proof_count_ < kMaxProofs &&
        std::find(late_proofs_, late_proofs_ + late_proof_count_, hit) ==
            late_proofs_ + late_proof_count_) {
      late_proofs_[late_proof_count_++] = hit;
    }
    return Step::follow;
  }

  // The proof for a next closer name "\000.<encloser>": the encloser's NSEC
  // (an array's, when the encloser is one: its bitmap knows the families),
  // when it covers that name; else none.
  void prove_zero_child(const Zone& zone, const Node& encloser) noexcept {
    constexpr std::string_view kPastZeroChild("\x02\x00\x00", 3);
    if (const arrays::ArrayState* array = snapshot_.arrays->find(encloser.name)) {
      if (array->signatures != nullptr && array->signatures->nsec.starts_with(kPastZeroChild)) {
        array_proof_ = array;
        array_proof_ttl_ = zone.negative_ttl();
      }
      return;
    }
    const RRset* nsec = encloser.find(dnssec::kTypeNsec);
    if (nsec != nullptr && !nsec->rdatas.empty() &&
        nsec->rdatas.front().starts_with(kPastZeroChild)) {
      add_proof(&encloser, dnssec::kTypeNsec);
    }
  }

  // The client as the geo and sticky policies see it: its EDNS Client Subnet,
  // else its source address.
  geo::ClientAddress client_address() const noexcept {
    geo::ClientAddress out;
    if (query_.has_client_subnet) {
      const dns::ClientSubnet& subnet = query_.client_subnet;
      out.family = subnet.family == 1 ? 4 : 6;
      out.prefix = subnet.source_prefix;
      std::memcpy(out.bytes, subnet.address, sizeof out.bytes);
      out.from_ecs = true;
      return out;
    }
    const ClientIp ip = client_ip(client_.address);
    out.family = ip.family;
    out.prefix = ip.family == 4 ? 32 : ip.family == 6 ? 128 : 0;
    std::memcpy(out.bytes, ip.bytes, sizeof out.bytes);
    return out;
  }

  // The most records of `rdata_size` bytes the reply still has room for, at
  // their smallest (owner compressed to a 2-byte pointer): the selection
  // orders no more than that.
  size_t records_that_fit(size_t rdata_size) const noexcept {
    const size_t smallest = 2 + 10 + rdata_size;
    const size_t left = writer_.limit() > writer_.size() ? writer_.limit() - writer_.size() : 0;
    return left / smallest + 1;
  }

  // A/AAAA for an instance array: the selection pipeline picks the records.
  // A selection is not a zone RRset, so when it does not all fit the reply
  // carries the first that do, without TC: clients get fewer servers, not a
  // TCP retry. A DO query at an array signed online gets the whole answer
  // and its stored RRSIG (add_signed_array), or TC.
  Step add_array(const arrays::ArrayState& asked, MessageWriter::Owner owner,
                 const Zone& zone) noexcept {
    const uint8_t family = query_.qtype == dns::type::A ? 4 : 6;
    state_.counters->array_answers.add(asked.slot);
    // With nothing healthy of this family, its fallback chain may answer
    // (fallback.h): the fallback's selection under the asked owner name.
    const arrays::AnsweringArray answering = arrays::resolve_fallback(*snapshot_.arrays, asked, family);
    const arrays::ArrayState& array = *answering.array;
    const bool sign = query_.edns_do && asked.signatures != nullptr;
    arrays::Selection selection =
        select_family(answering, family, rotation_of(array),
                      sign ? arrays::kMaxInstancesPerArray : records_that_fit(family == 4 ? 4 : 16));
    ecs_scope_ = selection.ecs_scope;
    if (selection.kind == arrays::Selection::Kind::nodata) {
      const uint32_t ttl = std::min(zone.negative_ttl(), selection.ttl);
      if (sign && add_encoded_array_nodata(asked, ttl)) return Step::nodata;
      const Step step = add_negative(zone, ttl, Step::nodata);
      if (sign) add_array_nsec(asked, ttl);
      return step;
    }
    if (sign) return add_signed_array(asked, array, family, owner, selection);
    const arrays::AnswerInstance* const* chosen = state_.selection->chosen;
    if (owner.is_question && selection.count > 0 && !truncated_) {
      // The common case, every record a pointer to the question: written at once.
      const auto rdata_of = [chosen](size_t i) noexcept { return chosen[i]->rdata; };
      const size_t written =
          family == 4 ? writer_.write_question_address_records<4>(Section::answer, query_.qtype,
                                                                  selection.ttl, selection.count, rdata_of)
                      : writer_.write_question_address_records<16>(Section::answer, query_.qtype,
                                                                   selection.ttl, selection.count, rdata_of);
      if (written == 0) truncated_ = true;
      return truncated_ ? Step::truncated : Step::hit;
    }
    const size_t rdata_size = family == 4 ? 4 : 16;
    for (uint16_t i = 0; i < selection.count && !truncated_; ++i) {
      const std::string_view rdata(reinterpret_cast<const char*>(chosen[i]->rdata), rdata_size);
      if (!writer_.write_record(Section::answer, owner, query_.qtype, dns::rrclass::IN,
                                selection.ttl, rdata)) {
        if (i == 0) truncated_ = true;
        break;
      }
    }
    return truncated_ ? Step::truncated : Step::hit;
  }

  // The worker's rotation counter of `array`.
  uint32_t& rotation_of(const arrays::ArrayState& array) noexcept {
    return array.slot < state_.array_rotation.size() ? state_.array_rotation[array.slot]
                                                     : state_.rotation;
  }

  // The instances of `family` `answering` gives this client (at most `max`),
  // advancing `rotation`: one place, so that an RRSIG query sees the set an
  // A/AAAA query would get.
  arrays::Selection select_family(const arrays::AnsweringArray& answering, uint8_t family,
                                  uint32_t& rotation, size_t max) noexcept {
    const arrays::ArrayState& array = *answering.array;
    // A policy that does not read the client gets none: it is not worked out.
    arrays::Selection selection = arrays::select_instances(
        array, family, snapshot_.geo,
        arrays::reads_client_address(array.settings.policy) ? client_address() : geo::ClientAddress{},
        rotation, *state_.selection, max);
    // A fallback answer is a stand-in: short-lived, so clients come back to
    // the asked array soon after it recovers.
    if (answering.hops > 0) selection.ttl = std::min(selection.ttl, array.settings.degraded_ttl);
    return selection;
  }

  // The whole selected RRset and the RRSIG the snapshot builder made for
  // exactly these instances (arrays/signed_answers.h), or TC. Over the
  // signing budget the answer is the policy's lead and the next instances in
  // ring order. A set without a signature cannot happen (every set the
  // selection can give was signed); should it, debug builds stop and release
  // builds answer unsigned, which validators treat as bogus, as they would
  // a SERVFAIL.
  Step add_signed_array(const arrays::ArrayState& asked, const arrays::ArrayState& array,
                        uint8_t family, MessageWriter::Owner owner,
                        arrays::Selection& selection) noexcept {
    const std::string* rrsig = signed_set(asked, array, family, selection);
    assert(rrsig != nullptr && asked.signatures->family(family).ttl == selection.ttl);
    const arrays::AnswerInstance* const* chosen = state_.selection->chosen;
    const size_t rdata_size = family == 4 ? 4 : 16;
    const MessageWriter::Mark before = writer_.mark();
    bool fits = true;
    for (uint16_t i = 0; i < selection.count && fits; ++i) {
      const std::string_view rdata(reinterpret_cast<const char*>(chosen[i]->rdata), rdata_size);
      fits = writer_.write_record(Section::answer, owner, query_.qtype, dns::rrclass::IN,
                                  selection.ttl, rdata);
    }
    if (fits && rrsig != nullptr) {
      fits = writer_.write_record(Section::answer, owner, dns::type::RRSIG, dns::rrclass::IN,
                                  selection.ttl, *rrsig);
    }
    if (!fits) {
      writer_.rollback(before);
      truncated_ = true;
      return Step::truncated;
    }
    return Step::hit;
  }

  // The RRSIG RDATA the snapshot builder made for the selection's answer
  // (state_.selection->chosen; in ring mode the selection becomes the ring
  // window first), or null when the signatures are of another answering
  // array or candidate list (never by construction).
  const std::string* signed_set(const arrays::ArrayState& asked, const arrays::ArrayState& array,
                                uint8_t family, arrays::Selection& selection) noexcept {
    const arrays::FamilySignatures& signatures = asked.signatures->family(family);
    const arrays::FamilyCandidates& candidates = array.family(family);
    if (signatures.ring) {
      arrays::ring_window(candidates, signatures.window, *state_.selection, selection);
    }
    if (signatures.answering != array.name || signatures.candidates != candidates.instances.size()) {
      return nullptr;
    }
    return signatures.find(arrays::chosen_set_key(candidates, *state_.selection, selection.count));
  }

  // An RRSIG query at an array name of a zone rotor signs, answered as NSD
  // answers one in a pre-signed zone (every RRSIG at the name) for a name
  // whose RRsets are computed per query: the RRSIGs of the A and AAAA
  // answers a query for them from this client would get now (the same
  // selection, from a copy of the rotation so the next answer is that one,
  // and the signature the snapshot builder made for that set), those of the
  // zone's other RRsets at the name, and that of the array's NSEC (with the
  // negative TTL, as a NODATA there carries it); with or without DO, TC when
  // they do not all fit. A family answering NODATA has no RRSIG to give.
  Step add_array_rrsigs(const arrays::ArrayState& asked, const Node* node,
                        MessageWriter::Owner owner, const Zone& zone) noexcept {
    const MessageWriter::Mark before = writer_.mark();
    bool fits = true;
    size_t written = 0;
    const auto write = [&](uint32_t ttl, std::string_view rrsig) noexcept {
      if (fits) {
        fits = writer_.write_record(Section::answer, owner, dns::type::RRSIG, dns::rrclass::IN,
                                    ttl, rrsig);
        ++written;
      }
    };
    for (const uint8_t family : {uint8_t{4}, uint8_t{6}}) {
      const arrays::AnsweringArray answering =
          arrays::resolve_fallback(*snapshot_.arrays, asked, family);
      const arrays::ArrayState& array = *answering.array;
      uint32_t rotation = rotation_of(array);  // a copy: the next A/AAAA answer is this set
      arrays::Selection selection =
          select_family(answering, family, rotation, arrays::kMaxInstancesPerArray);
      ecs_scope_ = std::max(ecs_scope_, selection.ecs_scope);
      if (selection.kind == arrays::Selection::Kind::nodata) continue;
      const std::string* rrsig = signed_set(asked, array, family, selection);
      assert(rrsig != nullptr);
      if (rrsig != nullptr) write(selection.ttl, *rrsig);
    }
    if (node != nullptr) {
      for (const RRset& rrset : node->rrsets) {
        // The array answers A and AAAA there, and its NSEC is the name's.
        if (rrset.type == dns::type::A || rrset.type == dns::type::AAAA ||
            rrset.type == dns::type::NSEC) {
          continue;
        }
        for (const std::string& signature : rrset.signatures) write(rrset.signature_ttl, signature);
      }
    }
    const uint32_t nsec_ttl = zone.negative_ttl();
    if (const arrays::ArraySignatures::NsecSignature* nsec =
            asked.signatures->nsec_signature(nsec_ttl)) {
      write(nsec_ttl, nsec->rrsig);
    }
    // Nothing signed at all (a name too long for an NSEC, no family
    // answering): NODATA, as for a name with no RRSIG.
    if (written == 0) return add_negative(zone, Step::nodata);
    if (!fits) {
      writer_.rollback(before);
      truncated_ = true;
      return Step::truncated;
    }
    return Step::hit;
  }

  // The compact-denial NSEC (RFC 9824) of a NODATA at an array's name (or
  // the answer to an NSEC query there), and its RRSIG made for this TTL; TC
  // when it does not fit; left out when (never by construction) no
  // signature was made for the TTL.
  void add_array_nsec(const arrays::ArrayState& asked, uint32_t ttl,
                      Section section = Section::authority) noexcept {
    const arrays::ArraySignatures& signatures = *asked.signatures;
    const arrays::ArraySignatures::NsecSignature* rrsig = signatures.nsec_signature(ttl);
    assert(rrsig != nullptr || signatures.nsec.empty());
    if (truncated_ || rrsig == nullptr) return;
    const MessageWriter::Owner owner{.name = asked.name, .is_question = false};
    const MessageWriter::Mark before = writer_.mark();
    if (!writer_.write_record(section, owner, dns::type::NSEC, dns::rrclass::IN, ttl,
                              signatures.nsec) ||
        !writer_.write_record(section, owner, dns::type::RRSIG, dns::rrclass::IN, ttl,
                              rrsig->rrsig)) {
      writer_.rollback(before);
      truncated_ = true;
    }
  }

  // RFC 8482: over UDP one RRset stands for all of them; TCP gets everything.
  Step add_any(MessageWriter::Owner owner, const Node& node, const Zone& zone) noexcept {
    if (node.rrsets.empty()) {
      prove_nodata(zone, node);
      return add_negative(zone, Step::nodata);
    }
    // With DO each RRset brings its signatures; the RRSIG RRset is not one more.
    const bool skip_rrsig = query_.edns_do && zone.is_signed();
    for (const RRset& rrset : node.rrsets) {
      if (skip_rrsig && rrset.type == dns::type::RRSIG) continue;
      add_required(Section::answer, owner, rrset);
      if (!tcp_) break;
    }
    return truncated_ ? Step::truncated : Step::hit;
  }

  // Returns Step::delegation.
  Step add_referral(const Zone& zone, const Node& cut) noexcept {
    if (writer_.count(Section::answer) == 0) authoritative_ = false;
    const RRset* ns = cut.find(dns::type::NS);
    if (ns == nullptr) return Step::delegation;
    add_required(Section::authority, {.name = cut.name, .is_question = false}, *ns);
    prove_referral(zone, cut);
    flush_proofs();
    // Glue below the cut is needed to follow the referral at all, so it is
    // required (RFC 9471); other in-zone addresses are a courtesy.
    for (const std::string& rdata : ns->rdatas) {
      with_target_name(rdata, 0, [&](std::string_view target) {
        if (!dns::is_subdomain(target, zone.origin())) return;
        const Node* host = zone.find(target);
        if (host == nullptr) return;
        const bool glue = dns::is_subdomain(target, cut.name);
        add_addresses(*host, glue);
      });
    }
    return Step::delegation;
  }

  // A DO NODATA at an array's name, with `ttl`: the authority section the
  // snapshot builder encoded with the NSEC's signature for that TTL
  // (arrays::ArraySignatures::NsecSignature), the bytes add_negative and
  // add_array_nsec would write. The array table matches names exactly, so
  // at the question the name is the array's, the one it was encoded after.
  bool add_encoded_array_nodata(const arrays::ArrayState& asked, uint32_t ttl) noexcept {
    const arrays::ArraySignatures::NsecSignature* nsec = asked.signatures->nsec_signature(ttl);
    if (nsec == nullptr || at_.name.size() != asked.name.size()) return false;
    return add_encoded_authority(nsec->nodata_authority, 0, 0);
  }

  // A DO negative answer's authority section from the zone's encoding of it
  // (zones::EncodedAuthority): the bytes add_negative and flush_proofs would
  // write, copied. Only right after the question: nothing written yet, no
  // proof waiting, the question's own name (no alias followed), since the
  // encoding compressed its names against that question alone; and only
  // when it fits (else the records go one by one, to be cut at a whole
  // RRset). `shift`: how much longer the question is than the name it was
  // encoded after, whose labels it has `extra_labels` more of.
  bool add_encoded_authority(const zones::EncodedAuthority& encoded, size_t extra_labels,
                             size_t shift) noexcept {
    if (encoded.records == 0 || !at_.owner.is_question || proof_count_ != 0 ||
        late_proof_count_ != 0 || array_proof_ != nullptr || writer_.count(Section::answer) != 0 ||
        writer_.count(Section::authority) != 0 ||
        writer_.size() != dns::kHeaderSize + query_.qname.size + 4) {
      return false;
    }
    // The question's extra labels take room in the writer's suffix table: the
    // encoding stands only if the table would not have filled up.
    if (extra_labels > 0 && encoded.suffixes + extra_labels > MessageWriter::kMaxSuffixes) {
      return false;
    }
    return writer_.append_encoded(Section::authority, encoded.bytes, encoded.pointers,
                                  static_cast<uint16_t>(shift), encoded.records);
  }

  // NODATA at the name asked, in an NSEC zone or one rotor signs, with DO.
  bool add_encoded_nodata(const Zone& zone, const Node& node) noexcept {
    if (!proving(zone) || node.name != at_.name) return false;
    if (zone.denial() != Zone::Denial::nsec && zone.denial() != Zone::Denial::compact) return false;
    return add_encoded_authority(node.nodata_authority, 0, 0);
  }

  // NXDOMAIN in an NSEC zone, with DO, for a name whose closest encloser is
  // the apex: the encoding kept by the node whose NSEC covers the name.
  bool add_encoded_nxdomain(const Zone& zone, const Node& encloser) noexcept {
    if (!proving(zone) || zone.denial() != Zone::Denial::nsec || &encloser != &zone.apex()) {
      return false;
    }
    const Node* cover = zone.covering_nsec(at_.name);
    if (cover == nullptr) return false;
    const size_t extra_labels = dns::label_count(at_.name) - dns::label_count(zone.origin());
    return add_encoded_authority(cover->nxdomain_authority, extra_labels,
                                 at_.name.size() - zone.origin().size());
  }

  // DNSSEC denial of existence for DO queries in signed zones (RFC 4035
  // 3.1.3, RFC 5155 7.2), with NSD's choice of records. The proofs collect
  // here while the answer section is still growing and go into the authority
  // section when the chain ends (flush_proofs), each RRset once.
  bool proving(const Zone& zone) const noexcept { return query_.edns_do && zone.is_signed(); }

  void add_proof(const Node* node, uint16_t type) noexcept {
    if (node == nullptr) return;
    const RRset* rrset = node->find(type);
    if (rrset == nullptr || proof_count_ == kMaxProofs) return;
    if (std::find(proofs_, proofs_ + proof_count_, rrset) != proofs_ + proof_count_) return;
    proofs_[proof_count_] = rrset;
    proof_owners_[proof_count_] = node;
    ++proof_count_;
  }

  void flush_proofs() noexcept {
    // Most answers prove nothing: that much is tested where they end.
    if (proofs_written_ == proof_count_ && late_proofs_written_ == late_proof_count_ &&
        array_proof_ == nullptr) {
      return;
    }
    flush_pending_proofs();
  }

  void flush_pending_proofs() noexcept {
    for (; proofs_written_ < proof_count_; ++proofs_written_) {
      add_required(Section::authority, {.name = proof_owners_[proofs_written_]->name, .is_question = false},
                   *proofs_[proofs_written_]);
    }
    for (; late_proofs_written_ < late_proof_count_; ++late_proofs_written_) {
      write_signed_denial(Section::authority, *late_proofs_[late_proofs_written_]);
    }
    if (array_proof_ != nullptr) {
      add_array_nsec(*array_proof_, array_proof_ttl_);
      array_proof_ = nullptr;
    }
  }

  // NXDOMAIN: the NSEC covering the name and the one covering the wildcard
  // of the closest encloser; with NSEC3 the closest encloser proof and the
  // cover of the wildcard.
  void prove_nxdomain(const Zone& zone, const Node& encloser) noexcept {
    if (!proving(zone)) return;
    if (zone.denial() == Zone::Denial::nsec) {
      add_proof(zone.covering_nsec(at_.name), dns::type::NSEC);
      dns::WireName wildcard;
      if (wildcard_of(encloser.name, wildcard)) {
        add_proof(zone.covering_nsec(wildcard.view()), dns::type::NSEC);
      }
    } else if (zone.denial() == Zone::Denial::nsec3) {
      prove_next_closer(zone, encloser);
      if (encloser.nsec3_exact) add_proof(encloser.nsec3, dns::type::NSEC3);
      add_proof(encloser.nsec3_wildcard, dns::type::NSEC3);
    }
  }

  // A wildcard expansion: no closer match exists (RFC 4035 3.1.3.3).
  void prove_wildcard(const Zone& zone, const Node& encloser) noexcept {
    if (!proving(zone)) return;
    if (zone.denial() == Zone::Denial::nsec) {
      add_proof(zone.covering_nsec(at_.name), dns::type::NSEC);
    } else if (zone.denial() == Zone::Denial::nsec3) {
      prove_next_closer(zone, encloser);
    }
  }

  // The NSEC3 covering the hash of the name one label below `encloser` on
  // the way to the name asked: hashed here, in fixed buffers.
  void prove_next_closer(const Zone& zone, const Node& encloser) noexcept {
    std::string_view next = at_.name;
    const unsigned wanted = dns::label_count(encloser.name) + 1;
    for (unsigned labels = dns::label_count(next); labels > wanted; --labels) {
      next = next.substr(dns::parent_offset(next));
    }
    bool exact = false;
    add_proof(zone.nsec3_cover(next, exact), dns::type::NSEC3);
  }

  // NODATA at `node` (RFC 4035 3.1.3.1, 3.1.3.4; RFC 5155 7.2.3 to 7.2.5).
  void prove_nodata(const Zone& zone, const Node& node) noexcept {
    if (!proving(zone)) return;
    if (zone.denial() == Zone::Denial::compact) {
      // The name's own NSEC (RFC 9824 3). A wildcard's NODATA needs one owned
      // by the name asked, made per query name (prove_wildcard_online).
      if (node.name == at_.name || !is_wildcard(node.name)) add_proof(&node, dns::type::NSEC);
      return;
    }
    if (zone.denial() == Zone::Denial::nsec) {
      add_proof(zone.covering_nsec(node.name), dns::type::NSEC);
      return;
    }
    if (zone.denial() != Zone::Denial::nsec3) return;
    // A wildcard's NODATA (the DS kind too): the closest encloser and the
    // wildcard itself; the next closer name's cover came with the expansion.
    if (is_wildcard(node.name)) {
      // A view first: std::string::substr would allocate.
      const std::string_view name = node.name;
      const Node* encloser = zone.find(name.substr(dns::parent_offset(name)));
      if (encloser != nullptr && encloser->nsec3_exact) add_proof(encloser->nsec3, dns::type::NSEC3);
      add_proof(node.nsec3, dns::type::NSEC3);
    } else if (query_.qtype == dns::type::DS) {
      if (&node == &zone.apex()) {
        if (node.nsec3_exact) add_proof(node.nsec3, dns::type::NSEC3);
      } else {
        prove_no_ds(zone, node);
      }
    } else if (node.nsec3_exact) {
      add_proof(node.nsec3, dns::type::NSEC3);
    }
  }

  // A referral: the DS RRset, or proof that there is none.
  void prove_referral(const Zone& zone, const Node& cut) noexcept {
    if (!proving(zone)) return;
    if (cut.find(dns::type::DS) != nullptr) {
      add_proof(&cut, dns::type::DS);
    } else if (zone.denial() == Zone::Denial::nsec3) {
      prove_no_ds(zone, cut);
    } else {
      add_proof(&cut, dns::type::NSEC);
    }
  }

  // No DS at `name` in an NSEC3 zone (RFC 5155 7.2.4, 7.2.7): its own NSEC3,
  // else the closest provable encloser, the cover of the name below it and
  // the (opt-out) cover of the name itself.
  void prove_no_ds(const Zone& zone, const Node& node) noexcept {
    if (node.nsec3_exact) {
      add_proof(node.nsec3, dns::type::NSEC3);
      return;
    }
    std::string_view name = node.name;
    const Node* below = nullptr;
    while (name.size() > zone.origin().size()) {
      name = name.substr(dns::parent_offset(name));
      const Node* parent = zone.find(name);
      if (parent == nullptr) continue;
      if (parent->nsec3_exact) {
        add_proof(parent->nsec3, dns::type::NSEC3);
        break;
      }
      below = parent;
    }
    if (below != nullptr) add_proof(below->nsec3, dns::type::NSEC3);
    add_proof(node.nsec3, dns::type::NSEC3);
  }

  static bool is_wildcard(std::string_view name) noexcept {
    return name.size() >= 2 && name[0] == 1 && name[1] == '*';
  }

  static bool wildcard_of(std::string_view name, dns::WireName& out) noexcept {
    if (name.size() + 2 > dns::kMaxNameLength) return false;
    out.bytes[0] = 1;
    out.bytes[1] = '*';
    std::memcpy(out.bytes + 2, name.data(), name.size());
    out.size = static_cast<uint8_t>(name.size() + 2);
    return true;
  }

  void add_additional_for(const RRset& rrset) noexcept {
    const int offset = additional_name_offset(rrset.type);
    if (offset < 0) return;
    for (const std::string& rdata : rrset.rdatas) {
      with_target_name(rdata, static_cast<size_t>(offset), [&](std::string_view target) {
        const Zone* zone = snapshot_.zones.find_authoritative(target);
        if (zone == nullptr) return;
        if (const Node* host = zone->find(target)) add_addresses(*host, false);
      });
    }
  }

  void add_addresses(const Node& host, bool required) noexcept {
    if (std::find(targets_, targets_ + target_count_, &host) != targets_ + target_count_) return;
    if (target_count_ == kMaxAdditionalTargets) return;
    targets_[target_count_++] = &host;
    const MessageWriter::Owner owner{.name = host.name, .is_question = false};
    for (uint16_t rrtype : {dns::type::A, dns::type::AAAA}) {
      const RRset* rrset = host.find(rrtype);
      if (rrset == nullptr) continue;
      if (required) {
        add_required(Section::additional, owner, *rrset);
      } else {
        add_optional(owner, *rrset);
      }
    }
  }

  template <typename F>
  static void with_target_name(const std::string& rdata, size_t offset, F&& use) noexcept {
    if (rdata.size() <= offset) return;
    dns::WireName target;
    const size_t length = dns::name_length(
        reinterpret_cast<const uint8_t*>(rdata.data()) + offset, rdata.size() - offset);
    if (length == 0) return;
    std::memcpy(target.bytes, rdata.data() + offset, length);
    target.size = static_cast<uint8_t>(length);
    dns::lowercase_name(target.bytes, target.size);
    use(target.view());
  }

  const Snapshot& snapshot_;
  const dns::ParsedQuery& query_;
  MessageWriter& writer_;
  const ClientInfo& client_;
  WorkerState& state_;
  const bool tcp_;
  Position at_{};
  dns::WireName chain_target_;  // the alias target `at_.name` views
  uint8_t ecs_scope_ = 0;
  bool truncated_ = false;
  bool authoritative_ = false;
  bool awaits_signature_ = false;
  const Node* targets_[kMaxAdditionalTargets];
  size_t target_count_ = 0;
  const RRset* additional_source_ = nullptr;  // the answer RRset whose targets get addresses
  const RRset* proofs_[kMaxProofs];
  // The nodes owning them (not views of their names: an array of views is
  // zeroed with every Answer, most of which prove nothing).
  const Node* proof_owners_[kMaxProofs];
  size_t proof_count_ = 0;
  size_t proofs_written_ = 0;
  // NSECs signed per query name (wildcard expansions), from the denial cache:
  // no insert happens while a query is answered, so the entries stay put.
  const dnssec::SignedDenial* late_proofs_[kMaxProofs];
  // An array's NSEC proving a wildcard expansion (prove_zero_child), and its TTL.
  const arrays::ArrayState* array_proof_ = nullptr;
  uint32_t array_proof_ttl_ = 0;
  size_t late_proof_count_ = 0;
  size_t late_proofs_written_ = 0;
};

// DS lives on the parent side of a cut (RFC 4035 3.1.4.1): a DS query for the
// apex of a zone we serve is answered from the parent zone when we serve that too.
const Zone* zone_for_query(const Snapshot& snapshot, const dns::ParsedQuery& query,
                           const Zone& zone) noexcept {
  if (query.qtype != dns::type::DS || zone.origin().size() <= 1 ||
      query.qname_lower.view() != zone.origin()) {
    return &zone;
  }
  // A view first: std::string::substr would return a temporary (and allocate).
  const std::string_view origin = zone.origin();
  const std::string_view parent = origin.substr(dns::parent_offset(origin));
  const Zone* parent_zone = snapshot.zones.find_authoritative(parent);
  return parent_zone != nullptr ? parent_zone : &zone;
}

// Whether the question is in a zone that denies compactly (RFC 9824).
bool names_online_zone(const Snapshot& snapshot, const dns::ParsedQuery& query) noexcept {
  const Zone* zone = snapshot.zones.find_authoritative(query.qname_lower.view());
  return zone != nullptr && zone->denial() == Zone::Denial::compact;
}

}  // namespace

size_t answer_query(const Snapshot& snapshot, std::span<const uint8_t> query,
                    const ClientInfo& client, std::span<uint8_t> out,
                    WorkerState& state) noexcept {
  counters::WorkerCounters& counters = *state.counters;
  if (out.size() < dns::kMaxUdpNoEdns) {
    counters.dropped.add();
    return 0;
  }
  dns::ParsedQuery parsed;
  bool question_parsed = false;
  const dns::ParseStatus status =
      dns::parse_query(query.data(), query.size(), parsed, question_parsed);
  if (status == dns::ParseStatus::drop) {
    counters.dropped.add();
    return 0;
  }
  const bool tcp = client.transport == Transport::tcp;
  // Without a question the type is unknown: counted as "other".
  counters.count_query(question_parsed ? parsed.qtype : uint16_t{0}, tcp);

  const dns::EdnsSettings edns{.nsid = snapshot.options.nsid,
                                .udp_payload_size = snapshot.options.edns_udp_size};
  const size_t limit =
      std::min(tcp ? dns::kMaxMessage : dns::udp_reply_limit(parsed, edns), out.size());

  // Opcode, RD and CD are echoed (RFC 1035 4.1.1, RFC 4035 3.2.2); RA stays clear.
  const uint16_t echoed = parsed.flags & (0x7800 | dns::flag::RD | dns::flag::CD);
  MessageWriter writer(out.data(), out.size(), limit);
  writer.write_header(parsed.id, dns::flag::QR | echoed);

  if (status == dns::ParseStatus::notimp || status == dns::ParseStatus::formerr) {
    if (status == dns::ParseStatus::formerr) counters.malformed.add();
    if (question_parsed) writer.write_question(parsed.qname, parsed.qtype, parsed.qclass);
    const uint16_t rcode =
        status == dns::ParseStatus::notimp ? dns::rcode::NOTIMP : dns::rcode::FORMERR;
    counters.count_response(rcode);
    writer.set_flags(static_cast<uint16_t>(writer.flags() | rcode));
    return writer.size();
  }

  const size_t opt_reserved = dns::opt_size(parsed, edns);
  // limit >= 512 > kMaxOptSize: the OPT record always has its room.
  assert(opt_reserved < limit);
  writer.set_limit(limit - opt_reserved);
  writer.write_question(parsed.qname, parsed.qtype, parsed.qclass);

  uint16_t rcode = dns::rcode::NOERROR;
  uint16_t flags = writer.flags();
  uint8_t ecs_scope = 0;
  if (parsed.has_edns && parsed.edns_version > 0) {
    rcode = dns::rcode::BADVERS;
  } else if (parsed.qclass != dns::rrclass::IN && parsed.qclass != dns::rrclass::ANY) {
    rcode = dns::rcode::REFUSED;
  } else if (parsed.qtype == dnssec::kTypeNxname && names_online_zone(snapshot, parsed)) {
    rcode = dns::rcode::FORMERR;  // RFC 9824 3.5: NXNAME is no type to ask for
  } else if (parsed.qtype == dns::type::AXFR || parsed.qtype == dns::type::IXFR) {
    rcode = dns::rcode::REFUSED;  // zone transfers are not offered (yet)
  } else if (const Zone* zone = snapshot.zones.find_authoritative(parsed.qname_lower.view())) {
    Answer answer(snapshot, parsed, writer, client, state);
    rcode = answer.answer_from(zone_for_query(snapshot, parsed, *zone));
    if (answer.awaits_signature()) {
      // Answered later, and counted then.
      counters.uncount_query(parsed.qtype, tcp);
      return kAwaitsSignature;
    }
    if (answer.authoritative()) flags |= dns::flag::AA;
    if (answer.truncated()) flags |= dns::flag::TC;
    ecs_scope = answer.client_subnet_scope();
  } else {
    rcode = dns::rcode::REFUSED;
  }
  writer.set_flags(static_cast<uint16_t>(flags | (rcode & 0xF)));
  counters.count_response(rcode);

  if (parsed.has_edns) {
    uint8_t opt[dns::kMaxOptSize];
    const size_t size = dns::build_opt(opt, parsed, edns, rcode, ecs_scope);
    writer.append_raw_additional(opt, size);
  }
  return writer.size();
}

void prepare_worker_state(const Snapshot& snapshot, WorkerState& state) {
  const uint32_t slots = snapshot.arrays->slot_limit();
  if (state.array_rotation.size() < slots) state.array_rotation.resize(slots);
  state.counters->array_answers.reserve(slots);
  // Entries belong to a zone's signer: when the signers change (a reload, a
  // re-sign, a new key), they go.
  std::vector<std::shared_ptr<const zones::OnlineSigner>> keys;
  for (const auto& zone : snapshot.zones.zones()) {
    if (zone->denial() == Zone::Denial::compact && zone->online_signer()) {
      keys.push_back(zone->online_signer());
    }
  }
  if (keys.empty() && state.denial == nullptr) return;
  if (state.denial == nullptr) state.denial = std::make_unique<DenialState>();
  if (keys != state.denial->keys) {
    state.denial->cache.clear();
    state.denial->keys = std::move(keys);
  }
  state.denial->key = nullptr;
}

}  // namespace rotor
