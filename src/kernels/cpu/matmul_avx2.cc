// AVX2 matmuls. Same dot-product shape as matmul_avx512.cc (see there): each
// y[i][j] owns one ymm of 8 partial sums walking k in chunks of 8, a zero-padded
// k tail, and a fixed fold (reduce4), so results are batch invariant. Tiles are
// 2 x-rows x 4 W rows (AVX2 has only 16 registers). The low-precision path
// rounds x to bf16 once per call and then runs the exact kernel: bf16 x bf16
// products are exact in f32, so this is the ref's definition.
#include <algorithm>
#include <cstring>

#include "core/aligned_buffer.h"
#include "kernels/cpu/isa_tables.h"
#include "kernels/cpu/simd_avx2.h"

namespace qs::kernels::cpu {
namespace {

// Sums of the 8 lanes of each of a, b, c, d -> [sa, sb, sc, sd].
inline __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

template <int MR>
inline void tile(const float* const* xr, const uint16_t* const* wr, size_t k, __m128* sums) {
  __m256 acc[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_setzero_ps();
  size_t t = 0;
  for (; t + 8 <= k; t += 8) {
    __m256 wv[4];
    for (int j = 0; j < 4; ++j) {
      // Same place in the next 4 rows (W is contiguous): keeps DRAM requests in flight.
      if ((t & 31) == 0)
        _mm_prefetch(reinterpret_cast<const char*>(wr[j] + t + 4 * k), _MM_HINT_T0);
      wv[j] = widen_bf16_8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wr[j] + t)));
    }
    for (int i = 0; i < MR; ++i) {
      __m256 xv = _mm256_loadu_ps(xr[i] + t);
      for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  if (t < k) {  // zero-padded copies of the tail
    alignas(32) uint16_t wt[4][8] = {};
    alignas(32) float xt[8] = {};
    for (int j = 0; j < 4; ++j) std::memcpy(wt[j], wr[j] + t, (k - t) * 2);
    __m256 wv[4];
    for (int j = 0; j < 4; ++j)
      wv[j] = widen_bf16_8(_mm_load_si128(reinterpret_cast<const __m128i*>(wt[j])));
    for (int i = 0; i < MR; ++i) {
      std::memcpy(xt, xr[i] + t, (k - t) * 4);
      __m256 xv = _mm256_load_ps(xt);
      for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i) sums[i] = reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
}

template <int MR>
inline void run_tile(const float* x, size_t ldx, size_t i0, const uint16_t* w, size_t k, size_t n,
                     size_t j0, const float* bias, float* y) {
  const float* xr[MR];
  for (int i = 0; i < MR; ++i) xr[i] = x + (i0 + i) * ldx;
  const uint16_t* wr[4];  // past-the-end rows repeat the last one (computed, not stored)
  for (size_t j = 0; j < 4; ++j) wr[j] = w + std::min(j0 + j, n - 1) * k;
  __m128 sums[MR];
  tile<MR>(xr, wr, k, sums);
  const size_t nv = std::min<size_t>(4, n - j0);
  alignas(16) float b[4] = {};
  if (bias) std::memcpy(b, bias + j0, nv * 4);
  for (int i = 0; i < MR; ++i) {
    alignas(16) float o[4];
    _mm_store_ps(o, _mm_add_ps(sums[i], _mm_load_ps(b)));
    std::memcpy(y + (i0 + i) * n + j0, o, nv * 4);
  }
}

void matmul_cols(const float* x, size_t ldx, size_t m, size_t k, const uint16_t* w, size_t n,
                 const float* bias, float* y, size_t c0, size_t c1) {
  size_t nb = m <= 2
                  ? c1 - c0
                  : std::max<size_t>(4, (192 * 1024 / (2 * std::max<size_t>(k, 1))) & ~size_t{3});
  for (size_t b0 = c0; b0 < c1; b0 += nb) {
    const size_t b1 = std::min(c1, b0 + nb);
    size_t i = 0;
    for (; i + 2 <= m; i += 2)
      for (size_t j = b0; j < b1; j += 4) run_tile<2>(x, ldx, i, w, k, n, j, bias, y);
    if (i < m)
      for (size_t j = b0; j < b1; j += 4) run_tile<1>(x, ldx, i, w, k, n, j, bias, y);
  }
}

void matmul_split(const float* x, size_t ldx, size_t m, size_t k, const uint16_t* w, size_t n,
                  const float* bias, float* y, ThreadPool* pool) {
  if (m == 0 || n == 0) return;
  if (!pool || pool->num_threads() == 1) {
    matmul_cols(x, ldx, m, k, w, n, bias, y, 0, n);
    return;
  }
  // Dynamic chunks of 64 W rows (a multiple of the tile): see ThreadPool.
  pool->parallel_chunks(
      n, 64, [&](size_t c0, size_t c1) { matmul_cols(x, ldx, m, k, w, n, bias, y, c0, c1); });
}

void matmul_bf16(const float* x, size_t m, size_t k, const uint16_t* w, size_t n, const float* bias,
                 float* y, ThreadPool* pool) {
  matmul_split(x, k, m, k, w, n, bias, y, pool);
}

void matmul_bf16_lowp(const float* x, size_t m, size_t k, const uint16_t* w, size_t n,
                      const float* bias, float* y, ThreadPool* pool) {
  if (m == 0 || n == 0) return;
  thread_local AlignedVec<float> xr;  // [m][k], x rounded to bf16 values
  xr.resize(m * k + 8);
  for (size_t i = 0; i < m * k; ++i) xr[i] = bf16_to_f32(f32_to_bf16(x[i]));
  matmul_split(xr.data(), k, m, k, w, n, bias, y, pool);
}

}  // namespace

void avx2_matmuls(KernelTable* t) {
  t->matmul_bf16 = matmul_bf16;
  t->matmul_bf16_lowp = matmul_bf16_lowp;
}

}  // namespace qs::kernels::cpu
