// AVX-512 causal GQA attention over the paged KV cache, flash-attention style.
// One work item = (tile of up to 4 query rows of one sequence, kv head): the
// tile's rows and the `group` query heads that share the kv head are
// processed together, so each K and V row is read and widened once per item.
// Positions go in chunks of up to 16: scores of the chunk [row][group][16]
// against the transposed K chunk, then an online-softmax update (running max
// / denominator / weighted sum per row and head).
// An I8 cache is dequantized on the fly: codes widened to f32, the K scale
// applied to each score, the V scale folded into the softmax weight.
// Items are handed out dynamically (later rows have longer contexts).
#include <cmath>
#include <utility>
#include <vector>

#include "kernels/cpu/isa_tables.h"
#include "kernels/cpu/simd_avx512.h"
#include "kernels/ref/ref_ops.h"

namespace qs::kernels::cpu {
namespace {

constexpr size_t kMaxVec = 16;    // head_dim <= 256
constexpr size_t kMaxGroup = 16;  // query heads per kv head
constexpr size_t kChunk = 16;     // positions per softmax update
constexpr size_t kTile = 4;       // query rows of one sequence sharing each K/V chunk

enum class Elem { kF32, kBf16, kI8 };  // the cache's dtype

// One K or V row as head_dim floats (I8: the codes, scale applied by the caller).
template <size_t NV, Elem E>
inline void load_row(const void* p, __m512* out) {
  for (size_t v = 0; v < NV; ++v) {
    if constexpr (E == Elem::kBf16) {
      out[v] = widen_bf16_16(_mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(p) + 16 * v)));
    } else if constexpr (E == Elem::kI8) {
      out[v] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
          reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(p) + 16 * v))));
    } else {
      out[v] = _mm512_loadu_ps(static_cast<const float*>(p) + 16 * v);
    }
  }
}

// In: r[0..15], 16 rows of 16 floats. Out: r[i] = column i (four stages of
// in-lane then cross-lane shuffles, 64 in all).
inline void transpose16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // per lane: a0 b0 a1 b1
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // a2 b2 a3 b3
  }
  // r[4i + k], 128-bit lane L: column 4L + k of rows 4i .. 4i + 3.
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int k = 0; k < 4; ++k) {  // 4 x 4 transpose of 128-bit lanes
    const __m512 u0 = _mm512_shuffle_f32x4(r[k], r[4 + k], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 u1 = _mm512_shuffle_f32x4(r[k], r[4 + k], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512 u2 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512 u3 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], _MM_SHUFFLE(3, 2, 3, 2));
    t[k] = _mm512_shuffle_f32x4(u0, u2, _MM_SHUFFLE(2, 0, 2, 0));
    t[4 + k] = _mm512_shuffle_f32x4(u0, u2, _MM_SHUFFLE(3, 1, 3, 1));
    t[8 + k] = _mm512_shuffle_f32x4(u1, u3, _MM_SHUFFLE(2, 0, 2, 0));
    t[12 + k] = _mm512_shuffle_f32x4(u1, u3, _MM_SHUFFLE(3, 1, 3, 1));
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Query rows r0 .. r0 + R - 1 (R <= kTile, all of one sequence: the same
// block table) x KV head g. NV = head_dim / 16. Per chunk of up to 16
// positions, shared by the tile's R x group query heads:
//   - the K rows widened to F32 and transposed, kt[d] = dimension d of the
//     16 positions, so a head's 16 scores are 4 chains of fmas of broadcast
//     q[d] with kt[d] (no horizontal sums);
//   - per (row, head): masked online-softmax update;
//   - the V rows widened once, accumulated per (row, head).
// A row whose context ends before the chunk skips it; positions past a row's
// context are masked out of its softmax. Every (row, head) therefore runs
// the same operations in the same order whatever the tile holds: a row's
// result does not depend on the rows batched with it (batch invariance).
template <size_t NV, Elem E>
void attend_rows(const float* q, size_t q_stride, size_t num_heads, const AttnRow* info, size_t r0,
                 size_t R, const PagedKV& kv, float scale, float* out, size_t g) {
  constexpr size_t hd = 16 * NV;
  const size_t group = num_heads / kv.num_kv_heads;
  alignas(64) float qs[kTile][kMaxGroup][hd];   // q * scale
  alignas(64) float acc[kTile][kMaxGroup][hd];  // unnormalised outputs
  alignas(64) float pw[kTile][kMaxGroup][kChunk];
  alignas(64) float kt[hd][kChunk];           // the chunk's K, transposed (F32)
  alignas(64) float vt[kChunk][hd];           // the chunk's K (then V) rows (F32)
  alignas(64) float row_scale[kChunk];        // I8: per-position K (then V) scales
  alignas(64) float l[kTile][kMaxGroup][16];  // softmax denominators, per lane
  float mx[kTile][kMaxGroup];
  size_t ctx[kTile], max_ctx = 0;
  const int32_t* table = info[r0].block_table;
  for (size_t i = 0; i < R; ++i) {
    ctx[i] = static_cast<size_t>(info[r0 + i].context_len > 0 ? info[r0 + i].context_len : 0);
    max_ctx = ctx[i] > max_ctx ? ctx[i] : max_ctx;
    for (size_t h = 0; h < group; ++h) {
      const float* qh = q + (r0 + i) * q_stride + (g * group + h) * hd;
      for (size_t v = 0; v < NV; ++v) {
        _mm512_store_ps(qs[i][h] + 16 * v,
                        _mm512_mul_ps(_mm512_loadu_ps(qh + 16 * v), _mm512_set1_ps(scale)));
        _mm512_store_ps(acc[i][h] + 16 * v, _mm512_setzero_ps());
      }
      mx[i][h] = -INFINITY;
      _mm512_store_ps(l[i][h], _mm512_setzero_ps());
    }
  }
  for (size_t p0 = 0; p0 < max_ctx; p0 += kChunk) {
    const size_t cmax = max_ctx - p0 < kChunk ? max_ctx - p0 : kChunk;
    // K rows widened into vt (zeros past the chunk), then transposed into kt.
    for (size_t j = 0; j < kChunk; ++j) {
      __m512 kr[NV];
      if (j < cmax) {
        load_row<NV, E>(ref_ops::kv_row(kv.k, kv, table, p0 + j, g), kr);
      } else {
        for (size_t v = 0; v < NV; ++v) kr[v] = _mm512_setzero_ps();
      }
      for (size_t v = 0; v < NV; ++v) _mm512_store_ps(vt[j] + 16 * v, kr[v]);
    }
    for (size_t v = 0; v < NV; ++v) {
      __m512 t[kChunk];
      for (size_t j = 0; j < kChunk; ++j) t[j] = _mm512_load_ps(vt[j] + 16 * v);
      transpose16(t);
      for (size_t d = 0; d < 16; ++d) _mm512_store_ps(kt[16 * v + d], t[d]);
    }
    if constexpr (E == Elem::kI8) {
      for (size_t j = 0; j < kChunk; ++j)
        row_scale[j] = j < cmax ? ref_ops::kv_scale(kv.k_scale, kv, table, p0 + j, g) : 0.0f;
    }
    for (size_t i = 0; i < R; ++i) {
      if (ctx[i] <= p0) continue;
      const size_t c = ctx[i] - p0 < kChunk ? ctx[i] - p0 : kChunk;
      const __mmask16 cm = tail_mask16(c);
      for (size_t h = 0; h < group; ++h) {
        const float* qh = qs[i][h];
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (size_t d = 0; d < hd; d += 4) {
          s0 = _mm512_fmadd_ps(_mm512_set1_ps(qh[d]), _mm512_load_ps(kt[d]), s0);
          s1 = _mm512_fmadd_ps(_mm512_set1_ps(qh[d + 1]), _mm512_load_ps(kt[d + 1]), s1);
          s2 = _mm512_fmadd_ps(_mm512_set1_ps(qh[d + 2]), _mm512_load_ps(kt[d + 2]), s2);
          s3 = _mm512_fmadd_ps(_mm512_set1_ps(qh[d + 3]), _mm512_load_ps(kt[d + 3]), s3);
        }
        __m512 sv = _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
        if constexpr (E == Elem::kI8) sv = _mm512_mul_ps(sv, _mm512_load_ps(row_scale));
        sv = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), cm, sv);
        const float new_mx = std::fmax(mx[i][h], _mm512_reduce_max_ps(sv));
        const __m512 p = _mm512_maskz_mov_ps(cm, exp512(_mm512_sub_ps(sv, _mm512_set1_ps(new_mx))));
        _mm512_store_ps(pw[i][h], p);
        // The denominator as 16 lane sums (reduced once at the end). When the
        // running max did not move (most chunks once it settles), the
        // rescale by exp(0) = 1 is skipped: the same values either way.
        __m512 lv = _mm512_load_ps(l[i][h]);
        if (new_mx != mx[i][h]) {
          const float corr = std::exp(mx[i][h] - new_mx);  // exp(-inf) = 0 on the first chunk
          const __m512 cv = _mm512_set1_ps(corr);
          lv = _mm512_mul_ps(lv, cv);
          for (size_t v = 0; v < NV; ++v)
            _mm512_store_ps(acc[i][h] + 16 * v,
                            _mm512_mul_ps(_mm512_load_ps(acc[i][h] + 16 * v), cv));
          mx[i][h] = new_mx;
        }
        _mm512_store_ps(l[i][h], _mm512_add_ps(lv, p));
      }
    }
    for (size_t j = 0; j < cmax; ++j) {
      __m512 vr[NV];
      load_row<NV, E>(ref_ops::kv_row(kv.v, kv, table, p0 + j, g), vr);
      for (size_t v = 0; v < NV; ++v) _mm512_store_ps(vt[j] + 16 * v, vr[v]);
      if constexpr (E == Elem::kI8)
        row_scale[j] = ref_ops::kv_scale(kv.v_scale, kv, table, p0 + j, g);
    }
    // Head by head, so one (row, head)'s accumulators stay in registers
    // over the chunk.
    for (size_t i = 0; i < R; ++i) {
      if (ctx[i] <= p0) continue;
      const size_t c = ctx[i] - p0 < kChunk ? ctx[i] - p0 : kChunk;
      for (size_t h = 0; h < group; ++h) {
        __m512 a[NV];
        for (size_t v = 0; v < NV; ++v) a[v] = _mm512_load_ps(acc[i][h] + 16 * v);
        for (size_t j = 0; j < c; ++j) {
          const __m512 pj =
              _mm512_set1_ps(E == Elem::kI8 ? pw[i][h][j] * row_scale[j] : pw[i][h][j]);
          for (size_t v = 0; v < NV; ++v)
            a[v] = _mm512_fmadd_ps(pj, _mm512_load_ps(vt[j] + 16 * v), a[v]);
        }
        for (size_t v = 0; v < NV; ++v) _mm512_store_ps(acc[i][h] + 16 * v, a[v]);
      }
    }
  }
  for (size_t i = 0; i < R; ++i)
    for (size_t h = 0; h < group; ++h) {
      float* o = out + ((r0 + i) * num_heads + g * group + h) * hd;
      const float sum = _mm512_reduce_add_ps(_mm512_load_ps(l[i][h]));
      const __m512 inv = _mm512_set1_ps(sum > 0.0f ? 1.0f / sum : 0.0f);
      for (size_t v = 0; v < NV; ++v)
        _mm512_storeu_ps(o + 16 * v, _mm512_mul_ps(_mm512_load_ps(acc[i][h] + 16 * v), inv));
    }
}

using ItemFn = void (*)(const float*, size_t, size_t, const AttnRow*, size_t, size_t,
                        const PagedKV&, float, float*, size_t);

template <Elem E>
ItemFn pick(size_t nv) {
  switch (nv) {
    case 1:
      return attend_rows<1, E>;
    case 2:
      return attend_rows<2, E>;
    case 4:
      return attend_rows<4, E>;
    case 8:
      return attend_rows<8, E>;
    default:
      return nullptr;
  }
}

void attention(const float* q, size_t rows, size_t q_stride, size_t num_heads,
               const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
               ThreadPool* pool) {
  const size_t group = kv.num_kv_heads ? num_heads / kv.num_kv_heads : 0;
  ItemFn fn = nullptr;
  if (kv.head_dim % 16 == 0 && group >= 1 && group <= kMaxGroup) {
    const size_t nv = kv.head_dim / 16;
    switch (kv.dtype) {
      case DType::BF16:
        fn = pick<Elem::kBf16>(nv);
        break;
      case DType::I8:
        fn = pick<Elem::kI8>(nv);
        break;
      default:
        fn = pick<Elem::kF32>(nv);
    }
  }
  if (fn == nullptr) {  // a shape we do not vectorise
    ref_ops::attention(q, rows, q_stride, num_heads, row_info, kv, scale, out, pool);
    return;
  }
  // Tiles of up to kTile consecutive rows of one sequence (prefill rows
  // share every K/V chunk); decode rows of different sequences are tiles of 1.
  thread_local std::vector<std::pair<size_t, size_t>> tiles;  // (first row, rows)
  tiles.clear();
  for (size_t r = 0; r < rows;) {
    size_t n = 1;
    while (n < kTile && r + n < rows && row_info[r + n].block_table == row_info[r].block_table) ++n;
    tiles.emplace_back(r, n);
    r += n;
  }
  // One item = (tile, KV head). Dynamic chunks: causal rows differ in cost
  // and a late thread is not waited for.
  const size_t items = tiles.size() * kv.num_kv_heads;
  const auto* tp = tiles.data();
  auto work = [&](size_t b, size_t e) {
    for (size_t it = b; it < e; ++it) {
      const auto& [r0, n] = tp[it / kv.num_kv_heads];
      fn(q, q_stride, num_heads, row_info, r0, n, kv, scale, out, it % kv.num_kv_heads);
    }
  };
  if (pool && pool->num_threads() > 1 && items > 1) {
    pool->parallel_chunks(items, 1, work);
  } else {
    work(0, items);
  }
}

}  // namespace

void avx512_attention(KernelTable* t) { t->attention = attention; }

}  // namespace qs::kernels::cpu
