#pragma once
// A persistent (immutable, structurally shared) map from array name to
// ArrayState. with() returns a new table that shares every untouched branch
// with this one, so publishing a change to one array costs the same with ten
// arrays or a million: a fixed-depth 64-way trie over the name's hash.
//
// It also counts, per name, the arrays below it (the proper ancestors of
// every array name, the root left out), in a second trie of the same shape:
// a name with an array below it exists (RFC 8020) even when its zone has
// nothing there, an empty non-terminal the zone file does not know, and the
// query path asks has_array_below() rather than walk the arrays. Adding or
// removing an array touches one path per ancestor; replacing one (a health
// change) touches none. The ancestors above a zone's apex are counted too:
// the table knows no zones (they change on their own, by reload), and the
// query path only asks about names below the closest encloser it found in
// the zone.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/arrays/array_state.h"

namespace rotor::arrays {

class ArrayTable {
 public:
  ArrayTable();

  // The array named `lower_wire_name`, or null. Allocation-free.
  const ArrayState* find(std::string_view lower_wire_name) const noexcept;

  // Whether some array's name lies below `lower_wire_name` (which is then
  // an empty non-terminal unless the zone has records there). Allocation-free.
  bool has_array_below(std::string_view lower_wire_name) const noexcept;
  // How many arrays' names lie below `lower_wire_name` (0 for the root,
  // which is not counted). Allocation-free.
  uint32_t arrays_below(std::string_view lower_wire_name) const noexcept;

  // A table with `state` inserted or replaced (by state->name).
  std::shared_ptr<const ArrayTable> with(std::shared_ptr<const ArrayState> state) const;
  // A table without the array named `lower_wire_name`.
  std::shared_ptr<const ArrayTable> without(std::string_view lower_wire_name) const;

  size_t size() const noexcept { return size_; }
  // One past the highest rotation slot in use: workers size their counters by it.
  uint32_t slot_limit() const noexcept { return slot_limit_; }

  // Every array, in no particular order (control plane: API listings, tests).
  std::vector<std::shared_ptr<const ArrayState>> all() const;

 private:
  static constexpr unsigned kBits = 6;
  static constexpr unsigned kFanout = 1u << kBits;
  static constexpr unsigned kDepth = 3;  // 262,144 leaves; a leaf holds the names that share them

  struct Leaf {
    std::vector<std::shared_ptr<const ArrayState>> entries;
  };
  // A proper ancestor of array names and how many arrays are below it.
  struct Ancestor {
    std::string name;  // lower-case wire format
    uint32_t arrays = 0;
  };
  struct AncestorLeaf {
    std::vector<Ancestor> entries;
  };
  struct Branch {
    std::array<std::shared_ptr<const void>, kFanout> children;  // Branch, Leaf or AncestorLeaf
  };

  // The leaf `hash` leads to in the trie at `root`, or null.
  static const void* leaf_of(const Branch* root, size_t hash) noexcept;
  // The ancestors_ entry of `lower_wire_name`, or null.
  const Ancestor* find_ancestor(std::string_view lower_wire_name) const noexcept;
  // Adds `delta` (+1 or -1) to the count of every proper ancestor of `name`
  // but the root, in ancestors_; an ancestor whose count drops to 0 goes.
  void count_ancestors(std::string_view name, int delta);

  std::shared_ptr<const Branch> root_;
  std::shared_ptr<const Branch> ancestors_;  // AncestorLeaf at the bottom
  size_t size_ = 0;
  uint32_t slot_limit_ = 0;
};

}  // namespace rotor::arrays
