// Kernel micro-benchmark: decode GEMV (m = 1) bandwidth as a fraction of the
// measured read bandwidth, and prefill GEMM throughput as a fraction of the
// measured vdpbf16ps peak, for every kernel table, at Qwen2.5-0.5B shapes.
// Usage: kernels_bench [threads]   (default: all cores)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/probe.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

using MatmulFn = void (*)(const float*, size_t, size_t, const uint16_t*, size_t, const float*,
                          float*, qs::ThreadPool*);

// Best time of one call over `reps` (after one warm-up call). Each call reads
// a different copy of W out of the big `w` buffer (w_elems long), as the layers
// of a model do, so that small matrices are not served from the caches.
double time_call(MatmulFn fn, const float* x, size_t m, size_t k, const uint16_t* w, size_t w_elems,
                 size_t n, float* y, qs::ThreadPool* pool, int reps) {
  const size_t copies = std::max<size_t>(1, w_elems / (n * k));
  fn(x, m, k, w, n, nullptr, y, pool);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const uint16_t* wr = w + ((r + 1) % copies) * n * k;
    double t0 = now_s();
    fn(x, m, k, wr, n, nullptr, y, pool);
    best = std::min(best, now_s() - t0);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  qs::ThreadPool pool(threads);
  std::printf("threads: %d\n", pool.num_threads());
  const double bw = qs::kernels::measure_read_bandwidth_gbs(&pool);
  const double bf16_peak = qs::kernels::measure_bf16_dot_peak_gflops(&pool);
  const double fma_peak = qs::kernels::measure_f32_fma_peak_gflops(&pool);
  std::printf("measured read bandwidth: %.1f GB/s\n", bw);
  std::printf("measured vdpbf16ps peak: %.0f GFLOP/s, f32 FMA peak: %.0f GFLOP/s\n\n", bf16_peak,
              fma_peak);

  const size_t max_elems = 151936 * 896;
  std::vector<uint16_t> w(max_elems);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (size_t i = 0; i < max_elems; ++i) w[i] = qs::f32_to_bf16(d(rng) * 0.05f);
  std::vector<float> x(512 * 4864), y(512 * 151936 / 100 + 512 * 4864);
  for (auto& v : x) v = d(rng);

  size_t nt = 0;
  const qs::kernels::KernelTable* const* tables = qs::kernels::available(&nt);
  const size_t gemv[][2] = {{896, 896}, {128, 896}, {4864, 896}, {896, 4864}, {151936, 896}};
  const size_t gemm[][2] = {{4864, 896}, {896, 4864}, {896, 896}};
  for (size_t ti = 1; ti < nt; ++ti) {  // ref is too slow to be interesting
    const auto* t = tables[ti];
    std::printf("== table %s ==\n", t->name);
    for (bool lowp : {false, true}) {
      MatmulFn fn = lowp ? t->matmul_bf16_lowp : t->matmul_bf16;
      std::printf("decode GEMV m=1 (%s):\n", lowp ? "lowp" : "exact");
      for (auto& s : gemv) {
        size_t n = s[0], k = s[1];
        double sec = time_call(fn, x.data(), 1, k, w.data(), w.size(), n, y.data(), &pool, 50);
        double gbs = static_cast<double>(n * k * 2) / sec / 1e9;
        std::printf("  n=%6zu k=%5zu  %8.1f us  %6.1f GB/s  %5.1f%% of bandwidth\n", n, k,
                    sec * 1e6, gbs, 100 * gbs / bw);
      }
      std::printf("prefill GEMM m=512 (%s):\n", lowp ? "lowp" : "exact");
      for (auto& s : gemm) {
        size_t n = s[0], k = s[1], m = 512;
        double sec = time_call(fn, x.data(), m, k, w.data(), w.size(), n, y.data(), &pool, 3);
        double gf = 2.0 * m * n * k / sec / 1e9;
        double pk = lowp ? bf16_peak : fma_peak;
        std::printf("  n=%6zu k=%5zu  %8.2f ms  %6.0f GFLOP/s  %5.1f%% of %s peak\n", n, k,
                    sec * 1e3, gf, 100 * gf / pk, lowp ? "bf16" : "fma");
      }
    }
  }
  return 0;
}
