// Quantized vs BF16 matmul speed on the Qwen2.5-0.5B shapes (24 layers of
// q,k,v,o,gate,up,down + the 151936 x 896 output head), one thread.
// Decode: one GEMV over every matrix per token (weights streamed from DRAM);
// prefill: the same matrices at m rows. Times are this thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID), so other processes on a loaded machine only
// affect them through shared caches and memory bandwidth; wall time is printed too.
// Usage: quant_bench [decode_reps=5] [prefill_m=128]
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/dtype.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"

namespace {
using namespace qs;
using namespace qs::kernels;

double now(clockid_t c) {
  timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Mat {
  size_t n, k;
  AlignedPtr<uint8_t> buf;
  size_t bytes;
};

float val(size_t j, size_t i) {
  uint32_t h = static_cast<uint32_t>(j * 2654435761u) ^ static_cast<uint32_t>(i * 40503u);
  h ^= h >> 13;
  h *= 0x5bd1e995u;
  return (static_cast<float>(h >> 8) / 16777216.0f - 0.5f) * 0.1f;
}

Mat make(WeightFormat f, size_t n, size_t k, size_t group) {
  Mat m{n, k, nullptr, 0};
  auto row = [k](size_t j, float* out) {
    for (size_t i = 0; i < k; ++i) out[i] = val(j, i);
  };
  if (f == WeightFormat::kBF16) {
    m.bytes = n * k * 2;
    m.buf = aligned_alloc_array<uint8_t>(m.bytes);
    auto* w = reinterpret_cast<uint16_t*>(m.buf.get());
    for (size_t j = 0; j < n; ++j)
      for (size_t i = 0; i < k; ++i) w[j * k + i] = f32_to_bf16(val(j, i));
  } else if (f == WeightFormat::kQ8_0) {
    m.bytes = quant::q8_0_bytes(n, k);
    m.buf = aligned_alloc_array<uint8_t>(m.bytes);
    std::vector<float> r(k);
    quant::pack_q8_0(
        n, k,
        [&](size_t j, quant::BlockQ8_0* b) {
          row(j, r.data());
          quant::quantize_row_q8_0(r.data(), k, b);
        },
        m.buf.get(), nullptr);
  } else {
    m.bytes = quant::q4_bytes(n, k, group);
    m.buf = aligned_alloc_array<uint8_t>(m.bytes);
    std::vector<float> r(k);
    quant::pack_q4(
        n, k, group,
        [&](size_t j, uint8_t* q, uint16_t* s, uint16_t* mn) {
          row(j, r.data());
          quant::quantize_row_q4(r.data(), k, group, q, s, mn);
        },
        m.buf.get(), nullptr);
  }
  return m;
}

void matmul(const KernelTable& t, WeightFormat f, size_t group, const Mat& w, const float* x,
            size_t m, float* y) {
  if (f == WeightFormat::kBF16)
    t.matmul_bf16_lowp(x, m, w.k, reinterpret_cast<const uint16_t*>(w.buf.get()), w.n, nullptr, y,
                       nullptr);
  if (f == WeightFormat::kQ8_0) t.matmul_q8_0(x, m, w.k, w.buf.get(), w.n, nullptr, y, nullptr);
  if (f == WeightFormat::kQ4) t.matmul_q4(x, m, w.k, w.buf.get(), w.n, group, nullptr, y, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  const size_t pm = argc > 2 ? static_cast<size_t>(std::atoi(argv[2])) : 128;
  const KernelTable& t = get();
  const size_t H = 896, I = 4864, KV = 128, V = 151936, L = 24;
  struct Cfg {
    const char* name;
    WeightFormat f;
    size_t group;
  } cfgs[] = {{"bf16", WeightFormat::kBF16, 0},
              {"q8_0", WeightFormat::kQ8_0, 0},
              {"q4 g32", WeightFormat::kQ4, 32},
              {"q4 g128", WeightFormat::kQ4, 128}};
  std::vector<float> x(pm * I), y(pm * V);
  for (size_t i = 0; i < x.size(); ++i) x[i] = val(7, i) * 20;
  double base_dec = 0, base_pre = 0;
  std::printf("kernels %s, 1 thread; 0.5B shapes (%zu layers + head)\n", t.name, L);
  for (const Cfg& c : cfgs) {
    std::vector<Mat> ms;
    for (size_t l = 0; l < L; ++l) {
      ms.push_back(make(c.f, H, H, c.group));
      ms.push_back(make(c.f, KV, H, c.group));
      ms.push_back(make(c.f, KV, H, c.group));
      ms.push_back(make(c.f, H, H, c.group));
      ms.push_back(make(c.f, I, H, c.group));
      ms.push_back(make(c.f, I, H, c.group));
      ms.push_back(make(c.f, H, I, c.group));
    }
    ms.push_back(make(c.f, V, H, c.group));
    size_t bytes = 0;
    for (auto& m : ms) bytes += m.bytes;
    double best_cpu = 1e9, best_wall = 1e9;
    for (int r = 0; r < reps + 1; ++r) {
      double c0 = now(CLOCK_THREAD_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
      for (auto& m : ms) matmul(t, c.f, c.group, m, x.data(), 1, y.data());
      double c1 = now(CLOCK_THREAD_CPUTIME_ID), w1 = now(CLOCK_MONOTONIC);
      if (r > 0) {  // the first pass warms up page tables
        best_cpu = std::min(best_cpu, c1 - c0);
        best_wall = std::min(best_wall, w1 - w0);
      }
    }
    // Prefill: one layer's matrices (they dominate; the head runs on 1 row).
    double pre_cpu = 1e9;
    for (int r = 0; r < 2; ++r) {
      double c0 = now(CLOCK_THREAD_CPUTIME_ID);
      for (size_t i = 0; i < 7; ++i) matmul(t, c.f, c.group, ms[i], x.data(), pm, y.data());
      pre_cpu = std::min(pre_cpu, now(CLOCK_THREAD_CPUTIME_ID) - c0);
    }
    const double pre_tps = pm / (pre_cpu * L);
    if (c.f == WeightFormat::kBF16) {
      base_dec = best_cpu;
      base_pre = pre_tps;
    }
    std::printf(
        "%-8s weights %.3f GB | decode %.1f tok/s (cpu %.1f ms, %.1f GB/s; wall %.1f ms) %.2fx "
        "bf16 | prefill m=%zu %.1f tok/s %.2fx bf16\n",
        c.name, bytes / 1e9, 1 / best_cpu, best_cpu * 1e3, bytes / best_cpu / 1e9, best_wall * 1e3,
        base_dec / best_cpu, pm, pre_tps, pre_tps / base_pre);
  }
  return 0;
}
