// Kernel micro-benchmark: decode GEMV (m = 1) bandwidth as a fraction of the
// measured read bandwidth, and prefill GEMM throughput as a fraction of the
// measured vdpbf16ps peak, for every kernel table, at Qwen2.5-0.5B shapes.
// Quantized matmuls (q8_0, q4 g32, q4 g128, q5 g32): GEMV bandwidth over the packed
// bytes and GEMM m=512 integer throughput, every table (ref GEMV too, as the
// baseline the SIMD tables replace; ref GEMM is too slow to run).
// Attention (BF16 and INT8 KV cache, 0.5B heads): causal prefill of one
// sequence as GFLOP/s against the f32 FMA peak, and one decode row's time per
// layer at long contexts.
// Usage: kernels_bench [threads] [quant|attention]   (default: all cores;
// `quant` / `attention`: only those lines)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/dtype.h"
#include "core/huge_pages.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/probe.h"
#include "kernels/quant.h"

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

// A hash-derived weight in [-0.05, 0.05) (fast to generate for ~10^8 values).
float wval(size_t j, size_t i) {
  uint32_t h = static_cast<uint32_t>(j * 2654435761u) ^ static_cast<uint32_t>(i * 40503u);
  h ^= h >> 13;
  h *= 0x5bd1e995u;
  return (static_cast<float>(h >> 8) / 16777216.0f - 0.5f) * 0.1f;
}

// `rows` x k packed in one quantized format (group 0 = q8_0); row groups of 16
// are contiguous, so rows [c*n, (c+1)*n) (n % 16 == 0) form copy c of an n x k matrix.
struct QuantW {
  size_t group = 0, k = 0, rows = 0, stride = 0;  // stride: bytes per 16 rows
  bool five = false;                              // kQ5 (group > 0)
  qs::HugePageRegion buf;  // 2 MB pages, like the model's weights (weight_arena.h)
  const uint8_t* copy(size_t n, size_t c) const { return buf.data() + c * (n / 16) * stride; }
};

// group 0: q8_0; otherwise kQ4 (five = false) or kQ5 with that group.
QuantW pack_quant(size_t group, bool five, size_t rows, size_t k, qs::ThreadPool* pool) {
  namespace q = qs::kernels::quant;
  QuantW w;
  w.group = group;
  w.five = five;
  w.k = k;
  w.rows = rows;
  auto bytes = [&](size_t n) {
    return group == 0 ? q::q8_0_bytes(n, k) : q::qn_bytes(n, k, group, five);
  };
  w.stride = bytes(16);
  w.buf = qs::HugePageRegion::Allocate(bytes(rows));
  if (group == 0) {
    q::pack_q8_0(
        rows, k,
        [k](size_t j, q::BlockQ8_0* b) {
          std::vector<float> r(k);
          for (size_t i = 0; i < k; ++i) r[i] = wval(j, i);
          q::quantize_row_q8_0(r.data(), k, b);
        },
        w.buf.data(), pool);
  } else {
    q::pack_qn(
        rows, k, group, five,
        [k, group, five](size_t j, uint8_t* qv, uint16_t* sv, uint16_t* mv) {
          std::vector<float> r(k);
          for (size_t i = 0; i < k; ++i) r[i] = wval(j, i);
          (five ? q::quantize_row_q5 : q::quantize_row_q4)(r.data(), k, group, qv, sv, mv);
        },
        w.buf.data(), pool);
  }
  return w;
}

// Best time of one quantized matmul over `reps`, each on another copy of W.
double time_quant(const qs::kernels::KernelTable& t, const QuantW& w, const float* x, size_t m,
                  size_t n, float* y, qs::ThreadPool* pool, int reps) {
  const size_t copies = std::max<size_t>(1, w.rows / n);
  auto call = [&](const uint8_t* wp) {
    if (w.group == 0) {
      t.matmul_q8_0(x, m, w.k, wp, n, nullptr, y, pool);
    } else {
      (w.five ? t.matmul_q5 : t.matmul_q4)(x, m, w.k, wp, n, w.group, nullptr, y, pool);
    }
  };
  call(w.copy(n, 0));
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const uint8_t* wp = w.copy(n, (r + 1) % copies);
    double t0 = now_s();
    call(wp);
    best = std::min(best, now_s() - t0);
  }
  return best;
}

// Quantized GEMV (m = 1) and GEMM (m = 512) lines for every table, one format
// at a time (packed once per k: at least 64M weights, so copies exceed the caches).
void bench_quant(const float* x, float* y, double bw, double int8_peak, qs::ThreadPool* pool) {
  size_t nt = 0;
  const qs::kernels::KernelTable* const* tables = qs::kernels::available(&nt);
  const size_t gemv[][2] = {{896, 896}, {128, 896}, {4864, 896}, {896, 4864}, {151936, 896}};
  const size_t gemm[][2] = {{4864, 896}, {896, 4864}, {896, 896}};
  const struct {
    const char* name;
    size_t group;
    bool five;
  } fmts[] = {
      {"q8_0", 0, false}, {"q4 g32", 32, false}, {"q4 g128", 128, false}, {"q5 g32", 32, true}};
  for (const auto& f : fmts) {
    QuantW w896 = pack_quant(f.group, f.five, 151936, 896, pool);
    QuantW w4864 = pack_quant(f.group, f.five, (size_t{64} << 20) / 4864 / 16 * 16, 4864, pool);
    for (size_t ti = 0; ti < nt; ++ti) {
      const auto& t = *tables[ti];
      const bool is_ref = ti == 0;
      std::printf("== %s table %s ==\n", f.name, t.name);
      std::printf("decode GEMV m=1:\n");
      for (auto& s : gemv) {
        const size_t n = s[0], k = s[1];
        if (is_ref && n > 4864) continue;
        const QuantW& w = k == 896 ? w896 : w4864;
        double sec = time_quant(t, w, x, 1, n, y, pool, is_ref ? 3 : 50);
        double gbs = static_cast<double>(n / 16 * w.stride) / sec / 1e9;
        std::printf("  n=%6zu k=%5zu  %8.1f us  %6.1f GB/s  %5.1f%% of bandwidth\n", n, k,
                    sec * 1e6, gbs, 100 * gbs / bw);
      }
      if (is_ref) continue;
      std::printf("prefill GEMM m=512:\n");
      for (auto& s : gemm) {
        const size_t n = s[0], k = s[1], m = 512;
        const QuantW& w = k == 896 ? w896 : w4864;
        double sec = time_quant(t, w, x, m, n, y, pool, 3);
        const double gops = 2.0 * m * n * k / sec / 1e9;
        std::printf("  n=%6zu k=%5zu  %8.2f ms  %6.0f GOP/s  %5.1f%% of the int8 peak\n", n, k,
                    sec * 1e3, gops, int8_peak > 0 ? 100 * gops / int8_peak : 0.0);
      }
    }
  }
}

// Paged KV cache of `slots` positions (0.5B: 2 KV heads of 64), blocks of 16
// in a shuffled order as the allocator hands them out, filled with random
// values through the table's own kv_store.
struct BenchCache {
  std::vector<uint8_t> k, v;
  std::vector<float> k_scale, v_scale;
  std::vector<int32_t> table;
  qs::kernels::PagedKV kv;
};

BenchCache make_cache(const qs::kernels::KernelTable& t, qs::DType dt, size_t slots) {
  constexpr size_t kKvHeads = 2, kHd = 64, kBs = 16;
  BenchCache c;
  const size_t width = kKvHeads * kHd, blocks = (slots + kBs - 1) / kBs;
  c.k.resize(blocks * kBs * width * qs::dtype_size(dt));
  c.v.resize(c.k.size());
  c.k_scale.resize(blocks * kBs * kKvHeads);
  c.v_scale.resize(c.k_scale.size());
  c.kv = qs::kernels::PagedKV{c.k.data(),       c.v.data(),      dt, kBs, kKvHeads, kHd,
                              c.k_scale.data(), c.v_scale.data()};
  c.table.resize(blocks);
  std::iota(c.table.begin(), c.table.end(), 0);
  std::mt19937 rng(7);
  std::shuffle(c.table.begin(), c.table.end(), rng);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> kf(slots * width), vf(slots * width);
  for (auto& f : kf) f = d(rng);
  for (auto& f : vf) f = d(rng);
  std::vector<int64_t> dest(slots);
  for (size_t p = 0; p < slots; ++p)
    dest[p] = static_cast<int64_t>(c.table[p / kBs]) * kBs + static_cast<int64_t>(p % kBs);
  t.kv_store(kf.data(), vf.data(), slots, width, dest.data(), c.kv);
  return c;
}

// Causal prefill of one sequence of len tokens (row i sees i + 1 positions)
// and one decode row at each long context, for the SIMD tables.
void bench_attention(double fma_peak, qs::ThreadPool* pool) {
  constexpr size_t kHeads = 14, kHd = 64;
  size_t nt = 0;
  const qs::kernels::KernelTable* const* tables = qs::kernels::available(&nt);
  const float scale = 0.125f;
  for (size_t ti = 1; ti < nt; ++ti) {
    const auto& t = *tables[ti];
    for (qs::DType dt : {qs::DType::BF16, qs::DType::I8}) {
      for (bool lowp : {false, true}) {
        const auto fn = lowp ? t.attention_lowp : t.attention;
        std::printf("== attention table %s, %s KV, %s ==\n", t.name,
                    std::string(qs::dtype_name(dt)).c_str(), lowp ? "lowp" : "exact");
        for (size_t len : {512, 2048}) {
          BenchCache c = make_cache(t, dt, len);
          std::vector<float> q(len * kHeads * kHd, 0.1f), out(q.size());
          std::vector<qs::kernels::AttnRow> rows(len);
          for (size_t i = 0; i < len; ++i) rows[i] = {c.table.data(), static_cast<int32_t>(i + 1)};
          double best = 1e30;
          for (int r = 0; r < 4; ++r) {
            const double t0 = now_s();
            fn(q.data(), len, kHeads * kHd, kHeads, rows.data(), c.kv, scale, out.data(), pool);
            if (r > 0) best = std::min(best, now_s() - t0);
          }
          const double gf = 4.0 * kHd * kHeads * (len * (len + 1) / 2.0) / best / 1e9;
          std::printf(
              "  prefill %5zu tokens causal  %8.2f ms  %6.1f GFLOP/s  %5.1f%% of fma peak\n", len,
              best * 1e3, gf, 100 * gf / fma_peak);
        }
        for (size_t ctx : {2048, 8192}) {
          BenchCache c = make_cache(t, dt, ctx);
          std::vector<float> q(kHeads * kHd, 0.1f), out(q.size());
          qs::kernels::AttnRow row{c.table.data(), static_cast<int32_t>(ctx)};
          double best = 1e30;
          for (int r = 0; r < 50; ++r) {
            const double t0 = now_s();
            fn(q.data(), 1, kHeads * kHd, kHeads, &row, c.kv, scale, out.data(), pool);
            if (r > 0) best = std::min(best, now_s() - t0);
          }
          std::printf("  decode, context %5zu        %8.1f us per layer\n", ctx, best * 1e6);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  qs::ThreadPool pool(threads);
  std::printf("threads: %d\n", pool.num_threads());
  const double bw = qs::kernels::measure_read_bandwidth_gbs(&pool);
  const double bf16_peak = qs::kernels::measure_bf16_dot_peak_gflops(&pool);
  const double fma_peak = qs::kernels::measure_f32_fma_peak_gflops(&pool);
  const double int8_peak = qs::kernels::measure_int8_dot_peak_gops(&pool);
  std::printf("measured read bandwidth: %.1f GB/s\n", bw);
  std::printf(
      "measured vdpbf16ps peak: %.0f GFLOP/s, f32 FMA peak: %.0f GFLOP/s, vpdpbusd peak: %.0f "
      "GOP/s\n\n",
      bf16_peak, fma_peak, int8_peak);

  const size_t max_elems = 151936 * 896;
  // 2 MB pages, like the model's weights (the probe above reads such pages too).
  qs::HugePageRegion w_region = qs::HugePageRegion::Allocate(max_elems * sizeof(uint16_t));
  uint16_t* w = reinterpret_cast<uint16_t*>(w_region.data());
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (size_t i = 0; i < max_elems; ++i) w[i] = qs::f32_to_bf16(d(rng) * 0.05f);
  std::vector<float> x(512 * 4864), y(512 * 151936 / 100 + 512 * 4864);
  for (auto& v : x) v = d(rng);

  size_t nt = 0;
  const qs::kernels::KernelTable* const* tables = qs::kernels::available(&nt);
  const size_t gemv[][2] = {{896, 896}, {128, 896}, {4864, 896}, {896, 4864}, {151936, 896}};
  const size_t gemm[][2] = {{4864, 896}, {896, 4864}, {896, 896}};
  const bool quant_only = argc > 2 && std::strcmp(argv[2], "quant") == 0;
  if (argc > 2 && std::strcmp(argv[2], "attention") == 0) {
    bench_attention(fma_peak, &pool);
    return 0;
  }
  for (size_t ti = 1; ti < nt && !quant_only; ++ti) {  // ref is too slow to be interesting
    const auto* t = tables[ti];
    std::printf("== table %s ==\n", t->name);
    for (bool lowp : {false, true}) {
      MatmulFn fn = lowp ? t->matmul_bf16_lowp : t->matmul_bf16;
      std::printf("decode GEMV m=1 (%s):\n", lowp ? "lowp" : "exact");
      for (auto& s : gemv) {
        size_t n = s[0], k = s[1];
        double sec = time_call(fn, x.data(), 1, k, w, max_elems, n, y.data(), &pool, 50);
        double gbs = static_cast<double>(n * k * 2) / sec / 1e9;
        std::printf("  n=%6zu k=%5zu  %8.1f us  %6.1f GB/s  %5.1f%% of bandwidth\n", n, k,
                    sec * 1e6, gbs, 100 * gbs / bw);
      }
      std::printf("prefill GEMM m=512 (%s):\n", lowp ? "lowp" : "exact");
      for (auto& s : gemm) {
        size_t n = s[0], k = s[1], m = 512;
        double sec = time_call(fn, x.data(), m, k, w, max_elems, n, y.data(), &pool, 3);
        double gf = 2.0 * m * n * k / sec / 1e9;
        double pk = lowp ? bf16_peak : fma_peak;
        std::printf("  n=%6zu k=%5zu  %8.2f ms  %6.0f GFLOP/s  %5.1f%% of %s peak\n", n, k,
                    sec * 1e3, gf, 100 * gf / pk, lowp ? "bf16" : "fma");
      }
    }
  }
  bench_quant(x.data(), y.data(), bw, int8_peak, &pool);
  if (!quant_only) bench_attention(fma_peak, &pool);
  return 0;
}
