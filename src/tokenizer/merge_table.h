// Private to the tokenizer: the merge table, an open-addressing hash map from
// a pair of token ids to (merge rank, resulting id). Probed once per candidate
// pair during BPE, so it is kept flat and small: 16 bytes a slot.
#pragma once

#include <cstdint>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace qs::tokenizer {

struct Tokenizer::MergeTable {
  struct Slot {
    uint64_t key = kEmpty;  // (uint64(left) << 32) | right
    int32_t rank = 0;
    int32_t result = 0;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  explicit MergeTable(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    slots.resize(cap);
    mask = cap - 1;
  }
  static uint64_t key_of(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static size_t hash(uint64_t k) { return static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> 20); }

  // Keeps the first (lowest-rank) entry for a pair. Returns false if the pair
  // was already present.
  bool insert(int32_t a, int32_t b, int32_t rank, int32_t result) {
    uint64_t k = key_of(a, b);
    for (size_t i = hash(k) & mask;; i = (i + 1) & mask) {
      if (slots[i].key == k) return false;
      if (slots[i].key == kEmpty) {
        slots[i] = {k, rank, result};
        return true;
      }
    }
  }
  const Slot* find(int32_t a, int32_t b) const {
    uint64_t k = key_of(a, b);
    for (size_t i = hash(k) & mask;; i = (i + 1) & mask) {
      if (slots[i].key == k) return &slots[i];
      if (slots[i].key == kEmpty) return nullptr;
    }
  }

  std::vector<Slot> slots;
  size_t mask = 0;
};

}  // namespace qs::tokenizer
