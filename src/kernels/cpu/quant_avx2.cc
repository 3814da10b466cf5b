// AVX2 (+FMA, F16C; no VNNI) quantized matmuls over the row-group interleaved
// layouts of kernels.h. A row group's 64-byte step (4 consecutive k-elements
// of 16 outputs) is two 32-byte halves: outputs 0..7 and 8..15, 4 bytes each,
// so one ymm lane (int32) is one output.
//
// Integer dot products use vpmaddubsw (u8 x s8 -> pairs summed to s16, which
// SATURATES) and vpmaddwd with ones (s16 pairs -> s32), chosen so nothing
// saturates:
//  - kQ8_0 (sign trick): w = byte ^ 0x80 is q in [-128, 127]; the unsigned
//    operand is |w| (<= 128, as u8) and the signed one is x with w's sign
//    (|x| <= 127, so negating never wraps). A pair is <= 2*128*127 = 32512.
//  - kQ4: nibbles q in [0, 15] are unsigned already; a pair is <= 2*15*127 =
//    3810, so the 8 vpmaddubsw results of a block (4 steps x low/high nibble)
//    sum in s16 (<= 30480) before one vpmaddwd. kQ5 (q in [0, 31], pairs <=
//    7874): one vpmaddwd per 4 results (<= 31496).
// Per block of 32 the exact int32 sums are scaled and fma'd into f32 in the
// order kernels.h specifies, so results equal the ref bitwise, and every
// output's arithmetic is the same whatever m, its row position or the thread
// split (batch invariance). Structure mirrors quant_avx512.cc.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/isa_tables.h"
#include "kernels/cpu/quant_schedule.h"
#include "kernels/cpu/simd_avx2.h"
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

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// Same arithmetic as quant::quantize_x_row: max|x| is exact in any order,
// q = RNE(x * id) (vcvtps2dq under the default rounding mode = nearbyint).
void quantize_x_avx2(const float* x, size_t m, size_t k, QuantizedX* out) {
  out->resize(m, k);
  const size_t nb = k / 32;
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  // After packs_epi32 + packs_epi16 the dwords hold elements
  // [0-3, 8-11, 16-19, 24-27, 4-7, 12-15, 20-23, 28-31]: put them back in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (size_t i = 0; i < m; ++i) {
    const float* xi = x + i * k;
    int8_t* q = out->q.data() + i * k;
    for (size_t b = 0; b < nb; ++b) {
      const float* xb = xi + b * 32;
      const __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
      const __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
      const __m256 a =
          _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, absmask), _mm256_and_ps(v1, absmask)),
                        _mm256_max_ps(_mm256_and_ps(v2, absmask), _mm256_and_ps(v3, absmask)));
      const float amax = hmax256(a);
      const float d = amax / 127.0f;
      const float id = d != 0 ? 1.0f / d : 0.0f;
      const __m256 vid = _mm256_set1_ps(id);
      const __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, vid));
      const __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, vid));
      const __m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, vid));
      const __m256i q3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, vid));
      const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 32),
                          _mm256_permutevar8x32_epi32(p, order));
      const int32_t sum =
          hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(q0, q1), _mm256_add_epi32(q2, q3)));
      out->dx[i * nb + b] = d;
      out->xsum[i * nb + b] = sum;
      out->xs[i * nb + b] = d * static_cast<float>(sum);
    }
  }
}

// Keeps v in a register as it is: stops GCC from re-associating an
// accumulator chain into a tree of partial sums, which spills at MR = 4.
inline void keep(__m256i& v) { asm("" : "+x"(v)); }

// GEMV (one x row) streams W from memory with ~15 instructions per 64-byte
// line, so the out-of-order window alone covers too few lines to hide DRAM
// latency: every line is prefetched kPrefetch bytes ahead (measured).
constexpr size_t kPrefetch = 4096;
inline void prefetch_ahead(const uint8_t* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetch), _MM_HINT_T0);
}

inline __m256 load_f16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Rows of a tile: quantized x, its block scales and sums.
struct XRows {
  const int8_t* q;
  const float* dx;
  const int32_t* xsum;
  const float* xs;
};

// MR x-rows times NH halves (8 outputs each, from half h0) of one kQ8_0 row
// group over all k. out[i * NH + h]: row i, half h0 + h.
template <int MR, int NH>
inline void tile_q8(const XRows* xr, const uint8_t* wg, size_t nb, int h0, __m256* out) {
  __m256 facc[MR][NH];
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < NH; ++h) facc[i][h] = _mm256_setzero_ps();
  const uint8_t* sc = wg + nb * 512 + h0 * 16;
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t b = 0; b < nb; ++b) {
    __m256i iacc[MR][NH];
    for (int i = 0; i < MR; ++i)
      for (int h = 0; h < NH; ++h) iacc[i][h] = _mm256_setzero_si256();
    const uint8_t* wb = wg + b * 512 + h0 * 32;
    for (int s = 0; s < 8; ++s) {
      if (MR == 1) prefetch_ahead(wb + s * 64);
      __m256i wa[NH], ws[NH];
      for (int h = 0; h < NH; ++h) {
        ws[h] = _mm256_xor_si256(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + s * 64 + h * 32)), flip);
        wa[h] = _mm256_abs_epi8(ws[h]);
      }
      for (int i = 0; i < MR; ++i) {
        const __m256i xv = _mm256_set1_epi32(load_i32(xr[i].q + b * 32 + s * 4));
        for (int h = 0; h < NH; ++h) {
          const __m256i p16 = _mm256_maddubs_epi16(wa[h], _mm256_sign_epi8(xv, ws[h]));
          iacc[i][h] = _mm256_add_epi32(iacc[i][h], _mm256_madd_epi16(p16, ones));
          keep(iacc[i][h]);
        }
      }
    }
    for (int h = 0; h < NH; ++h) {
      const __m256 d = load_f16x8(sc + b * 32 + h * 16);
      for (int i = 0; i < MR; ++i)
        facc[i][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(iacc[i][h]),
                                     _mm256_mul_ps(d, _mm256_set1_ps(xr[i].dx[b])), facc[i][h]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < NH; ++h) out[i * NH + h] = facc[i][h];
}

// 32 bits -> 32 bytes: 0x10 where the bit is set (bit i -> byte i): kQ5's 5th bits.
inline __m256i expand_bit4(uint32_t bits) {
  const __m256i spread =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                          _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                           2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i sel = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, sel), sel);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// MR x-rows times NH halves of one kQ4 (High: kQ5) row group (group size
// `group`) over all k. kQ5 pairs reach 2*31*127 = 7874, so its s16 sums are
// widened every 4 vpmaddubsw (<= 31496) instead of once per block.
template <int MR, int NH, bool High>
inline void tile_qn(const XRows* xr, const uint8_t* wg, size_t nb, size_t group, int h0,
                    __m256* out) {
  __m256 facc[MR][NH];
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < NH; ++h) facc[i][h] = _mm256_setzero_ps();
  const size_t ng = nb * 32 / group, bpg = group / 32;
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t g = 0; g < ng; ++g) {
    __m256 s[NH], m[NH];
    for (int h = 0; h < NH; ++h) {
      s[h] = load_f16x8(wg + quant::qn_scales_at(g, group, High) + (h0 + h) * 16);
      m[h] = load_f16x8(wg + quant::qn_mins_at(g, group, High) + (h0 + h) * 16);
    }
    for (size_t b = g * bpg; b < (g + 1) * bpg; ++b) {
      __m256i acc16[MR][NH];  // s16 pair sums (<= 8 * 3810 for kQ4, exact)
      __m256i acc32[MR][NH];  // kQ5: int32 sums of the first half block
      for (int i = 0; i < MR; ++i)
        for (int h = 0; h < NH; ++h) acc16[i][h] = acc32[i][h] = _mm256_setzero_si256();
      const uint8_t* blk = wg + quant::qn_values_at(b, group, High);
      const uint8_t* wb = blk + h0 * 32;
      for (int p = 0; p < 4; ++p) {
        if (MR == 1) prefetch_ahead(wb + p * 64);
        __m256i lo[NH], hi[NH];
        for (int h = 0; h < NH; ++h) {
          const __m256i v =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + p * 64 + h * 32));
          lo[h] = _mm256_and_si256(v, low4);
          hi[h] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
          if (High) {  // masks (p, lo/hi): bits 32 (h0 + h) .. + 31 are this half's bytes
            uint32_t ml, mh;
            std::memcpy(&ml, blk + 256 + p * 16 + (h0 + h) * 4, 4);
            std::memcpy(&mh, blk + 256 + p * 16 + 8 + (h0 + h) * 4, 4);
            lo[h] = _mm256_or_si256(lo[h], expand_bit4(ml));
            hi[h] = _mm256_or_si256(hi[h], expand_bit4(mh));
          }
        }
        for (int i = 0; i < MR; ++i) {
          const int8_t* xq = xr[i].q + b * 32 + p * 8;
          const __m256i xl = _mm256_set1_epi32(load_i32(xq));
          const __m256i xh = _mm256_set1_epi32(load_i32(xq + 4));
          for (int h = 0; h < NH; ++h) {
            acc16[i][h] = _mm256_add_epi16(acc16[i][h], _mm256_maddubs_epi16(lo[h], xl));
            keep(acc16[i][h]);
            acc16[i][h] = _mm256_add_epi16(acc16[i][h], _mm256_maddubs_epi16(hi[h], xh));
            keep(acc16[i][h]);
          }
        }
        if (High && p == 1) {
          for (int i = 0; i < MR; ++i)
            for (int h = 0; h < NH; ++h) {
              acc32[i][h] = _mm256_madd_epi16(acc16[i][h], ones);
              acc16[i][h] = _mm256_setzero_si256();
            }
        }
      }
      for (int h = 0; h < NH; ++h)
        for (int i = 0; i < MR; ++i) {
          __m256i isum = _mm256_madd_epi16(acc16[i][h], ones);
          if (High) isum = _mm256_add_epi32(isum, acc32[i][h]);
          facc[i][h] =
              _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum),
                              _mm256_mul_ps(s[h], _mm256_set1_ps(xr[i].dx[b])), facc[i][h]);
          facc[i][h] = _mm256_fmadd_ps(m[h], _mm256_set1_ps(xr[i].xs[b]), facc[i][h]);
        }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < NH; ++h) out[i * NH + h] = facc[i][h];
}

// Format-specific pieces for the shared driver.
struct Q8Fmt {
  size_t stride;
  template <int MR, int NH>
  void tile(const XRows* xr, const uint8_t* wg, size_t nb, int h0, __m256* out) const {
    tile_q8<MR, NH>(xr, wg, nb, h0, out);
  }
};
template <bool High>  // kQ4 / kQ5
struct QnFmt {
  size_t stride;
  size_t group;
  template <int MR, int NH>
  void tile(const XRows* xr, const uint8_t* wg, size_t nb, int h0, __m256* out) const {
    tile_qn<MR, NH, High>(xr, wg, nb, group, h0, out);
  }
};

// Lanes [0, cnt) set (cnt <= 8).
inline __m256i lane_mask(size_t cnt) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cnt)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Rows [i0, i0 + MR) x outputs of halves [h0, h0 + NH) of row group g; stores
// only outputs < n (the padding rows of the last group are computed, not stored).
template <int MR, int NH, typename Fmt>
inline void run_tile(const Fmt& f, const QuantizedX& qx, size_t i0, size_t k, const uint8_t* w,
                     size_t n, size_t g, int h0, const float* bias, float* y) {
  const size_t nb = k / 32;
  XRows xr[MR];
  for (int i = 0; i < MR; ++i) {
    const size_t r = i0 + i;
    xr[i] = XRows{qx.q.data() + r * k, qx.dx.data() + r * nb, qx.xsum.data() + r * nb,
                  qx.xs.data() + r * nb};
  }
  __m256 acc[MR * NH];
  f.template tile<MR, NH>(xr, w + g * f.stride, nb, h0, acc);
  for (int h = 0; h < NH; ++h) {
    const size_t j0 = g * 16 + (h0 + h) * 8;
    if (j0 >= n) break;
    const size_t cnt = std::min<size_t>(8, n - j0);
    if (cnt == 8) {
      const __m256 bv = bias ? _mm256_loadu_ps(bias + j0) : _mm256_setzero_ps();
      for (int i = 0; i < MR; ++i) {
        const __m256 v = bias ? _mm256_add_ps(acc[i * NH + h], bv) : acc[i * NH + h];
        _mm256_storeu_ps(y + (i0 + i) * n + j0, v);
      }
    } else {
      const __m256i mask = lane_mask(cnt);
      const __m256 bv = bias ? _mm256_maskload_ps(bias + j0, mask) : _mm256_setzero_ps();
      for (int i = 0; i < MR; ++i) {
        const __m256 v = bias ? _mm256_add_ps(acc[i * NH + h], bv) : acc[i * NH + h];
        _mm256_maskstore_ps(y + (i0 + i) * n + j0, mask, v);
      }
    }
  }
}

// Row groups [g0, g1) of y for all m rows: each W group (<= ~80 KB) stays in
// L2 while the x rows stream past it. Batches go 4 rows x 8 outputs at a time
// (16 ymm: 4 int + 4 f32 accumulators and the operands); single rows take the
// whole group (both halves share the x broadcasts).
template <typename Fmt>
void matmul_groups(const Fmt& f, const QuantizedX& qx, size_t m, size_t k, const uint8_t* w,
                   size_t n, const float* bias, float* y, size_t g0, size_t g1) {
  for (size_t g = g0; g < g1; ++g) {
    const bool upper = g * 16 + 8 < n;  // does half 1 hold any stored output?
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
      run_tile<4, 1>(f, qx, i, k, w, n, g, 0, bias, y);
      if (upper) run_tile<4, 1>(f, qx, i, k, w, n, g, 1, bias, y);
    }
    for (; i < m; ++i) {
      if (upper) {
        run_tile<1, 2>(f, qx, i, k, w, n, g, 0, bias, y);
      } else {
        run_tile<1, 1>(f, qx, i, k, w, n, g, 0, bias, y);
      }
    }
  }
}

template <typename Fmt>
void matmul_quant(const Fmt& f, const float* x, size_t m, size_t k, const void* w, size_t n,
                  const float* bias, float* y, ThreadPool* pool) {
  if (m == 0 || n == 0) return;
  thread_local QuantizedX qx;
  quantize_x_avx2(x, m, k, &qx);
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

void avx2_quant_matmuls(KernelTable* t) {
  t->matmul_q8_0 = matmul_q8_0;
  t->matmul_q4 = matmul_q4;
  t->matmul_q5 = matmul_q5;
}

}  // namespace qs::kernels::cpu
