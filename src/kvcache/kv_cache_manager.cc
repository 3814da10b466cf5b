#include "kvcache/kv_cache_manager.h"

#include <algorithm>

namespace qs::kvcache {

KVCacheManager::KVCacheManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching)
    : pool_(num_blocks, block_size, enable_prefix_caching),
      enable_prefix_caching_(enable_prefix_caching) {}

int32_t KVCacheManager::blocks_for_tokens(int64_t num_tokens) const {
  int64_t bs = pool_.block_size();
  if (num_tokens <= 0 || bs <= 0) return 0;
  int64_t n = (num_tokens + bs - 1) / bs;
  return static_cast<int32_t>(std::min<int64_t>(n, INT32_MAX));
}

ComputedBlocks KVCacheManager::get_computed_blocks(std::span<const int32_t> tokens) const {
  ComputedBlocks out;
  out.num_queried = static_cast<int32_t>(tokens.size());
  if (!enable_prefix_caching_ || tokens.empty()) return out;
  const int32_t bs = pool_.block_size();
  // Never the whole prompt: the last token must run to produce logits.
  const size_t max_blocks = (tokens.size() - 1) / static_cast<size_t>(bs);
  BlockHash parent;
  for (size_t i = 0; i < max_blocks; ++i) {
    BlockHash h = hash_block(parent, tokens.subspan(i * bs, bs));
    int32_t b = pool_.lookup(h);
    if (b < 0) break;
    out.blocks.push_back(b);
    out.hashes.push_back(h);
    parent = h;
  }
  out.num_tokens = static_cast<int32_t>(out.blocks.size()) * bs;
  return out;
}

Allocation::Kind KVCacheManager::allocate_slots(uint64_t id, int32_t num_computed_tokens,
                                                int32_t num_new_tokens,
                                                const ComputedBlocks* new_computed) {
  auto it = reqs_.find(id);
  const size_t have = it == reqs_.end() ? 0 : it->second.blocks.size();
  const int32_t hit_blocks = new_computed ? static_cast<int32_t>(new_computed->blocks.size()) : 0;
  const int32_t hit_tokens = new_computed ? new_computed->num_tokens : 0;
  const int64_t total_tokens =
      static_cast<int64_t>(num_computed_tokens) + hit_tokens + std::max(num_new_tokens, 0);
  const int32_t need_total = blocks_for_tokens(total_tokens);
  if (need_total > pool_.num_blocks()) return Allocation::Kind::kImpossible;

  const int32_t need_new =
      std::max<int32_t>(0, need_total - static_cast<int32_t>(have) - hit_blocks);
  // Hit blocks that nobody references sit in the free list: taking them
  // shrinks what is left for the fresh blocks.
  int32_t evictable_hits = 0;
  if (new_computed) {
    for (int32_t b : new_computed->blocks) evictable_hits += pool_.ref_count(b) == 0;
  }
  if (need_new + evictable_hits > pool_.num_free_blocks()) return Allocation::Kind::kLater;

  ReqState& st = reqs_[id];
  if (new_computed && hit_blocks > 0) {
    pool_.touch(new_computed->blocks);
    st.blocks.insert(st.blocks.end(), new_computed->blocks.begin(), new_computed->blocks.end());
    st.hashes.insert(st.hashes.end(), new_computed->hashes.begin(), new_computed->hashes.end());
  }
  if (new_computed) {
    query_tokens_ += static_cast<uint64_t>(std::max(new_computed->num_queried, 0));
    hit_tokens_ += static_cast<uint64_t>(hit_tokens);
  }
  if (need_new > 0) {
    Allocation a = pool_.allocate(need_new);
    // Cannot fail: checked above.
    st.blocks.insert(st.blocks.end(), a.blocks.begin(), a.blocks.end());
  }
  return Allocation::Kind::kOk;
}

void KVCacheManager::cache_blocks(uint64_t id, std::span<const int32_t> tokens,
                                  int32_t num_computed_tokens) {
  if (!enable_prefix_caching_) return;
  auto it = reqs_.find(id);
  if (it == reqs_.end()) return;
  ReqState& st = it->second;
  const size_t bs = static_cast<size_t>(pool_.block_size());
  size_t known = std::min(static_cast<size_t>(std::max(num_computed_tokens, 0)), tokens.size());
  size_t full = std::min(known / bs, st.blocks.size());
  for (size_t i = st.hashes.size(); i < full; ++i) {
    BlockHash parent = i == 0 ? BlockHash{} : st.hashes[i - 1];
    BlockHash h = hash_block(parent, tokens.subspan(i * bs, bs));
    pool_.cache_block(st.blocks[i], h);
    st.hashes.push_back(h);
  }
}

void KVCacheManager::free(uint64_t id) {
  auto it = reqs_.find(id);
  if (it == reqs_.end()) return;
  std::vector<int32_t>& b = it->second.blocks;
  std::reverse(b.begin(), b.end());
  pool_.free(b);
  reqs_.erase(it);
}

std::span<const int32_t> KVCacheManager::block_table(uint64_t id) const {
  auto it = reqs_.find(id);
  if (it == reqs_.end()) return {};
  return it->second.blocks;
}

KVCacheStats KVCacheManager::stats() const {
  KVCacheStats s;
  s.num_blocks = pool_.num_blocks();
  s.num_free_blocks = pool_.num_free_blocks();
  s.num_used_blocks = s.num_blocks - s.num_free_blocks;
  s.num_cached_blocks = pool_.num_cached_blocks();
  s.usage = pool_.usage();
  s.prefix_query_tokens = query_tokens_;
  s.prefix_hit_tokens = hit_tokens_;
  return s;
}

}  // namespace qs::kvcache
