// A pool of fixed-size KV blocks: reference counts, an LRU free list and the
// prefix-cache map (block hash -> block). Bookkeeping only; the memory behind
// a block id lives in model/kv_cache.h.
//
// Prefix caching (as in vLLM v1's block_pool.py): a FULL block is keyed by
// hash(parent block's key, its block_size token ids). The key is 128 bits (two
// independently seeded 64-bit mixes), and collisions are accepted rather than
// checked by storing tokens: at 2^-128 per pair they are far below the rate of
// memory bit flips. A freed block keeps its key and stays findable until the
// allocator hands it out for something else (then it is evicted from the map).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace qs::kvcache {

struct BlockHash {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool operator==(const BlockHash&) const = default;
};

struct BlockHashHasher {
  size_t operator()(const BlockHash& h) const { return static_cast<size_t>(h.lo ^ (h.hi >> 1)); }
};

// Key of the block of `tokens` (block_size ids) that follows `parent`
// (BlockHash{} for the first block of a sequence).
BlockHash hash_block(const BlockHash& parent, std::span<const int32_t> tokens);

// Keys of the full blocks of `tokens`, in order: [tokens.size() / block_size].
std::vector<BlockHash> hash_full_blocks(std::span<const int32_t> tokens, int32_t block_size);

// The outcome of an allocation: blocks, or why not.
struct Allocation {
  enum class Kind { kOk, kLater, kImpossible };
  Kind kind = Kind::kOk;
  std::vector<int32_t> blocks;  // [n] when kOk

  bool ok() const { return kind == Kind::kOk; }
  bool later() const { return kind == Kind::kLater; }            // not enough free blocks now
  bool impossible() const { return kind == Kind::kImpossible; }  // more than the pool holds
};

class BlockPool {
 public:
  BlockPool(int32_t num_blocks, int32_t block_size, bool enable_caching = true);

  int32_t num_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t block_size() const { return block_size_; }
  // Blocks with no reference (some may still hold cached prefixes).
  int32_t num_free_blocks() const { return num_free_; }
  // Fraction of blocks referenced by some request, in [0, 1].
  double usage() const;

  // n fresh blocks with ref_count 1, taken from the head of the free list (the
  // least recently freed); a taken block's cache key is evicted.
  Allocation allocate(int32_t n);

  // Drops one reference from each block; a block reaching 0 goes to the tail
  // of the free list (so it is evicted last), keeping its cache key. Callers
  // pass a request's blocks in reverse so its last (least shareable) blocks
  // are evicted first.
  void free(std::span<const int32_t> blocks);

  // Adds one reference to each block (a prefix-cache hit), taking blocks with
  // no reference out of the free list.
  void touch(std::span<const int32_t> blocks);

  // The cached block for a key, or -1.
  int32_t lookup(const BlockHash& hash) const;

  // Records that `block` (referenced, full) holds the tokens keyed by `hash`.
  // If another block already holds that key, the map keeps the first one and
  // `block` stays uncached (its content is a duplicate).
  void cache_block(int32_t block, const BlockHash& hash);

  int32_t ref_count(int32_t block) const { return blocks_[block].ref_count; }
  bool is_cached(int32_t block) const { return blocks_[block].cached; }
  int32_t num_cached_blocks() const { return static_cast<int32_t>(map_.size()); }

  // Free-list order, head first (for tests and debugging).
  std::vector<int32_t> free_list() const;

  // Forgets every cache key (e.g. after weights change). Referenced blocks
  // stay allocated.
  void reset_prefix_cache();

 private:
  struct Block {
    int32_t ref_count = 0;
    bool cached = false;
    BlockHash hash;
    int32_t prev = -1;  // free-list links; -1 = none
    int32_t next = -1;
    bool in_free_list = false;
  };
  void push_back_free(int32_t b);
  void unlink_free(int32_t b);
  void evict(int32_t b);

  int32_t block_size_;
  bool enable_caching_;
  std::vector<Block> blocks_;
  int32_t head_ = -1, tail_ = -1, num_free_ = 0;
  std::unordered_map<BlockHash, int32_t, BlockHashHasher> map_;
};

}  // namespace qs::kvcache
