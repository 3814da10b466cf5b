// A fork-join pool for kernels: run(fn) calls fn(thread_index, num_threads) on
// every thread (the caller is thread 0) and returns when all are done.
// Workers spin briefly between jobs (a decode step issues ~200 jobs, each a
// few tens of microseconds), then sleep on an atomic wait.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace qs {

class ThreadPool {
 public:
  // num_threads <= 0: the hardware concurrency.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Not reentrant: fn must not call run() on the same pool.
  void run(const std::function<void(int thread_index, int num_threads)>& fn);

  // Splits [0, n) into contiguous ranges whose sizes are multiples of `grain`
  // (except the last) and calls fn(begin, end) once per thread with work.
  void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

  // Dynamic schedule: [0, n) in chunks of `chunk` items (the last may be
  // shorter), handed out in order from a shared counter to whichever thread
  // is free, so a thread that is slowed down (another process, a cache-cold
  // part) does not hold up the step. fn(begin, end) is called once per chunk.
  void parallel_chunks(size_t n, size_t chunk, const std::function<void(size_t, size_t)>& fn);

 private:
  void worker(int index);

  int num_threads_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

// Splits n items (in units of grain) into num_parts near-equal contiguous ranges;
// returns part `index` as [begin, end).
void split_range(size_t n, size_t grain, int index, int num_parts, size_t* begin, size_t* end);

}  // namespace qs
