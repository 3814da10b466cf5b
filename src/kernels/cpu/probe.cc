#include "kernels/probe.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#include "core/aligned_buffer.h"
#include "core/huge_pages.h"
#include "kernels/cpu/isa_tables.h"

namespace qs::kernels {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs fn(thread) on every pool thread; returns wall seconds.
template <typename Fn>
double timed_run(ThreadPool* pool, Fn&& fn) {
  double t0 = now_s();
  if (pool) {
    pool->run([&](int t, int) { fn(t); });
  } else {
    fn(0);
  }
  return now_s() - t0;
}

// Best-of-reps throughput of a register-only loop: returns flops/s in GFLOP/s.
template <typename Loop>
double peak(ThreadPool* pool, Loop loop) {
  const int nt = pool ? pool->num_threads() : 1;
  const size_t iters = 2'000'000;
  loop(iters / 10);  // warm up clocks
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    std::atomic<double> flops{0.0};
    double secs = timed_run(pool, [&](int) {
      double f = loop(iters);
      double cur = flops.load();
      while (!flops.compare_exchange_weak(cur, cur + f)) {
      }
    });
    best = std::max(best, flops.load() / secs / 1e9);
  }
  (void)nt;
  return best;
}

}  // namespace

double measure_read_bandwidth_gbs(ThreadPool* pool) {
  const size_t n = (size_t{1} << 30) / sizeof(float);  // 1 GiB
  // In 2 MB pages where the kernel has them, like the model's weights
  // (model/weight_arena.h): the floor is what the machine can stream at
  // best, not what 4 KB pages allow (~10 % less here).
  HugePageRegion region;
  if (huge_pages_available()) region = HugePageRegion::Allocate(n * sizeof(float));
  AlignedPtr<float> heap;
  if (region.empty()) heap = aligned_alloc_array<float>(n);
  float* buf = region.empty() ? heap.get() : reinterpret_cast<float*>(region.data());
  const int nt = pool ? pool->num_threads() : 1;
  // First touch by the reading threads (each writes its own part).
  timed_run(pool, [&](int t) {
    size_t b, e;
    split_range(n, 4096, t, nt, &b, &e);
    for (size_t i = b; i < e; ++i) buf[i] = 1.0f;
  });
  std::atomic<float> sink{0.0f};
  double best = 0.0;
  for (int rep = 0; rep < 4; ++rep) {
    double secs = timed_run(pool, [&](int t) {
      size_t b, e;
      split_range(n, 4096, t, nt, &b, &e);
      float s = cpu::cpu_has_avx512() ? cpu::avx512_sum(buf + b, e - b)
                : cpu::cpu_has_avx2() ? cpu::avx2_sum(buf + b, e - b)
                                      : 0.0f;
      if (!cpu::cpu_has_avx2()) {
        for (size_t i = b; i < e; ++i) s += buf[i];
      }
      sink.store(s, std::memory_order_relaxed);
    });
    best = std::max(best, static_cast<double>(n * sizeof(float)) / secs / 1e9);
  }
  return best;
}

double measure_bf16_dot_peak_gflops(ThreadPool* pool) {
  if (!cpu::cpu_has_avx512()) return 0.0;
  return peak(pool, cpu::avx512_bf16_dot_loop);
}

double measure_int8_dot_peak_gops(ThreadPool* pool) {
  if (!cpu::cpu_has_avx512()) return 0.0;
  return peak(pool, cpu::avx512_int8_dot_loop);
}

double measure_f32_fma_peak_gflops(ThreadPool* pool) {
  if (cpu::cpu_has_avx512()) return peak(pool, cpu::avx512_fma_loop);
  if (cpu::cpu_has_avx2()) return peak(pool, cpu::avx2_fma_loop);
  return 0.0;
}

}  // namespace qs::kernels
