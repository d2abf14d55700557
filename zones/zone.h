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

namespace rotor::zones {

struct RRset {
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::vector<std::string> rdatas;  // one uncompressed wire RDATA per record, no duplicates
};

struct Node {
  std::string name;                 // lower-case wire format
  std::vector<RRset> rrsets;        // sorted by type; empty for an empty non-terminal
  bool is_delegation = false;       // has NS and is not the apex
  bool below_delegation = false;    // some ancestor below the apex is a delegation (glue, occluded)
  bool has_wildcard_child = false;  // "*.<name>" exists

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
  const std::deque<Node>& nodes() const noexcept { return nodes_; }

 private:
  friend class ZoneBuilder;
  Zone() = default;

  std::string origin_;
  std::string origin_text_;
  std::deque<Node> nodes_;  // deque: addresses stay put while nodes are added
  std::unordered_map<std::string_view, const Node*, NameHash> index_;
  const Node* apex_ = nullptr;
  const RRset* soa_ = nullptr;
  size_t record_count_ = 0;
  bool has_delegations_ = false;
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

 private:
  // The steps of finish(), in order (kFinishSteps in zone.cc).
  std::optional<std::string> check_apex();
  std::optional<std::string> check_singletons();
  std::optional<std::string> add_empty_non_terminals();
  std::optional<std::string> mark_cuts();
  std::optional<std::string> build_index();

  Node& node_for(std::string_view lower_name);
  Node& existing(std::string_view lower_name);

  std::unique_ptr<Zone> zone_;
  std::unordered_map<std::string, Node*> by_name_;
  Node* apex_ = nullptr;  // set by check_apex
};

// Presentation form ("www.example.com.") of a wire name; for logs and errors.
std::string name_to_text(std::string_view wire);
// Wire form of a presentation name; nullopt when malformed. Relative names are
// taken as absolute.
std::optional<std::string> name_from_text(std::string_view text);
// The same, lower-cased: the form zones, arrays and the registry key names on.
std::optional<std::string> lower_name_from_text(std::string_view text);

}  // namespace rotor::zones
