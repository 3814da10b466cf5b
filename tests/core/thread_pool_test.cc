#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
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

TEST(ThreadPool, ParallelChunksCoversRangeOnceInChunks) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 5u, 7u, 8u, 9u, 1000u}) {
      std::vector<std::atomic<int>> seen(n);
      std::atomic<int> calls{0};
      pool.parallel_chunks(n, 4, [&](size_t b, size_t e) {
        EXPECT_EQ(b % 4, 0u);
        EXPECT_EQ(e, std::min(n, b + 4));
        calls.fetch_add(1);
        for (size_t i = b; i < e; ++i) seen[i].fetch_add(1);
      });
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].load(), 1) << i;
      EXPECT_EQ(static_cast<size_t>(calls.load()), (n + 3) / 4);
    }
  }
}

TEST(ThreadPool, ParallelChunksKeepsGoingWhenOneThreadIsSlow) {
  // A thread that stalls on its first chunk must not own a fixed share: the
  // others take the remaining chunks.
  ThreadPool pool(2);
  std::atomic<int> first{1};
  std::thread::id slow;
  std::vector<std::thread::id> owner(64);
  pool.parallel_chunks(64, 1, [&](size_t b, size_t) {
    if (first.exchange(0) == 1) {
      slow = std::this_thread::get_id();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    owner[b] = std::this_thread::get_id();
  });
  const auto by_slow = std::count(owner.begin(), owner.end(), slow);
  EXPECT_GE(by_slow, 1);
  EXPECT_LT(by_slow, 32);  // a static split would give it exactly half
}

TEST(ThreadPool, AlternatingJobKindsStayExact) {
  // Chunk jobs close without waiting for late workers; a late worker must
  // never run a finished job nor miss its share of a later run() job.
  ThreadPool pool(3);
  for (int rep = 0; rep < 3000; ++rep) {
    const size_t n = static_cast<size_t>(rep % 7);
    std::vector<std::atomic<int>> seen(n);
    pool.parallel_chunks(n, 1, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) seen[i].fetch_add(1);
    });
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), 1) << rep;
    if (rep % 3 == 0) {
      std::vector<std::atomic<int>> hits(3);
      pool.run([&](int t, int) { hits[t].fetch_add(1); });
      for (int t = 0; t < 3; ++t) ASSERT_EQ(hits[t].load(), 1) << rep;
    }
  }
}

TEST(ThreadPool, ParallelGuidedCoversRangeOnceLongChunksFirst) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 15u, 16u, 17u, 100u, 4864u, 151936u}) {
      std::vector<std::atomic<int>> seen(n);
      std::mutex mu;
      std::vector<std::pair<size_t, size_t>> chunks;
      pool.parallel_guided(n, 16, [&](size_t b, size_t e) {
        ASSERT_LT(b, e);
        ASSERT_EQ(b % 16, 0u);  // chunks start on the grain
        for (size_t i = b; i < e; ++i) seen[i].fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        chunks.push_back({b, e});
      });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), 1) << n << " " << i;
      if (threads > 1 && n >= 4864) {
        std::sort(chunks.begin(), chunks.end());
        // Guided: the first chunk is long, the last ones one grain.
        EXPECT_GE(chunks.front().second - chunks.front().first, n / (4 * threads));
        EXPECT_LE(chunks.back().second - chunks.back().first, 16u);
        EXPECT_LT(chunks.size(), n / 16);
      }
    }
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
