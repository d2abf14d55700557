#pragma once
// The arrays a snapshot publishes, with the signatures of those in zones rotor
// signs online (issue 17): the snapshot composer hands it the registry's
// (unsigned) array table and what changed since the last publish, and gets
// back the table to publish, in which every array of a zone with an online
// signer is a copy of the registry's state carrying its ArraySignatures
// (dnssec/array_signer.h). Signing happens here, on the composer's publishing
// thread, before the snapshot is published: a DO answer is never unsigned.
//
// An array is signed again only when what its answers depend on changed: its
// own state, the state of the fallback that answers for a family
// (resolve_fallback), or its zone (reload, re-sign, key change). A change to
// one array costs its own answer sets (mostly cache hits after a flap) plus a
// look at the signed arrays that have a fallback; a zone change or a whole
// new table looks at every array.
//
// Thread-safety: none; the composer calls it under its publishing mutex.
// Errors: none thrown for data; failed signatures are counted (stats()).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "server/arrays/array_table.h"
#include "zones/zone_set.h"

namespace rotor::registry {

class SignedArrays {
 public:
  struct Stats {
    uint64_t arrays_signed = 0;  // array states signed (a rebuild each)
    uint64_t rrsets = 0;         // answer sets and NSECs signed or found in the cache
    uint64_t failures = 0;       // of them, not signed
  };

  // `changes`: the arrays put (the new state) or removed (null) since the
  // last call, by lower-case wire name; `replaced`: the whole table or the
  // zones changed (everything is looked at). Returns the table to publish.
  std::shared_ptr<const arrays::ArrayTable> update(
      const std::shared_ptr<const zones::ZoneSet>& zones,
      const std::shared_ptr<const arrays::ArrayTable>& source,
      const std::map<std::string, std::shared_ptr<const arrays::ArrayState>>& changes,
      bool replaced);

  const Stats& stats() const noexcept { return stats_; }

 private:
  // What a signed array's signatures were made from; pointers are compared,
  // and the shared ones keep their objects alive so no address is reused.
  struct Inputs {
    std::shared_ptr<const arrays::ArrayState> state;
    const arrays::ArrayState* answering4 = nullptr;
    const arrays::ArrayState* answering6 = nullptr;
    const zones::Zone* zone = nullptr;
    bool operator==(const Inputs&) const = default;
  };
  struct Entry {
    Inputs inputs;
    std::shared_ptr<const arrays::ArrayState> published;  // the signed copy
  };

  // Publishes `state` signed when its zone is signed online, else as it is.
  void consider(const std::shared_ptr<const arrays::ArrayState>& state,
                const zones::ZoneSet& zones, const arrays::ArrayTable& source);
  // Re-signs the signed arrays whose fallback answers changed.
  void follow_fallbacks(const arrays::ArrayTable& source);
  Inputs inputs_of(const std::shared_ptr<const arrays::ArrayState>& state, const zones::Zone& zone,
                   const arrays::ArrayTable& source) const;
  void sign(const Inputs& inputs, const arrays::ArrayTable& source);

  std::shared_ptr<const arrays::ArrayTable> published_;
  std::shared_ptr<const arrays::ArrayTable> source_;   // pins the states entries point at
  std::shared_ptr<const zones::ZoneSet> zones_;        // pins the zones entries point at
  std::unordered_map<std::string, Entry> entries_;     // the signed arrays, by name
  Stats stats_;
};

}  // namespace rotor::registry
