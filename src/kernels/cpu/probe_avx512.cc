// Register-only AVX-512 loops for the peak probes, and a streaming sum for the
// bandwidth probe. 16 independent accumulator chains cover the latency of
// vdpbf16ps / vpdpbusd / vfmadd (~4-6 cycles) at 2 instructions per cycle. The inner loops
// must be unrolled so the accumulators live in registers (not memory: that
// measured a third of the real peak).
#include <immintrin.h>

#include "kernels/cpu/isa_tables.h"

namespace qs::kernels::cpu {

double avx512_bf16_dot_loop(size_t iters) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80);  // 1.0
  __m512bh b = (__m512bh)_mm512_set1_epi16(0x3c00);  // 2^-7: sums stay finite
  for (size_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    __asm__ volatile("" : "+v"(a));
  }
  float s = 0;
  for (int i = 0; i < 16; ++i) s += _mm512_reduce_add_ps(acc[i]);
  __asm__ volatile("" ::"x"(s));
  return static_cast<double>(iters) * 16 * 64;
}

// vpdpbusd: 16 lanes x 4 u8*s8 products per instruction, counted as 2 ops
// each (128 per zmm instruction), like the quantized matmuls' GOP/s.
double avx512_int8_dot_loop(size_t iters) {
  __m512i acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_epi32(i);
  __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
  for (size_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    __asm__ volatile("" : "+v"(a));
  }
  __m512i s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_epi32(s, acc[i]);
  const int sum = _mm512_reduce_add_epi32(s);
  __asm__ volatile("" ::"r"(sum));
  return static_cast<double>(iters) * 16 * 128;
}

double avx512_fma_loop(size_t iters) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
  for (size_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    __asm__ volatile("" : "+v"(a));
  }
  float s = 0;
  for (int i = 0; i < 16; ++i) s += _mm512_reduce_add_ps(acc[i]);
  __asm__ volatile("" ::"x"(s));
  return static_cast<double>(iters) * 16 * 32;
}

float avx512_sum(const float* p, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  for (; i < n; ++i) s += p[i];
  return s;
}

}  // namespace qs::kernels::cpu
