#include "core/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#define QS_PAUSE() _mm_pause()
#else
#define QS_PAUSE() ((void)0)
#endif

namespace qs {

namespace {
constexpr int kSpinIterations = 20000;  // ~100 µs of pause before sleeping

uint32_t generation_of(uint64_t s) { return static_cast<uint32_t>(s >> 32); }
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0)
    num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  num_threads_ = num_threads;
  for (int i = 1; i < num_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  state_.fetch_add(uint64_t{1} << 32);
  state_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::dispatch(const std::function<void(int, int)>& fn, bool wait_all) {
  job_ = &fn;
  left_.store(0, std::memory_order_relaxed);
  const uint64_t gen = generation_of(state_.load(std::memory_order_relaxed)) + uint64_t{1};
  state_.store(gen << 32, std::memory_order_release);  // open, nobody joined
  state_.notify_all();
  fn(0, num_threads_);
  const uint64_t workers = static_cast<uint64_t>(num_threads_ - 1);
  if (wait_all) {
    while ((state_.load(std::memory_order_acquire) & kJoinedMask) != workers) QS_PAUSE();
  }
  const uint64_t joined = state_.fetch_or(kClosed, std::memory_order_acq_rel) & kJoinedMask;
  while (left_.load(std::memory_order_acquire) != joined) QS_PAUSE();
  job_ = nullptr;
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (num_threads_ == 1) {
    fn(0, 1);
    return;
  }
  dispatch(fn, /*wait_all=*/true);
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;
  for (;;) {
    uint64_t s = state_.load(std::memory_order_acquire);
    for (int spin = 0; generation_of(s) == seen && spin < kSpinIterations; ++spin) {
      QS_PAUSE();
      s = state_.load(std::memory_order_acquire);
    }
    if (generation_of(s) == seen) {
      state_.wait(s, std::memory_order_acquire);
      continue;
    }
    seen = generation_of(s);
    if (stop_.load()) return;
    // Join this generation unless it is closed or already replaced.
    bool joined = false;
    while (generation_of(s) == seen && !(s & kClosed)) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) {
        joined = true;
        break;
      }
    }
    if (!joined) continue;
    (*job_)(index, num_threads_);
    left_.fetch_add(1, std::memory_order_release);
  }
}

void split_range(size_t n, size_t grain, int index, int num_parts, size_t* begin, size_t* end) {
  if (grain == 0) grain = 1;
  size_t units = (n + grain - 1) / grain;
  size_t per = units / num_parts, extra = units % num_parts;
  size_t ub = index * per + std::min<size_t>(index, extra);
  size_t ue = ub + per + (static_cast<size_t>(index) < extra ? 1 : 0);
  *begin = std::min(n, ub * grain);
  *end = std::min(n, ue * grain);
}

void ThreadPool::parallel_for(size_t n, size_t grain,
                              const std::function<void(size_t, size_t)>& fn) {
  run([&](int t, int nt) {
    size_t b, e;
    split_range(n, grain, t, nt, &b, &e);
    if (b < e) fn(b, e);
  });
}

void ThreadPool::parallel_chunks(size_t n, size_t chunk,
                                 const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  if (chunk == 0) chunk = 1;
  if (num_threads_ == 1 || n <= chunk) {
    for (size_t b = 0; b < n; b += chunk) fn(b, std::min(n, b + chunk));
    return;
  }
  std::atomic<size_t> next{0};
  const std::function<void(int, int)> job = [&](int, int) {
    for (;;) {
      const size_t b = next.fetch_add(chunk, std::memory_order_relaxed);
      if (b >= n) return;
      fn(b, std::min(n, b + chunk));
    }
  };
  dispatch(job, /*wait_all=*/false);
}

void ThreadPool::parallel_guided(size_t n, size_t grain,
                                 const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  if (grain == 0) grain = 1;
  if (num_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  const size_t parts = 2 * static_cast<size_t>(num_threads_);
  std::atomic<size_t> next{0};
  const std::function<void(int, int)> job = [&](int, int) {
    size_t b = next.load(std::memory_order_relaxed);
    for (;;) {
      if (b >= n) return;
      const size_t size = std::max(grain, (n - b) / parts / grain * grain);
      const size_t e = std::min(n, b + size);
      if (!next.compare_exchange_weak(b, e, std::memory_order_relaxed)) continue;
      fn(b, e);
      b = next.load(std::memory_order_relaxed);
    }
  };
  dispatch(job, /*wait_all=*/false);
}

}  // namespace qs
