// AVX-512 matmuls y[m][n] = x[m][k] . W[n][k]^T (+ bias), W in bf16.
//
// Both paths are "dot-product" shaped: every output y[i][j] owns one zmm of 16
// partial sums that walks k in fixed-size chunks (16 f32 lanes for the exact
// path, 32 bf16 pairs for vdpbf16ps), the k tail is one zero-masked chunk, and
// the 16 lanes are folded by reduce4() (a fixed tree whose result for one
// vector never depends on its neighbours). The GEMV (m == 1) and every GEMM
// tile run exactly this sequence per element, so y[i][j] is bitwise the same
// for any m, any row position and any thread split: batch invariance.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "core/aligned_buffer.h"
#include "kernels/cpu/isa_tables.h"

namespace qs::kernels::cpu {
namespace {

// Sums of the 16 lanes of each of a, b, c, d -> [sa, sb, sc, sd].
inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                            _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(1, 0, 1, 0)),
                            _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
  // [a, b, c, d] 128-bit chunks, each 4 partial sums of its vector.
  __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)),
                           _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
  s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(2, 3, 0, 1)));
  s = _mm512_add_ps(s, _mm512_permute_ps(s, _MM_SHUFFLE(1, 0, 3, 2)));
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, s));
}

inline __m512 widen_bf16(__m256i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// Stores MR rows x `nv` (<= 4) columns of sums (+ bias) at y[i*ldy + 0..nv).
template <int MR>
inline void store_tile(const __m128* sums, const float* bias, size_t nv, float* y, size_t ldy) {
  const __mmask8 mask = static_cast<__mmask8>((1u << nv) - 1);
  __m128 b = bias ? _mm_maskz_loadu_ps(mask, bias) : _mm_setzero_ps();
  for (int i = 0; i < MR; ++i) _mm_mask_storeu_ps(y + i * ldy, mask, _mm_add_ps(sums[i], b));
}

// Exact tile: MR x-rows (f32) times 4 W rows over all of k. Pf: prefetch the
// next W rows (GEMV-like calls stream W from DRAM once; GEMM reuses it from L2).
template <int MR, bool Pf>
inline void tile_f32(const float* const* xr, const uint16_t* const* wr, size_t k, __m128* sums) {
  __m512 acc[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_setzero_ps();
  size_t t = 0;
  for (; t + 16 <= k; t += 16) {
    __m512 wv[4];
    for (int j = 0; j < 4; ++j) {
      // The same place in the next 4 rows (W is contiguous): short row streams
      // alone do not keep enough DRAM requests in flight.
      if (Pf) _mm_prefetch(reinterpret_cast<const char*>(wr[j] + t + 4 * k), _MM_HINT_T0);
      wv[j] = widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[j] + t)));
    }
    for (int i = 0; i < MR; ++i) {
      __m512 xv = _mm512_loadu_ps(xr[i] + t);
      for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  if (t < k) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (k - t)) - 1);
    __m512 wv[4];
    for (int j = 0; j < 4; ++j) wv[j] = widen_bf16(_mm256_maskz_loadu_epi16(mask, wr[j] + t));
    for (int i = 0; i < MR; ++i) {
      __m512 xv = _mm512_maskz_loadu_ps(mask, xr[i] + t);
      for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i) sums[i] = reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
}

// For a row starting `mis` bytes into a 64-byte line (mis a multiple of 4):
// the vpermt2d index that takes its 16 dwords from the line `lo` and the next
// line `hi`.
inline __m512i line_shift_index(uintptr_t mis) {
  return _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                          _mm512_set1_epi32(static_cast<int>(mis / 4)));
}

// One GEMV row: 16 partial sums of x . w over k (x bf16, zero-padded to a
// multiple of 32, 64-byte aligned). A safetensors tensor starts wherever the
// JSON header ends (the 0.5B checkpoint here: 56 bytes into a line), so
// unaligned 64-byte loads of w would each touch two cache lines; instead
// each line is loaded once, aligned, and every chunk is assembled from two
// neighbouring lines with one vpermt2d (both lines hold row bytes, so no
// load leaves the row). The chunks, and so the sums, are exactly those of
// unaligned loads. Measured on the 0.5B decode matmul sequence with the
// checkpoint's 56-byte offset: 22.7 -> 19.5 ms per token (best of 4).
inline __m512 gemv_row_bf16(const uint16_t* x, const uint16_t* w, size_t k) {
  __m512 acc = _mm512_setzero_ps();
  size_t t = 0;
  const uintptr_t mis = reinterpret_cast<uintptr_t>(w) & 63;
  if (mis % 4 == 0 && mis != 0 && k >= 32) {  // bf16 tensors sit at least 4-byte aligned
    const auto* line = reinterpret_cast<const __m512i*>(reinterpret_cast<uintptr_t>(w) - mis);
    const __m512i idx = line_shift_index(mis);
    __m512i lo = _mm512_load_si512(line);
    for (; t + 32 <= k; t += 32) {
      const __m512i hi = _mm512_load_si512(++line);
      const __m512i wv = _mm512_permutex2var_epi32(lo, idx, hi);
      lo = hi;
      acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_load_si512(x + t), (__m512bh)wv);
    }
  } else {
    for (; t + 32 <= k; t += 32)
      acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_load_si512(x + t),
                             (__m512bh)_mm512_loadu_si512(w + t));
  }
  if (t < k) {
    const __mmask32 mask = static_cast<__mmask32>((1ull << (k - t)) - 1);
    acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_load_si512(x + t),
                           (__m512bh)_mm512_maskz_loadu_epi16(mask, w + t));
  }
  return acc;
}

// Low-precision tile: x rows already bf16, zero-padded to a multiple of 32.
template <int MR, bool Pf>
inline void tile_bf16(const uint16_t* const* xr, const uint16_t* const* wr, size_t k,
                      __m128* sums) {
  if constexpr (MR == 1 && Pf) {
    // GEMV: the 4 W rows one after the other, so the tile reads one
    // contiguous stream (rows are adjacent in W) that the hardware
    // prefetcher follows on its own; the 4 chains are independent, so
    // out-of-order execution overlaps them. Same per-output arithmetic as
    // below (one accumulator per output, chunks in order, reduce4).
    // Measured on the 0.5B decode matmul sequence (1 GB of distinct
    // weights, 2 threads, best of 4 alternated runs): software prefetch 1 KB
    // ahead made it 18 % slower (22.9 vs 18.7 ms per token), so there is none.
    __m512 a[4];
    for (int j = 0; j < 4; ++j) a[j] = gemv_row_bf16(xr[0], wr[j], k);
    sums[0] = reduce4(a[0], a[1], a[2], a[3]);
    return;
  }
  __m512 acc[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_setzero_ps();
  size_t t = 0;
  const uintptr_t mis = reinterpret_cast<uintptr_t>(wr[0]) & 63;
  if (Pf && mis != 0 && mis % 4 == 0 && (k * 2) % 64 == 0) {
    // Small batches stream W from DRAM like the GEMV: the same aligned-line
    // loads (see gemv_row_bf16), here for 4 rows that share one offset.
    const __m512i idx = line_shift_index(mis);
    const __m512i* line[4];
    __m512i lo[4];
    for (int j = 0; j < 4; ++j) {
      line[j] = reinterpret_cast<const __m512i*>(reinterpret_cast<uintptr_t>(wr[j]) - mis);
      lo[j] = _mm512_load_si512(line[j]);
    }
    for (; t + 32 <= k; t += 32) {
      __m512i wv[4];
      for (int j = 0; j < 4; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(wr[j] + t + 4 * k), _MM_HINT_T0);
        const __m512i hi = _mm512_load_si512(++line[j]);
        wv[j] = _mm512_permutex2var_epi32(lo[j], idx, hi);
        lo[j] = hi;
      }
      for (int i = 0; i < MR; ++i) {
        __m512i xv = _mm512_load_si512(xr[i] + t);
        for (int j = 0; j < 4; ++j)
          acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)xv, (__m512bh)wv[j]);
      }
    }
  }
  for (; t + 32 <= k; t += 32) {
    __m512i wv[4];
    for (int j = 0; j < 4; ++j) {
      if (Pf) _mm_prefetch(reinterpret_cast<const char*>(wr[j] + t + 4 * k), _MM_HINT_T0);
      wv[j] = _mm512_loadu_si512(wr[j] + t);
    }
    for (int i = 0; i < MR; ++i) {
      __m512i xv = _mm512_load_si512(xr[i] + t);
      for (int j = 0; j < 4; ++j)
        acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)xv, (__m512bh)wv[j]);
    }
  }
  if (t < k) {
    const __mmask32 mask = static_cast<__mmask32>((1ull << (k - t)) - 1);
    __m512i wv[4];
    for (int j = 0; j < 4; ++j) wv[j] = _mm512_maskz_loadu_epi16(mask, wr[j] + t);
    for (int i = 0; i < MR; ++i) {
      __m512i xv = _mm512_load_si512(xr[i] + t);
      for (int j = 0; j < 4; ++j)
        acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)xv, (__m512bh)wv[j]);
    }
  }
  for (int i = 0; i < MR; ++i) sums[i] = reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
}

// x element type and row stride (elements) as the tiles see it.
template <typename XT>
struct XView {
  const XT* p;
  size_t ld;
};

template <int MR, bool Pf, typename XT>
inline void run_tile(XView<XT> x, size_t i0, const uint16_t* w, size_t k, size_t n, size_t j0,
                     const float* bias, float* y) {
  const XT* xr[MR];
  for (int i = 0; i < MR; ++i) xr[i] = x.p + (i0 + i) * x.ld;
  // Past-the-end W rows repeat the last row; their sums are computed, not stored.
  const uint16_t* wr[4];
  for (size_t j = 0; j < 4; ++j) wr[j] = w + std::min(j0 + j, n - 1) * k;
  __m128 sums[MR];
  if constexpr (sizeof(XT) == 4) {
    tile_f32<MR, Pf>(xr, wr, k, sums);
  } else {
    tile_bf16<MR, Pf>(xr, wr, k, sums);
  }
  store_tile<MR>(sums, bias ? bias + j0 : nullptr, std::min<size_t>(4, n - j0), y + i0 * n + j0, n);
}

// Columns [c0, c1) of y for all m rows. W is walked in blocks of `nb` rows
// (sized to stay in L2) while all x rows stream past them.
// W rows per L2 block when the x rows are walked past it (m > 5).
inline size_t l2_block_rows(size_t k) {
  return std::max<size_t>(16, (192 * 1024 / (2 * std::max<size_t>(k, 1))) & ~size_t{15});
}

// GEMV (one bf16 x row) with x held in NC zmm registers, k = 32 * NC, W rows
// on 64-byte lines. Columns [c0, c1) in tiles of 4 W rows read one after the
// other: the same per-output arithmetic as tile_bf16<1, true> (one chain per
// output over the chunks in order, reduce4), so the same bits.
// Why: a decode GEMV is bound by how many W lines one core keeps in flight,
// and every load, even of x from L1, holds a load-queue entry until it
// retires behind the oldest W miss. Loading x again for every W line halves
// the W lines in flight. Measured on the 0.5B decode matmul sequence (2
// threads, alternated runs): the k = 896 matrices (79 % of the bytes) with x
// in registers: 18.0 -> 15.1 ms per token, and x not loaded at all (wrong
// sums, the bound) 15.9 ms; software prefetch 1-8 KB ahead changed nothing.
template <int NC>
void gemv_x_in_registers(const uint16_t* x, const uint16_t* w, size_t k, size_t n,
                         const float* bias, float* y, size_t c0, size_t c1) {
  __m512i xv[NC];
  for (int c = 0; c < NC; ++c) xv[c] = _mm512_load_si512(x + 32 * c);
  for (size_t j = c0; j < c1; j += 4) {
    __m512 a[4];
    for (size_t r = 0; r < 4; ++r) {
      // Past-the-end W rows repeat the last row; their sums are not stored.
      const uint16_t* wr = w + std::min(j + r, n - 1) * k;
      __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 32
      for (int c = 0; c < NC; ++c)
        acc = _mm512_dpbf16_ps(acc, (__m512bh)xv[c], (__m512bh)_mm512_load_si512(wr + 32 * c));
      a[r] = acc;
    }
    const __m128 sums = reduce4(a[0], a[1], a[2], a[3]);
    store_tile<1>(&sums, bias ? bias + j : nullptr, std::min<size_t>(4, n - j), y + j, n);
  }
}

// 28 chunks (k = 896, Qwen2.5-0.5B's hidden size) leave 4 zmm for the chain,
// the W line and reduce4.
constexpr size_t kMaxRegisterChunks = 28;
using GemvRegistersFn = void (*)(const uint16_t*, const uint16_t*, size_t, size_t, const float*,
                                 float*, size_t, size_t);
template <size_t... I>
constexpr std::array<GemvRegistersFn, sizeof...(I)> gemv_register_table(std::index_sequence<I...>) {
  return {&gemv_x_in_registers<static_cast<int>(I + 1)>...};
}
constexpr auto kGemvRegisters = gemv_register_table(std::make_index_sequence<kMaxRegisterChunks>());

template <typename XT>
void matmul_cols(XView<XT> x, size_t m, size_t k, const uint16_t* w, size_t n, const float* bias,
                 float* y, size_t c0, size_t c1) {
  if constexpr (sizeof(XT) == 2) {
    if (m == 1 && k >= 32 && k % 32 == 0 && k / 32 <= kMaxRegisterChunks &&
        (reinterpret_cast<uintptr_t>(w) & 63) == 0) {
      kGemvRegisters[k / 32 - 1](x.p, w, k, n, bias, y, c0, c1);
      return;
    }
  }
  size_t nb = m <= 5 ? c1 - c0 : l2_block_rows(k);
  for (size_t b0 = c0; b0 < c1; b0 += nb) {
    const size_t b1 = std::min(c1, b0 + nb);
    size_t i = 0;
    for (; i + 6 <= m; i += 6) {
      // A small batch's first pass over the block reads W from DRAM (later
      // passes find it in L2): prefetch it like the GEMV-like tiles do.
      if (i == 0 && m <= 32) {
        for (size_t j = b0; j < b1; j += 4) run_tile<6, true>(x, i, w, k, n, j, bias, y);
      } else {
        for (size_t j = b0; j < b1; j += 4) run_tile<6, false>(x, i, w, k, n, j, bias, y);
      }
    }
    const size_t rem = m - i;
    // The remainder rows (and m <= 5: decode) stream W once: prefetch it.
    for (size_t j = b0; j < b1; j += 4) {
      if (rem == 1) run_tile<1, true>(x, i, w, k, n, j, bias, y);
      if (rem == 2) run_tile<2, true>(x, i, w, k, n, j, bias, y);
      if (rem == 3) run_tile<3, true>(x, i, w, k, n, j, bias, y);
      if (rem == 4) run_tile<4, true>(x, i, w, k, n, j, bias, y);
      if (rem == 5) run_tile<5, true>(x, i, w, k, n, j, bias, y);
    }
  }
}

template <typename XT>
void matmul_split(XView<XT> x, size_t m, size_t k, const uint16_t* w, size_t n, const float* bias,
                  float* y, ThreadPool* pool) {
  if (m == 0 || n == 0) return;
  if (!pool || pool->num_threads() == 1) {
    matmul_cols(x, m, k, w, n, bias, y, 0, n);
    return;
  }
  // Guided chunks of W rows, multiples of 16 so a chunk never splits a tile
  // (a thread that falls behind never holds up the whole step): long ranges
  // first, 16 rows last, so the threads finish within 16 rows of each other
  // (matmul_cols walks a GEMM's range in L2 blocks). Fixed one-L2-block
  // chunks left the caller waiting up to a block's whole time at the end of
  // every matmul: guided, batch-16 decode 321-327 -> 349-356 tok/s (3
  // alternated pairs), 512-token prefill unchanged. (The INT8 GEMM measured
  // 0-10 % slower guided and keeps its fixed chunks: quant_schedule.cc.)
  auto cols = [&](size_t c0, size_t c1) { matmul_cols(x, m, k, w, n, bias, y, c0, c1); };
  pool->parallel_guided(n, 16, cols);
}

void matmul_bf16(const float* x, size_t m, size_t k, const uint16_t* w, size_t n, const float* bias,
                 float* y, ThreadPool* pool) {
  matmul_split(XView<float>{x, k}, m, k, w, n, bias, y, pool);
}

// x rounded to bf16 (round to nearest even), rows padded with zeros to kp.
void convert_rows_bf16(const float* x, size_t m, size_t k, size_t kp, uint16_t* out) {
  for (size_t i = 0; i < m; ++i) {
    const float* xi = x + i * k;
    uint16_t* oi = out + i * kp;
    for (size_t t = 0; t < kp; t += 32) {
      const size_t r = k > t ? std::min<size_t>(32, k - t) : 0;
      const __mmask16 lo = static_cast<__mmask16>((1u << std::min<size_t>(r, 16)) - 1);
      const __mmask16 hi = static_cast<__mmask16>((1u << (r > 16 ? r - 16 : 0)) - 1);
      __m512 a = _mm512_maskz_loadu_ps(lo, xi + t);
      __m512 b = _mm512_maskz_loadu_ps(hi, xi + t + 16);
      _mm512_store_si512(oi + t, (__m512i)_mm512_cvtne2ps_pbh(b, a));
    }
  }
}

void matmul_bf16_lowp(const float* x, size_t m, size_t k, const uint16_t* w, size_t n,
                      const float* bias, float* y, ThreadPool* pool) {
  if (m == 0 || n == 0) return;
  const size_t kp = (k + 31) / 32 * 32;
  thread_local AlignedVec<uint16_t> xb;
  xb.resize(m * kp + 32);
  uint16_t* const xbp = xb.data();           // (thread_local: workers must use this thread's copy)
  if (pool && m * k >= (size_t{1} << 16)) {  // prefill-sized: split the rounding too
    pool->parallel_chunks(m, 8, [&](size_t r0, size_t r1) {
      convert_rows_bf16(x + r0 * k, r1 - r0, k, kp, xbp + r0 * kp);
    });
  } else {
    convert_rows_bf16(x, m, k, kp, xb.data());
  }
  matmul_split(XView<uint16_t>{xb.data(), kp}, m, k, w, n, bias, y, pool);
}

}  // namespace

void avx512_matmuls(KernelTable* t) {
  t->matmul_bf16 = matmul_bf16;
  t->matmul_bf16_lowp = matmul_bf16_lowp;
}

}  // namespace qs::kernels::cpu
