#include "kvcache/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <numeric>

namespace qs::kvcache {
namespace {

std::vector<int32_t> iota_tokens(int32_t n, int32_t start = 0) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

// Runs a whole prompt through the manager as one step: hit lookup, allocation,
// then caching of the blocks it computed.
ComputedBlocks admit(KVCacheManager& m, uint64_t id, const std::vector<int32_t>& tokens) {
  ComputedBlocks hit = m.get_computed_blocks(tokens);
  int32_t n = static_cast<int32_t>(tokens.size()) - hit.num_tokens;
  EXPECT_EQ(m.allocate_slots(id, 0, n, &hit), Allocation::Kind::kOk);
  m.cache_blocks(id, tokens, static_cast<int32_t>(tokens.size()));
  return hit;
}

TEST(KVCacheManager, BlocksForTokens) {
  KVCacheManager m(10, 16);
  EXPECT_EQ(m.blocks_for_tokens(0), 0);
  EXPECT_EQ(m.blocks_for_tokens(1), 1);
  EXPECT_EQ(m.blocks_for_tokens(16), 1);
  EXPECT_EQ(m.blocks_for_tokens(17), 2);
}

TEST(KVCacheManager, AllocateGrowsTableOnlyWhenNeeded) {
  KVCacheManager m(10, 4);
  ASSERT_EQ(m.allocate_slots(1, 0, 5), Allocation::Kind::kOk);  // 5 tokens -> 2 blocks
  EXPECT_EQ(m.block_table(1).size(), 2u);
  ASSERT_EQ(m.allocate_slots(1, 5, 3), Allocation::Kind::kOk);  // 8 tokens -> still 2
  EXPECT_EQ(m.block_table(1).size(), 2u);
  ASSERT_EQ(m.allocate_slots(1, 8, 1), Allocation::Kind::kOk);  // 9 -> 3
  EXPECT_EQ(m.block_table(1).size(), 3u);
  EXPECT_EQ(m.num_free_blocks(), 7);
  m.free(1);
  EXPECT_EQ(m.num_free_blocks(), 10);
  EXPECT_TRUE(m.block_table(1).empty());
  EXPECT_FALSE(m.has_request(1));
}

TEST(KVCacheManager, LaterAndImpossible) {
  KVCacheManager m(4, 4);
  EXPECT_EQ(m.allocate_slots(1, 0, 17), Allocation::Kind::kImpossible);
  EXPECT_FALSE(m.has_request(1));
  ASSERT_EQ(m.allocate_slots(1, 0, 12), Allocation::Kind::kOk);
  EXPECT_EQ(m.allocate_slots(2, 0, 8), Allocation::Kind::kLater);
  EXPECT_FALSE(m.has_request(2));  // a failed allocation leaves no trace
  EXPECT_EQ(m.num_free_blocks(), 1);
  EXPECT_EQ(m.allocate_slots(2, 0, 4), Allocation::Kind::kOk);
}

TEST(KVCacheManager, PrefixHitAcrossRequests) {
  KVCacheManager m(32, 4);
  auto a = iota_tokens(18);  // 4 full blocks + 2 tokens
  admit(m, 1, a);
  auto b = a;
  b.resize(14);
  b.insert(b.end(), {900, 901, 902, 903, 904});  // shares the first 14 tokens = 3 full blocks
  ComputedBlocks hit = m.get_computed_blocks(b);
  EXPECT_EQ(hit.num_tokens, 12);
  ASSERT_EQ(hit.blocks.size(), 3u);
  auto t1 = m.block_table(1);
  EXPECT_EQ(hit.blocks, std::vector<int32_t>(t1.begin(), t1.begin() + 3));

  ASSERT_EQ(m.allocate_slots(2, 0, 19 - 12, &hit), Allocation::Kind::kOk);
  auto t2 = m.block_table(2);
  ASSERT_EQ(t2.size(), 5u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t2[i], t1[i]);
    EXPECT_EQ(m.pool().ref_count(t2[i]), 2);
  }
  EXPECT_NE(t2[3], t1[3]);
  KVCacheStats s = m.stats();
  EXPECT_EQ(s.prefix_query_tokens, 18u + 19u);
  EXPECT_EQ(s.prefix_hit_tokens, 12u);
  EXPECT_NEAR(s.prefix_hit_rate(), 12.0 / 37.0, 1e-12);
}

TEST(KVCacheManager, HitNeverCoversWholePrompt) {
  KVCacheManager m(32, 4);
  auto a = iota_tokens(16);  // exactly 4 full blocks
  admit(m, 1, a);
  ComputedBlocks hit = m.get_computed_blocks(a);
  EXPECT_EQ(hit.num_tokens, 12);  // the last block is recomputed for the last token's logits
  auto longer = iota_tokens(17);
  EXPECT_EQ(m.get_computed_blocks(longer).num_tokens, 16);
  EXPECT_EQ(m.get_computed_blocks(std::vector<int32_t>{0}).num_tokens, 0);
  EXPECT_EQ(m.get_computed_blocks(std::vector<int32_t>{}).num_tokens, 0);
}

TEST(KVCacheManager, HitsSurviveFreeAndTailIsEvictedFirst) {
  KVCacheManager m(6, 4);
  auto a = iota_tokens(24);  // 6 full blocks: the whole pool
  admit(m, 1, a);
  EXPECT_EQ(m.stats().num_cached_blocks, 6);
  m.free(1);
  EXPECT_EQ(m.num_free_blocks(), 6);
  EXPECT_EQ(m.get_computed_blocks(a).num_tokens, 20);  // capped at len - 1

  // Another request takes 2 blocks: they come from a's tail (freed first),
  // so a's first 4 blocks still hit.
  ASSERT_EQ(m.allocate_slots(2, 0, 8), Allocation::Kind::kOk);
  EXPECT_EQ(m.get_computed_blocks(a).num_tokens, 16);
}

TEST(KVCacheManager, EvictableHitsCountAgainstFreeBlocks) {
  KVCacheManager m(4, 4);
  auto a = iota_tokens(9);  // 2 full blocks + 1 token -> 3 blocks
  admit(m, 1, a);
  m.free(1);
  ComputedBlocks hit = m.get_computed_blocks(a);
  ASSERT_EQ(hit.num_tokens, 8);
  // Request 2 holds 1 block; 3 free, of which 2 are request 1's cached ones.
  ASSERT_EQ(m.allocate_slots(2, 0, 4), Allocation::Kind::kOk);
  // Taking the 2 hits plus 2 fresh blocks needs 4 free blocks: only 3 are.
  EXPECT_EQ(m.allocate_slots(3, 0, 8, &hit), Allocation::Kind::kLater);
  EXPECT_EQ(m.num_free_blocks(), 3);
  EXPECT_EQ(m.stats().prefix_query_tokens, 9u);  // failed admission not counted
  // With 1 fresh block it fits.
  EXPECT_EQ(m.allocate_slots(3, 0, 1, &hit), Allocation::Kind::kOk);
  EXPECT_EQ(m.num_free_blocks(), 0);
  EXPECT_EQ(m.stats().prefix_hit_tokens, 8u);
}

TEST(KVCacheManager, CacheBlocksOnlyComputedFullBlocks) {
  KVCacheManager m(16, 4);
  auto a = iota_tokens(10);
  ComputedBlocks none = m.get_computed_blocks(a);
  ASSERT_EQ(m.allocate_slots(1, 0, 6, &none), Allocation::Kind::kOk);  // chunk of 6
  m.cache_blocks(1, a, 6);
  EXPECT_EQ(m.stats().num_cached_blocks, 1);
  ASSERT_EQ(m.allocate_slots(1, 6, 4), Allocation::Kind::kOk);
  m.cache_blocks(1, a, 10);
  EXPECT_EQ(m.stats().num_cached_blocks, 2);
  // A decode step: one more token, still 2 full blocks.
  a.push_back(77);
  ASSERT_EQ(m.allocate_slots(1, 10, 1), Allocation::Kind::kOk);
  m.cache_blocks(1, a, 11);
  EXPECT_EQ(m.stats().num_cached_blocks, 2);
  // The chained keys match what a fresh lookup computes.
  auto b = a;
  b.push_back(5);
  b.push_back(6);
  EXPECT_EQ(m.get_computed_blocks(b).num_tokens, 8);
}

TEST(KVCacheManager, PrefixCachingDisabled) {
  KVCacheManager m(16, 4, /*enable_prefix_caching=*/false);
  auto a = iota_tokens(12);
  admit(m, 1, a);
  EXPECT_EQ(m.get_computed_blocks(a).num_tokens, 0);
  EXPECT_EQ(m.stats().num_cached_blocks, 0);
}

}  // namespace
}  // namespace qs::kvcache
