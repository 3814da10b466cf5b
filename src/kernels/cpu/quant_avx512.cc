// AVX-512 VNNI quantized matmuls over the row-group interleaved layouts of
// kernels.h: one 64-byte load of W is 4 consecutive k-elements of 16 outputs,
// and vpdpbusd multiplies it (u8) by 4 bytes of quantized x broadcast to all
// lanes (s8). kQ8_0 stores W + 128 so it can be the unsigned operand; the
// -128 * sum(qx) correction is the accumulator's starting value. kQ4 nibbles
// are unsigned already; kQ5 sets bit 4 where its 64-bit mask has a bit (a
// zero-masked byte move and one vpternlogd per 64 values). Per block of 32 the exact int32 sums are
// scaled and fma'd into f32 in the order kernels.h specifies, so results equal the ref bitwise, and
// every output's arithmetic is the same whatever m, its row position or the thread split (batch
// invariance).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/isa_tables.h"
#include "kernels/cpu/quant_schedule.h"
#include "kernels/quant.h"
#include "kernels/ref/quant_ops.h"

namespace qs::kernels::cpu {
namespace {

using ref_ops::QuantizedX;

inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Same arithmetic as quant::quantize_x_row (max is exact, x * id then RNE).
// Rows [r0, r1) of x into out (already sized for all m rows).
void quantize_x_rows(const float* x, size_t r0, size_t r1, size_t k, QuantizedX* out) {
  const size_t nb = k / 32;
  for (size_t i = r0; i < r1; ++i) {
    const float* xi = x + i * k;
    int8_t* q = out->q.data() + i * k;
    for (size_t b = 0; b < nb; ++b) {
      __m512 a = _mm512_loadu_ps(xi + b * 32), c = _mm512_loadu_ps(xi + b * 32 + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(c)));
      const float d = amax / 127.0f;
      const float id = d != 0 ? 1.0f / d : 0.0f;
      const __m512 vid = _mm512_set1_ps(id);
      __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, vid));
      __m512i qc = _mm512_cvtps_epi32(_mm512_mul_ps(c, vid));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32), _mm512_cvtsepi32_epi8(qa));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32 + 16), _mm512_cvtsepi32_epi8(qc));
      const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qc));
      out->dx[i * nb + b] = d;
      out->xsum[i * nb + b] = sum;
      out->corr[i * nb + b] = -128 * sum;
      out->xs[i * nb + b] = d * static_cast<float>(sum);
    }
  }
}

// All m rows; prefill-sized inputs are split over the pool (serial, this
// was ~15 % of a 2-thread INT8 prefill).
void quantize_x_simd(const float* x, size_t m, size_t k, QuantizedX* out, ThreadPool* pool) {
  out->resize(m, k);
  if (pool && m * k >= (size_t{1} << 16)) {
    pool->parallel_chunks(m, 8, [&](size_t r0, size_t r1) { quantize_x_rows(x, r0, r1, k, out); });
  } else {
    quantize_x_rows(x, 0, m, k, out);
  }
}

inline __m512 load_f16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Rows of a tile: quantized x, its block scales and sums.
struct XRows {
  const int8_t* q;
  const float* dx;
  const int32_t* corr;  // -128 * xsum
  const float* xs;
};

// MR x-rows times one row group (16 outputs) of kQ8_0 over all k.
template <int MR>
inline void tile_q8(const XRows* xr, const uint8_t* wg, size_t nb, __m512* out) {
  __m512 facc[MR];
  for (int i = 0; i < MR; ++i) facc[i] = _mm512_setzero_ps();
  const uint8_t* sc = wg + nb * 512;
  for (size_t b = 0; b < nb; ++b) {
    __m512i iacc[MR];
    for (int i = 0; i < MR; ++i) iacc[i] = _mm512_set1_epi32(xr[i].corr[b]);
    const uint8_t* wb = wg + b * 512;
    // The next group's scales (nb / 2 lines after its values, which the
    // 4 KB-ahead prefetch below reaches late), one line per block.
    if (2 * b < nb)
      _mm_prefetch(reinterpret_cast<const char*>(sc + nb * 544 + b * 64), _MM_HINT_T0);
    for (int s = 0; s < 8; ++s) {
      // Every line 4 KB ahead: the hardware prefetcher alone leaves a
      // single-row-group stream latency-bound (AVX2 twin: ~12 -> ~20 GB/s).
      _mm_prefetch(reinterpret_cast<const char*>(wb + 4096 + s * 64), _MM_HINT_T0);
      const __m512i wv = _mm512_loadu_si512(wb + s * 64);
      for (int i = 0; i < MR; ++i)
        iacc[i] =
            _mm512_dpbusd_epi32(iacc[i], wv, _mm512_set1_epi32(load_i32(xr[i].q + b * 32 + s * 4)));
    }
    const __m512 d = load_f16x16(sc + b * 32);
    for (int i = 0; i < MR; ++i)
      facc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[i]),
                                _mm512_mul_ps(d, _mm512_set1_ps(xr[i].dx[b])), facc[i]);
  }
  for (int i = 0; i < MR; ++i) out[i] = facc[i];
}

// MR x-rows times two row groups (32 outputs) of kQ8_0: each broadcast of x
// feeds two vpdpbusd, so a 6-row tile does 8 loads per 12 dot products
// instead of 9 per 8 (one group, 8 rows): the GEMM is no longer load-bound.
// Per output the arithmetic is exactly tile_q8's.
// Pf: W comes from DRAM (GEMV-like tiles, and a small batch's first tile
// over a pair): prefetch it.
template <int MR, bool Pf = (MR <= 2)>
inline void tile_q8_x2(const XRows* xr, const uint8_t* wg0, const uint8_t* wg1, size_t nb,
                       __m512* out0, __m512* out1) {
  __m512 f0[MR], f1[MR];
  for (int i = 0; i < MR; ++i) f0[i] = f1[i] = _mm512_setzero_ps();
  const uint8_t* sc0 = wg0 + nb * 512;
  const uint8_t* sc1 = wg1 + nb * 512;
  for (size_t b = 0; b < nb; ++b) {
    __m512i a0[MR], a1[MR];
    // Each accumulator its own broadcast load (a copy of one register costs
    // a vector op on the ports vpdpbusd needs).
    for (int i = 0; i < MR; ++i) {
      a0[i] = _mm512_set1_epi32(xr[i].corr[b]);
      a1[i] = _mm512_set1_epi32(xr[i].corr[b]);
    }
    const uint8_t* wb0 = wg0 + b * 512;
    const uint8_t* wb1 = wg1 + b * 512;
    if (Pf && 2 * b < nb) {
      // GEMV-like: the next pair's scales (nb / 2 lines after each group's
      // values; the pair is adjacent), one line per block, as in tile_q8.
      const size_t stride = nb * 544, ahead = 2 * stride + b * 64;
      _mm_prefetch(reinterpret_cast<const char*>(sc0 + ahead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(sc1 + ahead), _MM_HINT_T0);
    }
    for (int s = 0; s < 8; ++s) {
      if (Pf) {  // W comes from DRAM once
        _mm_prefetch(reinterpret_cast<const char*>(wb0 + 4096 + s * 64), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(wb1 + 4096 + s * 64), _MM_HINT_T0);
      }
      const __m512i w0 = _mm512_loadu_si512(wb0 + s * 64);
      const __m512i w1 = _mm512_loadu_si512(wb1 + s * 64);
      for (int i = 0; i < MR; ++i) {
        const __m512i xb = _mm512_set1_epi32(load_i32(xr[i].q + b * 32 + s * 4));
        a0[i] = _mm512_dpbusd_epi32(a0[i], w0, xb);
        a1[i] = _mm512_dpbusd_epi32(a1[i], w1, xb);
      }
    }
    const __m512 d0 = load_f16x16(sc0 + b * 32), d1 = load_f16x16(sc1 + b * 32);
    for (int i = 0; i < MR; ++i) {
      const __m512 dx = _mm512_set1_ps(xr[i].dx[b]);
      f0[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[i]), _mm512_mul_ps(d0, dx), f0[i]);
      f1[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[i]), _mm512_mul_ps(d1, dx), f1[i]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    out0[i] = f0[i];
    out1[i] = f1[i];
  }
}

// MR x-rows times one row group of kQ4 (High: kQ5) (group size `group`) over all k.
template <int MR, bool High>
inline void tile_qn(const XRows* xr, const uint8_t* wg, size_t nb, size_t group, __m512* out) {
  __m512 facc[MR];
  for (int i = 0; i < MR; ++i) facc[i] = _mm512_setzero_ps();
  const size_t per = group / 32, run = quant::qn_run_bytes(group, High);
  constexpr size_t kBlockBytes = High ? 320 : 256;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  // Independent int32 chains per row (NA of them, summed per block): one
  // chain of 8 dependent vpdpbusd per block bounded the GEMV by latency.
  // Integer sums: the split changes no bit of the result. Two chains, not
  // four, for the GEMV: 36-42 -> 73-80 GB/s of packed weights per core from
  // L2 (single-thread harness), and the 0.5B decode matmul sequence from
  // DRAM 12-19 % faster (g32 and g128, alternated); eight: 14-17 GB/s.
  constexpr int NA = MR <= 4 ? 2 : 1;
  // One run per quantization group: its blocks' values, then its scales and
  // mins (kernels.h), so the row group is one sequential stream.
  for (size_t g = 0; g * per < nb; ++g) {
    const uint8_t* rg = wg + g * run;
    const __m512 s = load_f16x16(rg + per * kBlockBytes),
                 m = load_f16x16(rg + per * kBlockBytes + 32);
    for (size_t b = g * per; b < (g + 1) * per; ++b) {
      __m512i part[NA][MR];
      for (int a = 0; a < NA; ++a)
        for (int i = 0; i < MR; ++i) part[a][i] = _mm512_setzero_si512();
      const uint8_t* wb = rg + (b - g * per) * kBlockBytes;
      if (High) _mm_prefetch(reinterpret_cast<const char*>(wb + 4096 + 256), _MM_HINT_T0);
      for (int p = 0; p < 4; ++p) {
        _mm_prefetch(reinterpret_cast<const char*>(wb + 4096 + p * 64), _MM_HINT_T0);
        const __m512i v = _mm512_loadu_si512(wb + p * 64);
        __m512i lo, hi;
        if (High) {
          // Bit 4 where the block's 64-bit mask of (step p, half) has a bit,
          // merged with the nibble by one vpternlogd ((a & 0x0F) | b = 0xEC):
          // merge-masked vpaddb made GCC copy every vector first (+45 % GEMV time).
          // (kmovq straight from memory; _load_mask64 takes a non-const pointer.)
          __mmask64* mp = reinterpret_cast<__mmask64*>(const_cast<uint8_t*>(wb + 256 + p * 16));
          lo = _mm512_ternarylogic_epi32(v, _mm512_maskz_mov_epi8(_load_mask64(mp), bit4), low4,
                                         0xEC);
          hi = _mm512_ternarylogic_epi32(_mm512_srli_epi16(v, 4),
                                         _mm512_maskz_mov_epi8(_load_mask64(mp + 1), bit4), low4,
                                         0xEC);
        } else {
          lo = _mm512_and_si512(v, low4);
          hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        }
        for (int i = 0; i < MR; ++i) {
          const int8_t* xq = xr[i].q + b * 32 + p * 8;
          __m512i& a0 = part[(2 * p) % NA][i];
          __m512i& a1 = part[(2 * p + 1) % NA][i];
          a0 = _mm512_dpbusd_epi32(a0, lo, _mm512_set1_epi32(load_i32(xq)));
          a1 = _mm512_dpbusd_epi32(a1, hi, _mm512_set1_epi32(load_i32(xq + 4)));
        }
      }
      __m512i iacc[MR];
      for (int i = 0; i < MR; ++i) {
        iacc[i] = part[0][i];
        for (int a = 1; a < NA; ++a) iacc[i] = _mm512_add_epi32(iacc[i], part[a][i]);
      }
      for (int i = 0; i < MR; ++i) {
        facc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(iacc[i]),
                                  _mm512_mul_ps(s, _mm512_set1_ps(xr[i].dx[b])), facc[i]);
        facc[i] = _mm512_fmadd_ps(m, _mm512_set1_ps(xr[i].xs[b]), facc[i]);
      }
    }
  }
  for (int i = 0; i < MR; ++i) out[i] = facc[i];
}

// Format-specific pieces for the shared driver.
struct Q8Fmt {
  size_t stride;
  template <int MR>
  void tile(const XRows* xr, const uint8_t* wg, size_t nb, __m512* out) const {
    tile_q8<MR>(xr, wg, nb, out);
  }
};
template <bool High>  // kQ4 / kQ5
struct QnFmt {
  size_t stride;
  size_t group;
  template <int MR>
  void tile(const XRows* xr, const uint8_t* wg, size_t nb, __m512* out) const {
    tile_qn<MR, High>(xr, wg, nb, group, out);
  }
};

// The quantized x rows i0 .. i0 + MR - 1 as the tiles read them.
template <int MR>
inline void x_rows(const QuantizedX& qx, size_t i0, size_t k, XRows* xr) {
  const size_t nb = k / 32;
  for (int i = 0; i < MR; ++i) {
    const size_t r = i0 + i;
    xr[i] = XRows{qx.q.data() + r * k, qx.dx.data() + r * nb, qx.corr.data() + r * nb,
                  qx.xs.data() + r * nb};
  }
}

// y[i0 + i][16 g ..] = acc[i] (+ bias), the group's outputs past n masked off.
template <int MR>
inline void store_group(const __m512* acc, size_t i0, size_t n, size_t g, const float* bias,
                        float* y) {
  const size_t j0 = g * 16;
  const __mmask16 mask =
      n - j0 >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - j0)) - 1);
  const __m512 bv = bias ? _mm512_maskz_loadu_ps(mask, bias + j0) : _mm512_setzero_ps();
  for (int i = 0; i < MR; ++i) {
    const __m512 v = bias ? _mm512_add_ps(acc[i], bv) : acc[i];
    _mm512_mask_storeu_ps(y + (i0 + i) * n + j0, mask, v);
  }
}

template <int MR, typename Fmt>
inline void run_tile(const Fmt& f, const QuantizedX& qx, size_t i0, size_t k, const uint8_t* w,
                     size_t n, size_t g, const float* bias, float* y) {
  const size_t nb = k / 32;
  XRows xr[MR];
  x_rows<MR>(qx, i0, k, xr);
  __m512 acc[MR];
  f.template tile<MR>(xr, w + g * f.stride, nb, acc);
  store_group<MR>(acc, i0, n, g, bias, y);
}

// kQ8_0 only: MR x-rows times row groups g and g + 1 (both full or partial
// like run_tile's one group).
template <int MR, bool Pf = (MR <= 2)>
inline void run_tile_q8_x2(const Q8Fmt& f, const QuantizedX& qx, size_t i0, size_t k,
                           const uint8_t* w, size_t n, size_t g, const float* bias, float* y) {
  const size_t nb = k / 32;
  XRows xr[MR];
  x_rows<MR>(qx, i0, k, xr);
  __m512 acc[2][MR];
  tile_q8_x2<MR, Pf>(xr, w + g * f.stride, w + (g + 1) * f.stride, nb, acc[0], acc[1]);
  store_group<MR>(acc[0], i0, n, g, bias, y);
  store_group<MR>(acc[1], i0, n, g + 1, bias, y);
}

// Row groups [g0, g1) of y for all m rows: each W group (<= ~80 KB) stays in
// L2 while the x rows stream past it. kQ8_0 takes the groups in pairs.
template <typename Fmt>
void matmul_groups(const Fmt& f, const QuantizedX& qx, size_t m, size_t k, const uint8_t* w,
                   size_t n, const float* bias, float* y, size_t g0, size_t g1) {
  if constexpr (std::is_same_v<Fmt, Q8Fmt>) {
    for (; g0 + 2 <= g1; g0 += 2) {
      size_t i = 0;
      // A small batch's first tile reads the pair from DRAM: prefetch it.
      if (m <= 32 && i + 6 <= m) {
        run_tile_q8_x2<6, true>(f, qx, i, k, w, n, g0, bias, y);
        i += 6;
      }
      for (; i + 6 <= m; i += 6) run_tile_q8_x2<6>(f, qx, i, k, w, n, g0, bias, y);
      for (; i + 2 <= m; i += 2) run_tile_q8_x2<2>(f, qx, i, k, w, n, g0, bias, y);
      for (; i < m; ++i) run_tile_q8_x2<1>(f, qx, i, k, w, n, g0, bias, y);
    }
  }
  for (size_t g = g0; g < g1; ++g) {
    size_t i = 0;
    for (; i + 8 <= m; i += 8) run_tile<8>(f, qx, i, k, w, n, g, bias, y);
    for (; i + 4 <= m; i += 4) run_tile<4>(f, qx, i, k, w, n, g, bias, y);
    for (; i < m; ++i) run_tile<1>(f, qx, i, k, w, n, g, bias, y);
  }
}

template <typename Fmt>
void matmul_quant(const Fmt& f, const float* x, size_t m, size_t k, const void* w, size_t n,
                  const float* bias, float* y, ThreadPool* pool) {
  if (m == 0 || n == 0) return;
  thread_local QuantizedX qx;
  quantize_x_simd(x, m, k, &qx, pool);
  const uint8_t* wp = static_cast<const uint8_t*>(w);
  const size_t groups = (n + 15) / 16;
  if (!pool || pool->num_threads() == 1) {
    matmul_groups(f, qx, m, k, wp, n, bias, y, 0, groups);
    return;
  }
  // (qx is thread_local: hand the workers this thread's copy explicitly.)
  const QuantizedX* q = &qx;
  schedule_row_groups(*pool, groups, m, f.stride, [&, q](size_t g0, size_t g1) {
    matmul_groups(f, *q, m, k, wp, n, bias, y, g0, g1);
  });
}

void matmul_q8_0(const float* x, size_t m, size_t k, const void* w, size_t n, const float* bias,
                 float* y, ThreadPool* pool) {
  matmul_quant(Q8Fmt{quant::q8_0_bytes(16, k)}, x, m, k, w, n, bias, y, pool);
}

void matmul_q4(const float* x, size_t m, size_t k, const void* w, size_t n, size_t group,
               const float* bias, float* y, ThreadPool* pool) {
  matmul_quant(QnFmt<false>{quant::q4_bytes(16, k, group), group}, x, m, k, w, n, bias, y, pool);
}

void matmul_q5(const float* x, size_t m, size_t k, const void* w, size_t n, size_t group,
               const float* bias, float* y, ThreadPool* pool) {
  matmul_quant(QnFmt<true>{quant::q5_bytes(16, k, group), group}, x, m, k, w, n, bias, y, pool);
}

}  // namespace

void avx512_quant_matmuls(KernelTable* t) {
  t->matmul_q8_0 = matmul_q8_0;
  t->matmul_q4 = matmul_q4;
  t->matmul_q5 = matmul_q5;
}

}  // namespace qs::kernels::cpu
