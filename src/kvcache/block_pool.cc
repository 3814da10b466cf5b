#include "kvcache/block_pool.h"

#include <cassert>

namespace qs::kvcache {
namespace {

// Two different 64-bit finalizers (splitmix64's and murmur3's fmix64): each a
// bijection with full avalanche, so the two lanes of a key behave as
// independent 64-bit hashes.
inline uint64_t mix_a(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
inline uint64_t mix_b(uint64_t z) {
  z ^= z >> 33;
  z *= 0xff51afd7ed558ccdull;
  z ^= z >> 33;
  z *= 0xc4ceb9fe1a85ec53ull;
  return z ^ (z >> 33);
}

}  // namespace

BlockHash hash_block(const BlockHash& parent, std::span<const int32_t> tokens) {
  uint64_t a = 0x9e3779b97f4a7c15ull, b = 0x6a09e667f3bcc909ull;
  a = mix_a(a ^ parent.lo);
  a = mix_a(a ^ parent.hi);
  b = mix_b(b ^ parent.hi);
  b = mix_b(b ^ parent.lo);
  // Token ids are < 2^31; the length goes in too so blocks of different sizes differ.
  for (int32_t t : tokens) {
    uint64_t x = static_cast<uint32_t>(t);
    a = mix_a(a ^ x);
    b = mix_b(b + x);
  }
  a = mix_a(a ^ tokens.size());
  b = mix_b(b ^ (tokens.size() << 32));
  return BlockHash{a, b};
}

std::vector<BlockHash> hash_full_blocks(std::span<const int32_t> tokens, int32_t block_size) {
  std::vector<BlockHash> out;
  if (block_size <= 0) return out;
  size_t n = tokens.size() / static_cast<size_t>(block_size);
  out.reserve(n);
  BlockHash parent;
  for (size_t i = 0; i < n; ++i) {
    parent = hash_block(parent, tokens.subspan(i * block_size, block_size));
    out.push_back(parent);
  }
  return out;
}

BlockPool::BlockPool(int32_t num_blocks, int32_t block_size, bool enable_caching)
    : block_size_(block_size), enable_caching_(enable_caching) {
  blocks_.resize(num_blocks > 0 ? num_blocks : 0);
  for (int32_t b = 0; b < this->num_blocks(); ++b) push_back_free(b);
}

double BlockPool::usage() const {
  if (blocks_.empty()) return 0.0;
  return 1.0 - static_cast<double>(num_free_) / static_cast<double>(blocks_.size());
}

void BlockPool::push_back_free(int32_t b) {
  Block& blk = blocks_[b];
  assert(!blk.in_free_list);
  blk.prev = tail_;
  blk.next = -1;
  if (tail_ >= 0) {
    blocks_[tail_].next = b;
  } else {
    head_ = b;
  }
  tail_ = b;
  blk.in_free_list = true;
  ++num_free_;
}

void BlockPool::unlink_free(int32_t b) {
  Block& blk = blocks_[b];
  assert(blk.in_free_list);
  if (blk.prev >= 0) {
    blocks_[blk.prev].next = blk.next;
  } else {
    head_ = blk.next;
  }
  if (blk.next >= 0) {
    blocks_[blk.next].prev = blk.prev;
  } else {
    tail_ = blk.prev;
  }
  blk.prev = blk.next = -1;
  blk.in_free_list = false;
  --num_free_;
}

void BlockPool::evict(int32_t b) {
  Block& blk = blocks_[b];
  if (!blk.cached) return;
  auto it = map_.find(blk.hash);
  if (it != map_.end() && it->second == b) map_.erase(it);
  blk.cached = false;
  blk.hash = BlockHash{};
}

Allocation BlockPool::allocate(int32_t n) {
  Allocation a;
  if (n < 0 || n > num_blocks()) {
    a.kind = Allocation::Kind::kImpossible;
    return a;
  }
  if (n > num_free_) {
    a.kind = Allocation::Kind::kLater;
    return a;
  }
  a.blocks.reserve(n);
  for (int32_t i = 0; i < n; ++i) {
    int32_t b = head_;
    unlink_free(b);
    evict(b);
    blocks_[b].ref_count = 1;
    a.blocks.push_back(b);
  }
  return a;
}

void BlockPool::free(std::span<const int32_t> blocks) {
  for (int32_t b : blocks) {
    Block& blk = blocks_[b];
    assert(blk.ref_count > 0);
    if (blk.ref_count <= 0) continue;
    if (--blk.ref_count == 0) push_back_free(b);
  }
}

void BlockPool::touch(std::span<const int32_t> blocks) {
  for (int32_t b : blocks) {
    Block& blk = blocks_[b];
    if (blk.ref_count == 0 && blk.in_free_list) unlink_free(b);
    ++blk.ref_count;
  }
}

int32_t BlockPool::lookup(const BlockHash& hash) const {
  if (!enable_caching_) return -1;
  auto it = map_.find(hash);
  return it == map_.end() ? -1 : it->second;
}

void BlockPool::cache_block(int32_t block, const BlockHash& hash) {
  if (!enable_caching_) return;
  Block& blk = blocks_[block];
  if (blk.cached) return;
  auto [it, inserted] = map_.try_emplace(hash, block);
  if (!inserted) return;
  blk.cached = true;
  blk.hash = hash;
}

std::vector<int32_t> BlockPool::free_list() const {
  std::vector<int32_t> out;
  out.reserve(num_free_);
  for (int32_t b = head_; b >= 0; b = blocks_[b].next) out.push_back(b);
  return out;
}

void BlockPool::reset_prefix_cache() {
  map_.clear();
  for (Block& blk : blocks_) {
    blk.cached = false;
    blk.hash = BlockHash{};
  }
}

}  // namespace qs::kvcache
