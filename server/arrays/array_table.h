#pragma once
// A persistent (immutable, structurally shared) map from array name to
// ArrayState. with() returns a new table that shares every untouched branch
// with this one, so publishing a change to one array costs the same with ten
// arrays or a million: a fixed-depth 64-way trie over the name's hash.

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "server/arrays/array_state.h"

namespace rotor::arrays {

class ArrayTable {
 public:
  ArrayTable();

  // The array named `lower_wire_name`, or null. Allocation-free.
  const ArrayState* find(std::string_view lower_wire_name) const noexcept;

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
  struct Branch {
    std::array<std::shared_ptr<const void>, kFanout> children;  // Branch or Leaf
  };

  std::shared_ptr<const Branch> root_;
  size_t size_ = 0;
  uint32_t slot_limit_ = 0;
};

}  // namespace rotor::arrays
