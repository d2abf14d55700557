#include "server/arrays/array_table.h"

#include <algorithm>

#include "server/dns/wire.h"
#include "zones/zone.h"

namespace rotor::arrays {

namespace {

size_t hash_name(std::string_view name) noexcept { return zones::NameHash{}(name); }

unsigned child_index(size_t hash, unsigned level, unsigned bits) noexcept {
  return static_cast<unsigned>(hash >> (level * bits)) & ((1u << bits) - 1);
}

}  // namespace

ArrayTable::ArrayTable()
    : root_(std::make_shared<const Branch>()), ancestors_(std::make_shared<const Branch>()) {}

const void* ArrayTable::leaf_of(const Branch* root, size_t hash) noexcept {
  const Branch* branch = root;
  for (unsigned level = 0; level + 1 < kDepth; ++level) {
    branch = static_cast<const Branch*>(branch->children[child_index(hash, level, kBits)].get());
    if (branch == nullptr) return nullptr;
  }
  return branch->children[child_index(hash, kDepth - 1, kBits)].get();
}

const ArrayState* ArrayTable::find(std::string_view lower_wire_name) const noexcept {
  if (size_ == 0) return nullptr;
  const auto* leaf = static_cast<const Leaf*>(leaf_of(root_.get(), hash_name(lower_wire_name)));
  if (leaf == nullptr) return nullptr;
  for (const auto& entry : leaf->entries) {
    if (entry->name == lower_wire_name) return entry.get();
  }
  return nullptr;
}

const ArrayTable::Ancestor* ArrayTable::find_ancestor(std::string_view lower_wire_name) const noexcept {
  if (size_ == 0) return nullptr;
  const auto* leaf =
      static_cast<const AncestorLeaf*>(leaf_of(ancestors_.get(), hash_name(lower_wire_name)));
  if (leaf == nullptr) return nullptr;
  for (const Ancestor& entry : leaf->entries) {
    if (entry.name == lower_wire_name) return &entry;
  }
  return nullptr;
}

bool ArrayTable::has_array_below(std::string_view lower_wire_name) const noexcept {
  return find_ancestor(lower_wire_name) != nullptr;
}

uint32_t ArrayTable::arrays_below(std::string_view lower_wire_name) const noexcept {
  const Ancestor* ancestor = find_ancestor(lower_wire_name);
  return ancestor != nullptr ? ancestor->arrays : 0;
}

namespace {

// Copies the path from the root to the leaf of `hash`, applies `edit` to the
// leaf's entries, and returns the new root; everything off the path is shared.
template <typename Branch, typename Leaf, typename Edit>
std::shared_ptr<const Branch> rebuild_path(const std::shared_ptr<const Branch>& root, size_t hash,
                                           unsigned depth, unsigned bits, Edit&& edit) {
  std::vector<std::shared_ptr<Branch>> path;
  path.reserve(depth);
  const Branch* old = root.get();
  for (unsigned level = 0; level < depth; ++level) {
    auto copy = old != nullptr ? std::make_shared<Branch>(*old) : std::make_shared<Branch>();
    path.push_back(copy);
    if (level + 1 < depth) {
      old = static_cast<const Branch*>(copy->children[child_index(hash, level, bits)].get());
    }
  }
  const unsigned leaf_index = child_index(hash, depth - 1, bits);
  const auto* old_leaf = static_cast<const Leaf*>(path.back()->children[leaf_index].get());
  auto leaf = old_leaf != nullptr ? std::make_shared<Leaf>(*old_leaf) : std::make_shared<Leaf>();
  edit(leaf->entries);
  path.back()->children[leaf_index] =
      leaf->entries.empty() ? nullptr : std::shared_ptr<const void>(std::move(leaf));
  for (unsigned level = depth - 1; level > 0; --level) {
    path[level - 1]->children[child_index(hash, level - 1, bits)] = std::move(path[level]);
  }
  return path.front();
}

}  // namespace

std::shared_ptr<const ArrayTable> ArrayTable::with(std::shared_ptr<const ArrayState> state) const {
  auto table = std::make_shared<ArrayTable>(*this);
  bool replaced = false;
  table->root_ = rebuild_path<Branch, Leaf>(
      root_, hash_name(state->name), kDepth, kBits, [&](auto& entries) {
        for (auto& entry : entries) {
          if (entry->name == state->name) {
            entry = state;
            replaced = true;
            return;
          }
        }
        entries.push_back(state);
      });
  if (!replaced) {
    ++table->size_;
    table->count_ancestors(state->name, +1);
  }
  table->slot_limit_ = std::max(slot_limit_, state->slot + 1);
  return table;
}

std::shared_ptr<const ArrayTable> ArrayTable::without(std::string_view lower_wire_name) const {
  if (find(lower_wire_name) == nullptr) return std::make_shared<ArrayTable>(*this);
  auto table = std::make_shared<ArrayTable>(*this);
  table->root_ = rebuild_path<Branch, Leaf>(
      root_, hash_name(lower_wire_name), kDepth, kBits, [&](auto& entries) {
        std::erase_if(entries, [&](const auto& entry) { return entry->name == lower_wire_name; });
      });
  --table->size_;
  table->count_ancestors(lower_wire_name, -1);
  return table;
}

void ArrayTable::count_ancestors(std::string_view name, int delta) {
  // The root (one octet) exists in any case: it is no zone's empty non-terminal.
  if (name.size() <= 1) return;
  for (std::string_view ancestor = name.substr(dns::parent_offset(name)); ancestor.size() > 1;
       ancestor = ancestor.substr(dns::parent_offset(ancestor))) {
    ancestors_ = rebuild_path<Branch, AncestorLeaf>(
        ancestors_, hash_name(ancestor), kDepth, kBits, [&](std::vector<Ancestor>& entries) {
          for (auto it = entries.begin(); it != entries.end(); ++it) {
            if (it->name != ancestor) continue;
            it->arrays = static_cast<uint32_t>(static_cast<int64_t>(it->arrays) + delta);
            if (it->arrays == 0) entries.erase(it);
            return;
          }
          // Only an added array brings a name not counted yet.
          if (delta > 0) entries.push_back({std::string(ancestor), 1});
        });
  }
}

std::vector<std::shared_ptr<const ArrayState>> ArrayTable::all() const {
  std::vector<std::shared_ptr<const ArrayState>> out;
  out.reserve(size_);
  auto visit = [&](auto&& self, const Branch* branch, unsigned level) -> void {
    for (const auto& child : branch->children) {
      if (child == nullptr) continue;
      if (level + 1 < kDepth) {
        self(self, static_cast<const Branch*>(child.get()), level + 1);
      } else {
        const auto* leaf = static_cast<const Leaf*>(child.get());
        out.insert(out.end(), leaf->entries.begin(), leaf->entries.end());
      }
    }
  };
  visit(visit, root_.get(), 0);
  return out;
}

}  // namespace rotor::arrays
