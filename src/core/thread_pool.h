// A fork-join pool for kernels. The caller is thread 0 and takes part.
//
// Two kinds of job:
//  - run(fn): every thread calls fn(thread_index, num_threads) exactly once
//    (probes that measure each core, static splits).
//  - parallel_chunks(n, chunk, fn): chunks handed out from a shared counter;
//    the caller returns as soon as every chunk is done. A worker that has not
//    woken up by then (descheduled by another process: an HTTP thread, a
//    tokenizer, a build) is not waited for: it finds the job closed and skips
//    it. A barrier that waits for every worker would stall the whole decode
//    step on one preempted thread.
// Workers spin briefly between jobs (a decode step issues ~200 jobs, each a
// few tens of microseconds), then sleep on an atomic wait.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
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

  // Every thread runs fn once. Not reentrant: fn must not use the same pool.
  void run(const std::function<void(int thread_index, int num_threads)>& fn);

  // Splits [0, n) into contiguous ranges whose sizes are multiples of `grain`
  // (except the last) and calls fn(begin, end) once per thread with work.
  void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

  // Dynamic schedule: [0, n) in chunks of `chunk` items (the last may be
  // shorter), handed out in order to whichever thread is free; fn(begin, end)
  // is called once per chunk. Returns when all chunks are done.
  void parallel_chunks(size_t n, size_t chunk, const std::function<void(size_t, size_t)>& fn);

  // Guided schedule: like parallel_chunks, but each grab takes about
  // remaining / (2 * num_threads) items (a multiple of `grain`, at least
  // `grain`): few, long chunks first (long sequential streams), short ones
  // at the end, so the threads finish within one grain of each other.
  void parallel_guided(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

 private:
  // Publishes fn as a new job; the caller runs fn(0, n) itself. wait_all:
  // also wait until every worker has joined (run()); otherwise close the job
  // to late workers once the caller is done, and wait only for those that
  // joined.
  void dispatch(const std::function<void(int, int)>& fn, bool wait_all);
  void worker(int index);

  // state_: [generation: 32][closed: 1][joined workers: 31]. A worker joins
  // the current generation with a CAS that fails once it is closed or
  // replaced, so it never touches a job the caller has finished with.
  static constexpr uint64_t kClosed = uint64_t{1} << 31;
  static constexpr uint64_t kJoinedMask = kClosed - 1;

  int num_threads_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> state_{0};
  std::atomic<uint32_t> left_{0};  // joined workers that have finished the job
  std::atomic<bool> stop_{false};
};

// Splits n items (in units of grain) into num_parts near-equal contiguous ranges;
// returns part `index` as [begin, end).
void split_range(size_t n, size_t grain, int index, int num_parts, size_t* begin, size_t* end);

}  // namespace qs
