#include "kvcache/block_pool.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>

namespace qs::kvcache {
namespace {

std::vector<int32_t> iota_tokens(int32_t n, int32_t start = 0) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(BlockHash, DependsOnParentAndTokens) {
  auto t = iota_tokens(16);
  BlockHash h0 = hash_block(BlockHash{}, t);
  EXPECT_EQ(h0, hash_block(BlockHash{}, t));
  EXPECT_NE(h0, hash_block(BlockHash{1, 0}, t));
  auto t2 = t;
  t2[15] = 99;
  EXPECT_NE(h0, hash_block(BlockHash{}, t2));
  // Order matters.
  auto t3 = t;
  std::swap(t3[0], t3[1]);
  EXPECT_NE(h0, hash_block(BlockHash{}, t3));
  // Both lanes carry information.
  EXPECT_NE(h0.lo, h0.hi);
  EXPECT_NE(h0.lo, hash_block(BlockHash{}, t2).lo);
  EXPECT_NE(h0.hi, hash_block(BlockHash{}, t2).hi);
}

TEST(BlockHash, NoCollisionsAmongManySingleTokenChanges) {
  std::set<std::pair<uint64_t, uint64_t>> seen;
  auto t = iota_tokens(16);
  for (int pos = 0; pos < 16; ++pos) {
    for (int v = 0; v < 500; ++v) {
      auto u = t;
      u[pos] = 1000 + v;
      BlockHash h = hash_block(BlockHash{}, u);
      EXPECT_TRUE(seen.insert({h.lo, h.hi}).second);
    }
  }
}

TEST(BlockHash, FullBlocksChainsParents) {
  auto t = iota_tokens(40);
  auto hs = hash_full_blocks(t, 16);
  ASSERT_EQ(hs.size(), 2u);
  EXPECT_EQ(hs[0], hash_block(BlockHash{}, std::span<const int32_t>(t).subspan(0, 16)));
  EXPECT_EQ(hs[1], hash_block(hs[0], std::span<const int32_t>(t).subspan(16, 16)));
}

TEST(BlockPool, AllocateAndFreeRefcounts) {
  BlockPool pool(8, 16);
  EXPECT_EQ(pool.num_free_blocks(), 8);
  Allocation a = pool.allocate(3);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a.blocks.size(), 3u);
  EXPECT_EQ(a.blocks, (std::vector<int32_t>{0, 1, 2}));  // head of a fresh list
  EXPECT_EQ(pool.num_free_blocks(), 5);
  for (int32_t b : a.blocks) EXPECT_EQ(pool.ref_count(b), 1);
  EXPECT_DOUBLE_EQ(pool.usage(), 3.0 / 8.0);

  pool.touch(std::vector<int32_t>{1});
  EXPECT_EQ(pool.ref_count(1), 2);
  pool.free(a.blocks);
  EXPECT_EQ(pool.ref_count(1), 1);
  EXPECT_EQ(pool.num_free_blocks(), 7);  // block 1 still referenced
  pool.free(std::vector<int32_t>{1});
  EXPECT_EQ(pool.num_free_blocks(), 8);
  EXPECT_DOUBLE_EQ(pool.usage(), 0.0);
}

TEST(BlockPool, LaterVersusImpossible) {
  BlockPool pool(4, 16);
  EXPECT_TRUE(pool.allocate(5).impossible());
  Allocation a = pool.allocate(3);
  ASSERT_TRUE(a.ok());
  Allocation b = pool.allocate(2);
  EXPECT_TRUE(b.later());
  EXPECT_TRUE(b.blocks.empty());
  EXPECT_EQ(pool.num_free_blocks(), 1);  // a failed allocation takes nothing
  pool.free(a.blocks);
  EXPECT_TRUE(pool.allocate(2).ok());
  EXPECT_TRUE(pool.allocate(0).ok());
}

TEST(BlockPool, FreedBlocksGoToTailLruOrder) {
  BlockPool pool(6, 16);
  Allocation a = pool.allocate(6);
  ASSERT_TRUE(a.ok());
  pool.free(std::vector<int32_t>{4});
  pool.free(std::vector<int32_t>{1});
  pool.free(std::vector<int32_t>{3});
  EXPECT_EQ(pool.free_list(), (std::vector<int32_t>{4, 1, 3}));
  Allocation b = pool.allocate(2);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.blocks, (std::vector<int32_t>{4, 1}));  // least recently freed first
  EXPECT_EQ(pool.free_list(), (std::vector<int32_t>{3}));
}

TEST(BlockPool, CachedBlockSurvivesFreeUntilReused) {
  BlockPool pool(3, 4);
  Allocation a = pool.allocate(1);
  ASSERT_TRUE(a.ok());
  int32_t blk = a.blocks[0];
  BlockHash h = hash_block(BlockHash{}, iota_tokens(4));
  pool.cache_block(blk, h);
  EXPECT_EQ(pool.lookup(h), blk);
  pool.free(a.blocks);
  EXPECT_EQ(pool.lookup(h), blk);  // still findable while free
  EXPECT_TRUE(pool.is_cached(blk));

  // A hit takes it back out of the free list.
  pool.touch(std::vector<int32_t>{blk});
  EXPECT_EQ(pool.num_free_blocks(), 2);
  pool.free(std::vector<int32_t>{blk});

  // Free list is now [1, 2, blk=0]: allocating 2 leaves the cached block alone,
  // the third allocation evicts it.
  ASSERT_TRUE(pool.allocate(2).ok());
  EXPECT_EQ(pool.lookup(h), blk);
  Allocation c = pool.allocate(1);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.blocks[0], blk);
  EXPECT_EQ(pool.lookup(h), -1);
  EXPECT_FALSE(pool.is_cached(blk));
}

TEST(BlockPool, DuplicateKeyKeepsFirstBlock) {
  BlockPool pool(4, 4);
  Allocation a = pool.allocate(2);
  BlockHash h = hash_block(BlockHash{}, iota_tokens(4));
  pool.cache_block(a.blocks[0], h);
  pool.cache_block(a.blocks[1], h);
  EXPECT_EQ(pool.lookup(h), a.blocks[0]);
  EXPECT_FALSE(pool.is_cached(a.blocks[1]));
  EXPECT_EQ(pool.num_cached_blocks(), 1);
  // Reusing the uncached duplicate does not evict the key.
  pool.free(std::vector<int32_t>{a.blocks[1]});
  ASSERT_TRUE(pool.allocate(3).ok());
  EXPECT_EQ(pool.lookup(h), a.blocks[0]);
}

TEST(BlockPool, CachingDisabledNeverHits) {
  BlockPool pool(2, 4, /*enable_caching=*/false);
  Allocation a = pool.allocate(1);
  BlockHash h = hash_block(BlockHash{}, iota_tokens(4));
  pool.cache_block(a.blocks[0], h);
  EXPECT_EQ(pool.lookup(h), -1);
}

TEST(BlockPool, ResetPrefixCacheForgetsKeys) {
  BlockPool pool(2, 4);
  Allocation a = pool.allocate(1);
  BlockHash h = hash_block(BlockHash{}, iota_tokens(4));
  pool.cache_block(a.blocks[0], h);
  pool.reset_prefix_cache();
  EXPECT_EQ(pool.lookup(h), -1);
  EXPECT_EQ(pool.ref_count(a.blocks[0]), 1);
}

}  // namespace
}  // namespace qs::kvcache
