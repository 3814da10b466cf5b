#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace qs {
namespace {

TEST(ThreadPool, EveryThreadRunsEachJob) {
  for (int n : {1, 2, 3}) {
    ThreadPool pool(n);
    for (int rep = 0; rep < 200; ++rep) {
      std::vector<std::atomic<int>> hits(n);
      pool.run([&](int t, int nt) {
        EXPECT_EQ(nt, n);
        hits[t].fetch_add(1);
      });
      for (int t = 0; t < n; ++t) EXPECT_EQ(hits[t].load(), 1);
    }
  }
}

TEST(ThreadPool, ParallelForCoversRangeOnce) {
  ThreadPool pool(3);
  for (size_t n : {0u, 1u, 7u, 16u, 1000u}) {
    std::vector<std::atomic<int>> seen(n);
    pool.parallel_for(n, 4, [&](size_t b, size_t e) {
      EXPECT_EQ(b % 4, 0u);
      for (size_t i = b; i < e; ++i) seen[i].fetch_add(1);
    });
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].load(), 1) << i;
  }
}

TEST(SplitRange, PartsAreContiguousAndComplete) {
  for (size_t n : {0u, 1u, 5u, 64u, 65u}) {
    size_t prev_end = 0;
    for (int i = 0; i < 3; ++i) {
      size_t b, e;
      split_range(n, 8, i, 3, &b, &e);
      EXPECT_EQ(b, prev_end);
      prev_end = e;
    }
    EXPECT_EQ(prev_end, n);
  }
}

}  // namespace
}  // namespace qs
