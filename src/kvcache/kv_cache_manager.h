// Per-request KV block tables on top of a BlockPool, with automatic prefix
// caching (modelled on vLLM v1's kv_cache_manager.py). Requests are named by
// a uint64 id; the manager never sees a Request or a tensor.
//
// Lifecycle of a request:
//   hit = get_computed_blocks(all_tokens)            // cached prefix, no refs taken
//   allocate_slots(id, 0, n, &hit)                   // first schedule: takes the hit
//   ... each step: allocate_slots(id, num_computed, n) before the forward,
//       cache_blocks(id, all_tokens, num_computed) after it (newly full blocks),
//   free(id)                                         // finished, aborted or preempted
// Blocks are cached only once their KV has been computed (after the step), so
// a hit never depends on the order the model writes KV within one forward.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "kvcache/block_pool.h"

namespace qs::kvcache {

// A cached prefix: its blocks and how many tokens they hold.
struct ComputedBlocks {
  std::vector<int32_t> blocks;    // [num_tokens / block_size]
  std::vector<BlockHash> hashes;  // keys of `blocks`
  int32_t num_tokens = 0;         // hit tokens, a multiple of block_size
  int32_t num_queried = 0;        // tokens of the request when looked up
};

struct KVCacheStats {
  int32_t num_blocks = 0;
  int32_t num_free_blocks = 0;  // no reference (cached or not)
  int32_t num_used_blocks = 0;
  int32_t num_cached_blocks = 0;     // blocks findable by prefix key
  double usage = 0.0;                // used / total
  uint64_t prefix_query_tokens = 0;  // prompt tokens looked up at admission
  uint64_t prefix_hit_tokens = 0;    // of which found in the cache
  double prefix_hit_rate() const {
    return prefix_query_tokens ? static_cast<double>(prefix_hit_tokens) / prefix_query_tokens : 0.0;
  }
};

class KVCacheManager {
 public:
  KVCacheManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching = true);

  int32_t block_size() const { return pool_.block_size(); }
  int32_t num_blocks() const { return pool_.num_blocks(); }
  int32_t num_free_blocks() const { return pool_.num_free_blocks(); }
  // Blocks that hold `num_tokens` tokens.
  int32_t blocks_for_tokens(int64_t num_tokens) const;

  // The longest cached prefix of full blocks of `tokens`, capped so that at
  // least the last token is recomputed (its logits are needed). Takes no
  // references; pass the result to allocate_slots in the same schedule step.
  ComputedBlocks get_computed_blocks(std::span<const int32_t> tokens) const;

  // Makes request `id`'s block table cover num_computed_tokens +
  // new_computed->num_tokens + num_new_tokens tokens. `new_computed` (only on
  // a request's first allocation) is prepended to its table and counted in the
  // prefix-cache stats. Nothing changes unless the result is kOk.
  Allocation::Kind allocate_slots(uint64_t id, int32_t num_computed_tokens, int32_t num_new_tokens,
                                  const ComputedBlocks* new_computed = nullptr);

  // After a step: keys the request's blocks that became full, i.e. those
  // within the first min(num_computed_tokens, tokens.size()) tokens.
  void cache_blocks(uint64_t id, std::span<const int32_t> tokens, int32_t num_computed_tokens);

  // Releases the request's blocks (in reverse, so its tail is evicted first);
  // cached blocks stay findable until reused. Unknown ids are ignored.
  void free(uint64_t id);

  // Empty for an unknown id. Valid until the next call that changes `id`.
  std::span<const int32_t> block_table(uint64_t id) const;
  bool has_request(uint64_t id) const { return reqs_.count(id) != 0; }

  KVCacheStats stats() const;
  const BlockPool& pool() const { return pool_; }
  void reset_prefix_cache() { pool_.reset_prefix_cache(); }

 private:
  struct ReqState {
    std::vector<int32_t> blocks;    // block table
    std::vector<BlockHash> hashes;  // keys of blocks[0 .. num_cached)
  };
  BlockPool pool_;
  bool enable_prefix_caching_;
  std::unordered_map<uint64_t, ReqState> reqs_;
  uint64_t query_tokens_ = 0, hit_tokens_ = 0;
};

}  // namespace qs::kvcache
