#pragma once
// The in-memory form of one authoritative zone, built once and then only read.
// Names are stored as lower-case uncompressed wire format; RDATA is stored as
// uncompressed wire format with the case the zone file gave. The query path
// looks names up without building strings: it hands in a view of a stack
// buffer, and the index keys are views into nodes this zone owns.

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "zones/dnssec.h"
#include "zones/online_signer.h"

namespace rotor::zones {

struct RRset {
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<std::string> rdatas;  // one uncompressed wire RDATA per record, no duplicates
  // In a signed zone: the RRSIG records at this owner that cover this type
  // (their RDATA) and their TTL; empty otherwise (dnssec.h).
  std::vector<std::string> signatures;
  uint32_t signature_ttl = 0;
};

// One RRSIG record as the zone file gave it, TTL included: the RRSIGs at one
// owner cover RRsets of different TTLs, so they are not one RRset's worth.
struct Signature {
  uint32_t ttl = 0;
  std::string rdata;
  uint16_t covered() const noexcept;
};

// The authority section of a DO negative answer in a signed zone (the SOA
// and the NSEC proof, each with its RRSIGs), encoded once when the zone is
// built, as dns::MessageWriter writes it right after a question, with its
// names compressed against that question and each other (dnssec.h:
// encode_negative_answers). The query path copies it after a question that
// is the same name, or a longer name ending in it, moving the compression
// pointers by the difference: the bytes the writer would have written, for
// a fraction of the work. Empty (no records) when there is none.
struct EncodedAuthority {
  std::string bytes;
  std::vector<uint16_t> pointers;  // offsets in `bytes` of its compression pointers
  uint16_t records = 0;
  uint8_t suffixes = 0;  // names' suffixes the writer held at its end (MessageWriter::remembered_suffixes)
};

struct Node {
  std::string name;                 // lower-case wire format
  std::vector<RRset> rrsets;        // sorted by type; empty for an empty non-terminal
  bool is_delegation = false;       // has NS and is not the apex
  bool below_delegation = false;    // some ancestor below the apex is a delegation (glue, occluded)
  bool has_wildcard_child = false;  // "*.<name>" exists
  // Only NSEC3 (and its RRSIG) here: a hashed owner name, which is not a name
  // of the zone (NSD answers as if it did not exist). Not in the lookup index.
  bool nsec3_only = false;
  std::vector<Signature> rrsigs;     // every RRSIG record at this owner
  // NSEC3 zones, for names of the zone above any cut: the node whose NSEC3
  // matches this name's hash (nsec3_exact) or else covers it, and the node
  // whose NSEC3 covers (or matches) the hash of "*.<name>".
  const Node* nsec3 = nullptr;
  bool nsec3_exact = false;
  const Node* nsec3_wildcard = nullptr;
  // NSEC zones and zones rotor signs, names above a cut: a NODATA at this
  // name, encoded after a question of this name. NSEC zones, nodes with an
  // NSEC: an NXDOMAIN whose name this NSEC covers and whose closest encloser
  // is the apex (the SOA, this NSEC, the NSEC covering the apex's wildcard),
  // encoded after a question of the apex.
  EncodedAuthority nodata_authority;
  EncodedAuthority nxdomain_authority;

  const RRset* find(uint16_t type) const noexcept;
};

struct NameHash {
  size_t operator()(std::string_view s) const noexcept;
};

class Zone {
 public:
  // The index views the nodes' names, so a copy would point into the original.
  Zone(const Zone&) = delete;
  Zone& operator=(const Zone&) = delete;

  // Lower-case wire name of the apex, e.g. "\x02lb\x07example\x04test\x00".
  const std::string& origin() const noexcept { return origin_; }
  // The origin in presentation form with the trailing dot, for logs.
  const std::string& origin_text() const noexcept { return origin_text_; }
  const Node& apex() const noexcept { return *apex_; }
  const RRset& soa() const noexcept { return *soa_; }
  uint32_t serial() const noexcept;
  // TTL of the SOA in negative answers: min(SOA TTL, SOA MINIMUM), RFC 2308 3.
  uint32_t negative_ttl() const noexcept;

  // Exact lookup of a lower-case wire name at or below the origin.
  const Node* find(std::string_view lower_wire_name) const noexcept;

  size_t node_count() const noexcept { return nodes_.size(); }
  size_t record_count() const noexcept { return record_count_; }
  // Whether any name below the apex is a zone cut.
  bool has_delegations() const noexcept { return has_delegations_; }
  // Signed zones: the bytes of its encoded negative answers, and how many
  // names went without because negative_answer_budget() ran out (the zone
  // loader warns).
  size_t encoded_negative_bytes() const noexcept { return encoded_negative_bytes_; }
  size_t unencoded_negative_names() const noexcept { return unencoded_negative_names_; }
  const std::deque<Node>& nodes() const noexcept { return nodes_; }

  // DNSSEC (dnssec.h): whether the zone is signed and how it denies.
  // `compact`: signed by rotor (online_signer.h): every name above a cut has
  // an NSEC of its own (RFC 9824 3, next name "\000.<name>", its types plus
  // RRSIG and NSEC) for NODATA; names that do not exist need one made for
  // the query name.
  enum class Denial : uint8_t { none, nsec, nsec3, compact };
  bool is_signed() const noexcept { return signed_; }
  Denial denial() const noexcept { return denial_; }
  // NSEC zones: the node holding the NSEC at or canonically before
  // `lower_wire_name` (NSD's find_covering_nsec), or null.
  const Node* covering_nsec(std::string_view lower_wire_name) const noexcept;
  // NSEC3 zones: the node whose NSEC3 matches (`exact`) or covers the hash of
  // `lower_wire_name`; null when the zone has no NSEC3 chain.
  const Node* nsec3_cover(std::string_view lower_wire_name, bool& exact) const noexcept;
  const Node* nsec3_cover_hash(const uint8_t (&hash)[kNsec3HashSize], bool& exact) const noexcept;

  // Zones rotor signs (Denial::compact): what signs more of this zone's
  // RRsets, for snapshot builders only (never the query path); null otherwise.
  const std::shared_ptr<const OnlineSigner>& online_signer() const noexcept { return online_signer_; }
  // The TTL of the zone's NSEC records: min(SOA TTL, SOA MINIMUM), RFC 9077 /
  // RFC 4034 4 as updated, the same as negative_ttl().
  uint32_t nsec_ttl() const noexcept { return negative_ttl(); }

 private:
  friend class ZoneBuilder;
  friend void index_dnssec(Zone& zone);
  friend void encode_negative_answers(Zone& zone, size_t budget);
  friend EncodedAuthority encode_array_nodata(const Zone&, std::string_view, uint32_t,
                                              const std::string&, const std::string&);
  Zone() = default;

  struct Nsec3Link {
    uint8_t hash[kNsec3HashSize];
    const Node* node;
  };

  std::string origin_;
  std::string origin_text_;
  std::deque<Node> nodes_;  // deque: addresses stay put while nodes are added
  std::unordered_map<std::string_view, const Node*, NameHash> index_;
  const Node* apex_ = nullptr;
  const RRset* soa_ = nullptr;
  size_t record_count_ = 0;
  size_t encoded_negative_bytes_ = 0;
  size_t unencoded_negative_names_ = 0;
  bool has_delegations_ = false;
  bool signed_ = false;
  Denial denial_ = Denial::none;
  std::shared_ptr<const OnlineSigner> online_signer_;
  std::vector<const Node*> canonical_;    // every node, in canonical order
  std::vector<const Node*> nsec_before_;  // per canonical_ entry: the NSEC at or before it
  Nsec3Params nsec3_params_;
  std::vector<Nsec3Link> nsec3_chain_;    // by hash
};

// Collects records and validates the zone as a whole. `add` checks what can be
// checked per record; `finish` checks the zone: exactly one SOA at the apex, NS
// at the apex, no CNAME beside other data, no data below a DNAME; it creates the
// empty non-terminals and marks delegations. Both report an error the same way:
// as their return value, a plain sentence that the caller prefixes with file
// and line, or nullopt when all is well. Nothing here throws for bad data.
class ZoneBuilder {
 public:
  explicit ZoneBuilder(std::string_view origin_wire);

  // Adds one record. All records of one RRset must share a TTL; like NSD and
  // BIND we use the first TTL seen and report nothing. Exact duplicates are
  // dropped silently (RFC 2181 5). Returns an error for data outside the zone
  // or a class other than IN.
  std::optional<std::string> add(std::string_view owner_wire, uint16_t type, uint16_t rrclass,
                                 uint32_t ttl, std::string_view rdata);

  // Checks the zone as a whole and builds it into `zone`; returns the first
  // rule it breaks instead (and leaves `zone` alone). Once only.
  std::optional<std::string> finish(std::shared_ptr<const Zone>& zone);

  // Makes finish() sign the zone with `signer` (online signing, Denial::compact):
  // after the zone-wide checks it gives every name above a cut its compact
  // NSEC, then fills `signatures` of every RRset the zone signs (RFC 4035 2.2:
  // all of them at and below the apex, except at a cut, where only DS and
  // NSEC, and nothing below a cut). The caller adds the key RRsets (DNSKEY,
  // CDS, CDNSKEY) at the apex itself. A signature that fails fails finish().
  void sign_online(std::shared_ptr<const OnlineSigner> signer);

 private:
  // The steps of finish(), in order (kFinishSteps in zone.cc).
  std::optional<std::string> check_apex();
  std::optional<std::string> check_singletons();
  std::optional<std::string> add_empty_non_terminals();
  std::optional<std::string> mark_cuts();
  std::optional<std::string> add_compact_denial();
  std::optional<std::string> build_index();
  std::optional<std::string> sign_rrsets();
  std::optional<std::string> encode_negative_answers();

  Node& node_for(std::string_view lower_name);
  Node& existing(std::string_view lower_name);

  std::unique_ptr<Zone> zone_;
  std::unordered_map<std::string, Node*> by_name_;
  Node* apex_ = nullptr;  // set by check_apex
  std::shared_ptr<const OnlineSigner> signer_;
};

// The most bytes of encoded negative answers (EncodedAuthority, about 0.7 KiB
// a name) ZoneBuilder::finish keeps for one signed zone: names are encoded
// in the zone's order until the next would pass it, and the rest are written
// record by record on the query path, the same bytes a little slower
// (Zone::unencoded_negative_names says how many). Config `dnssec.
// encoded_answers_mib`; 0 turns the encoding off, for zones and for the
// DO NODATA of array names (dnssec::sign_array). Process-wide, set once at
// startup (and by tests, to build the same zone with and without); never
// while zones are being built.
inline constexpr size_t kDefaultNegativeAnswerBudget = size_t{128} << 20;
void set_negative_answer_budget(size_t bytes) noexcept;
size_t negative_answer_budget() noexcept;

// Presentation form ("www.example.com.") of a wire name; for logs and errors.
std::string name_to_text(std::string_view wire);
// Wire form of a presentation name; nullopt when malformed. Relative names are
// taken as absolute.
std::optional<std::string> name_from_text(std::string_view text);
// The same, lower-cased: the form zones, arrays and the registry key names on.
std::optional<std::string> lower_name_from_text(std::string_view text);

}  // namespace rotor::zones
