// AVX-512 causal GQA attention over the paged KV cache, flash-attention style.
// One work item = (tile of up to 16 query rows of one sequence, kv head): the
// tile's rows and the `group` query heads that share the kv head are
// processed together, so each K and V row is read and widened once per item.
// Positions go in chunks of up to 16: scores of the chunk [row][group][16]
// against the transposed K chunk, then an online-softmax update (running max
// / denominator / weighted sum per row and head).
// An I8 cache is dequantized on the fly: codes widened to f32, the K scale
// applied to each score, the V scale folded into the softmax weight.
// attention_lowp with a BF16 cache (head_dim % 32 == 0): q * scale rounded to
// bf16 once per item, the K chunk transposed as bf16 pairs (dimensions d,
// d + 1 of 16 positions per register, not widened), and each head's 16
// scores are vdpbf16ps of a broadcast q pair with those: half the
// instructions of the f32 fmas and half the transposition. The values
// (p * V) stay f32.
// Items are handed out dynamically (later rows have longer contexts).
#include <cmath>
#include <cstring>
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
// Query rows of one sequence sharing each K/V chunk: the chunk's widening and
// transposition are paid once per tile (kernels_bench, 2048-token causal
// prefill: 4 rows ~190, 8 rows ~205, 16 rows ~217 GFLOP/s).
constexpr size_t kTile = 16;

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
//     16 positions, so a head's 16 scores are 2 chains of fmas of broadcast
//     q[d] with kt[d] (no horizontal sums), 4 heads interleaved;
//   - per (row, head): masked online-softmax update;
//   - the V rows widened once, accumulated per (row, head), each V row
//     loaded once for 4 (head_dim 128: 2) heads.
// A row whose context ends before the chunk skips it; positions past a row's
// context are masked out of its softmax. Every (row, head) therefore runs
// the same operations in the same order whatever the tile holds: a row's
// result does not depend on the rows batched with it (batch invariance).
// Working arrays of one (tile, kv head) item.
template <size_t NV>
struct TileState {
  static constexpr size_t hd = 16 * NV;
  alignas(64) float qs[kTile][kMaxGroup][hd];   // q * scale (F32 scores only)
  alignas(64) float acc[kTile][kMaxGroup][hd];  // unnormalised outputs
  alignas(64) float pw[kTile][kMaxGroup][kChunk];
  alignas(64) float l[kTile][kMaxGroup][16];  // softmax denominators, per lane
  alignas(64) float kt[hd][kChunk];           // the chunk's K, transposed (F32)
  alignas(64) float vt[kChunk][hd];           // the chunk's K (then V) rows (F32)
  alignas(64) float row_scale[kChunk];        // I8: per-position K (then V) scales
  float mx[kTile][kMaxGroup];
  // Lowp only: bf16(q * scale), and the K chunk as bf16 pairs: kt2[p][j] =
  // dimensions 2p, 2p + 1 of position j (raw: the rows as loaded).
  alignas(64) uint16_t q2[kTile][kMaxGroup][hd];
  alignas(64) uint32_t kt2[hd / 2][kChunk];
  alignas(64) uint32_t raw[kChunk][hd / 2];
};

// Row i, heads h0 .. h0 + HB - 1, one chunk: scores (2 fma chains per head
// over the dimensions; the HB heads interleaved so their chains overlap),
// then the online-softmax update of each head. A head's arithmetic does not
// depend on HB.
template <size_t NV, Elem E, bool Lowp, int HB>
inline void scores_softmax(TileState<NV>& st, size_t i, size_t h0, __mmask16 cm) {
  constexpr size_t hd = 16 * NV;
  __m512 s0[HB], s1[HB];
  for (int b = 0; b < HB; ++b) s0[b] = s1[b] = _mm512_setzero_ps();
  if constexpr (Lowp) {  // pairs p, p + 1 of dimensions: (2p, 2p + 1), (2p + 2, 2p + 3)
    for (size_t p = 0; p < hd / 2; p += 2) {
      const __m512i k0 = _mm512_load_si512(st.kt2[p]), k1 = _mm512_load_si512(st.kt2[p + 1]);
      for (int b = 0; b < HB; ++b) {
        uint32_t q0, q1;
        std::memcpy(&q0, st.q2[i][h0 + b] + 2 * p, 4);
        std::memcpy(&q1, st.q2[i][h0 + b] + 2 * p + 2, 4);
        s0[b] = _mm512_dpbf16_ps(s0[b], (__m512bh)_mm512_set1_epi32(static_cast<int>(q0)),
                                 (__m512bh)k0);
        s1[b] = _mm512_dpbf16_ps(s1[b], (__m512bh)_mm512_set1_epi32(static_cast<int>(q1)),
                                 (__m512bh)k1);
      }
    }
  } else {
    for (size_t d = 0; d < hd; d += 2) {
      const __m512 k0 = _mm512_load_ps(st.kt[d]), k1 = _mm512_load_ps(st.kt[d + 1]);
      for (int b = 0; b < HB; ++b) {
        s0[b] = _mm512_fmadd_ps(_mm512_set1_ps(st.qs[i][h0 + b][d]), k0, s0[b]);
        s1[b] = _mm512_fmadd_ps(_mm512_set1_ps(st.qs[i][h0 + b][d + 1]), k1, s1[b]);
      }
    }
  }
  for (int b = 0; b < HB; ++b) {
    const size_t h = h0 + b;
    __m512 sv = _mm512_add_ps(s0[b], s1[b]);
    if constexpr (E == Elem::kI8) sv = _mm512_mul_ps(sv, _mm512_load_ps(st.row_scale));
    sv = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), cm, sv);
    const float new_mx = std::fmax(st.mx[i][h], _mm512_reduce_max_ps(sv));
    const __m512 p = _mm512_maskz_mov_ps(cm, exp512(_mm512_sub_ps(sv, _mm512_set1_ps(new_mx))));
    _mm512_store_ps(st.pw[i][h], p);
    // When the running max did not move (most chunks once it settles), the
    // rescale by exp(0) = 1 is skipped: the same values either way.
    __m512 lv = _mm512_load_ps(st.l[i][h]);
    if (new_mx != st.mx[i][h]) {
      const __m512 cv = _mm512_set1_ps(std::exp(st.mx[i][h] - new_mx));  // 0 on the first chunk
      lv = _mm512_mul_ps(lv, cv);
      for (size_t v = 0; v < NV; ++v)
        _mm512_store_ps(st.acc[i][h] + 16 * v,
                        _mm512_mul_ps(_mm512_load_ps(st.acc[i][h] + 16 * v), cv));
      st.mx[i][h] = new_mx;
    }
    _mm512_store_ps(st.l[i][h], _mm512_add_ps(lv, p));
  }
}

// Row i, heads h0 .. h0 + HB - 1: acc += p_j * V_j over the chunk's first c
// positions, in order; each V row loaded once for the HB heads.
template <size_t NV, Elem E, int HB>
inline void accumulate_v(TileState<NV>& st, size_t i, size_t h0, size_t c) {
  __m512 a[HB][NV];
  for (int b = 0; b < HB; ++b)
    for (size_t v = 0; v < NV; ++v) a[b][v] = _mm512_load_ps(st.acc[i][h0 + b] + 16 * v);
  for (size_t j = 0; j < c; ++j) {
    __m512 vr[NV];
    for (size_t v = 0; v < NV; ++v) vr[v] = _mm512_load_ps(st.vt[j] + 16 * v);
    for (int b = 0; b < HB; ++b) {
      const float w = st.pw[i][h0 + b][j];
      const __m512 pj = _mm512_set1_ps(E == Elem::kI8 ? w * st.row_scale[j] : w);
      for (size_t v = 0; v < NV; ++v) a[b][v] = _mm512_fmadd_ps(pj, vr[v], a[b][v]);
    }
  }
  for (int b = 0; b < HB; ++b)
    for (size_t v = 0; v < NV; ++v) _mm512_store_ps(st.acc[i][h0 + b] + 16 * v, a[b][v]);
}

// Heads [0, group) of row i in blocks of up to HB: F<HB>(h0) for full blocks,
// then one smaller block for the rest.
template <int HB, typename F>
inline void for_head_blocks(size_t group, F&& f) {
  size_t h = 0;
  for (; h + HB <= group; h += HB) f.template operator()<HB>(h);
  switch (group - h) {
    case 3:
      if constexpr (HB > 3) f.template operator()<3>(h);
      break;
    case 2:
      if constexpr (HB > 2) f.template operator()<2>(h);
      break;
    case 1:
      if constexpr (HB > 1) f.template operator()<1>(h);
      break;
    default:
      break;
  }
}

template <size_t NV, Elem E, bool Lowp = false>
void attend_rows(const float* q, size_t q_stride, size_t num_heads, const AttnRow* info, size_t r0,
                 size_t R, const PagedKV& kv, float scale, float* out, size_t g) {
  static_assert(!Lowp || (E == Elem::kBf16 && NV % 2 == 0), "lowp: BF16 cache, head_dim % 32");
  constexpr size_t hd = 16 * NV;
  constexpr int kScoreHeads = 4, kValueHeads = NV >= 8 ? 2 : 4;  // register budgets
  const size_t group = num_heads / kv.num_kv_heads;
  // On the stack: ~204 KB at head_dim 64, ~376 KB at 128 (kTile x kMaxGroup
  // heads; thread_local would give every thread of the process a copy).
  TileState<NV> st;
  size_t ctx[kTile], max_ctx = 0;
  const int32_t* table = info[r0].block_table;
  for (size_t i = 0; i < R; ++i) {
    ctx[i] = static_cast<size_t>(info[r0 + i].context_len > 0 ? info[r0 + i].context_len : 0);
    max_ctx = ctx[i] > max_ctx ? ctx[i] : max_ctx;
    for (size_t h = 0; h < group; ++h) {
      const float* qh = q + (r0 + i) * q_stride + (g * group + h) * hd;
      for (size_t v = 0; v < NV; ++v) {
        const __m512 qv = _mm512_mul_ps(_mm512_loadu_ps(qh + 16 * v), _mm512_set1_ps(scale));
        if constexpr (Lowp)
          _mm256_store_si256(reinterpret_cast<__m256i*>(st.q2[i][h] + 16 * v),
                             (__m256i)_mm512_cvtneps_pbh(qv));
        else
          _mm512_store_ps(st.qs[i][h] + 16 * v, qv);
        _mm512_store_ps(st.acc[i][h] + 16 * v, _mm512_setzero_ps());
      }
      st.mx[i][h] = -INFINITY;
      _mm512_store_ps(st.l[i][h], _mm512_setzero_ps());
    }
  }
  for (size_t p0 = 0; p0 < max_ctx; p0 += kChunk) {
    const size_t cmax = max_ctx - p0 < kChunk ? max_ctx - p0 : kChunk;
    if constexpr (Lowp) {
      // K rows as loaded (zeros past the chunk), transposed as 32-bit pairs.
      for (size_t j = 0; j < kChunk; ++j)
        for (size_t v = 0; v < NV / 2; ++v)
          _mm512_store_si512(st.raw[j] + 16 * v,
                             j < cmax
                                 ? _mm512_loadu_si512(static_cast<const uint32_t*>(ref_ops::kv_row(
                                                          kv.k, kv, table, p0 + j, g)) +
                                                      16 * v)
                                 : _mm512_setzero_si512());
      for (size_t v = 0; v < NV / 2; ++v) {
        __m512 t[kChunk];
        for (size_t j = 0; j < kChunk; ++j)
          t[j] = _mm512_castsi512_ps(_mm512_load_si512(st.raw[j] + 16 * v));
        transpose16(t);
        for (size_t d = 0; d < 16; ++d)
          _mm512_store_si512(st.kt2[16 * v + d], _mm512_castps_si512(t[d]));
      }
    }
    // K rows widened into vt (zeros past the chunk), then transposed into kt.
    for (size_t j = 0; j < kChunk && !Lowp; ++j) {
      __m512 kr[NV];
      if (j < cmax) {
        load_row<NV, E>(ref_ops::kv_row(kv.k, kv, table, p0 + j, g), kr);
      } else {
        for (size_t v = 0; v < NV; ++v) kr[v] = _mm512_setzero_ps();
      }
      for (size_t v = 0; v < NV; ++v) _mm512_store_ps(st.vt[j] + 16 * v, kr[v]);
    }
    for (size_t v = 0; v < NV && !Lowp; ++v) {
      __m512 t[kChunk];
      for (size_t j = 0; j < kChunk; ++j) t[j] = _mm512_load_ps(st.vt[j] + 16 * v);
      transpose16(t);
      for (size_t d = 0; d < 16; ++d) _mm512_store_ps(st.kt[16 * v + d], t[d]);
    }
    if constexpr (E == Elem::kI8) {
      for (size_t j = 0; j < kChunk; ++j)
        st.row_scale[j] = j < cmax ? ref_ops::kv_scale(kv.k_scale, kv, table, p0 + j, g) : 0.0f;
    }
    for (size_t i = 0; i < R; ++i) {
      if (ctx[i] <= p0) continue;
      const __mmask16 cm = tail_mask16(ctx[i] - p0 < kChunk ? ctx[i] - p0 : kChunk);
      for_head_blocks<kScoreHeads>(
          group, [&]<int HB>(size_t h0) { scores_softmax<NV, E, Lowp, HB>(st, i, h0, cm); });
    }
    for (size_t j = 0; j < cmax; ++j) {
      __m512 vr[NV];
      load_row<NV, E>(ref_ops::kv_row(kv.v, kv, table, p0 + j, g), vr);
      for (size_t v = 0; v < NV; ++v) _mm512_store_ps(st.vt[j] + 16 * v, vr[v]);
      if constexpr (E == Elem::kI8)
        st.row_scale[j] = ref_ops::kv_scale(kv.v_scale, kv, table, p0 + j, g);
    }
    for (size_t i = 0; i < R; ++i) {
      if (ctx[i] <= p0) continue;
      const size_t c = ctx[i] - p0 < kChunk ? ctx[i] - p0 : kChunk;
      for_head_blocks<kValueHeads>(
          group, [&]<int HB>(size_t h0) { accumulate_v<NV, E, HB>(st, i, h0, c); });
    }
  }
  for (size_t i = 0; i < R; ++i)
    for (size_t h = 0; h < group; ++h) {
      float* o = out + ((r0 + i) * num_heads + g * group + h) * hd;
      const float sum = _mm512_reduce_add_ps(_mm512_load_ps(st.l[i][h]));
      const __m512 inv = _mm512_set1_ps(sum > 0.0f ? 1.0f / sum : 0.0f);
      for (size_t v = 0; v < NV; ++v)
        _mm512_storeu_ps(o + 16 * v, _mm512_mul_ps(_mm512_load_ps(st.acc[i][h] + 16 * v), inv));
    }
}

using ItemFn = void (*)(const float*, size_t, size_t, const AttnRow*, size_t, size_t,
                        const PagedKV&, float, float*, size_t);

template <Elem E, bool Lowp = false>
ItemFn pick(size_t nv) {
  switch (nv) {
    case 1:
      if constexpr (!Lowp) return attend_rows<1, E>;
      return nullptr;
    case 2:
      return attend_rows<2, E, Lowp>;
    case 4:
      return attend_rows<4, E, Lowp>;
    case 8:
      return attend_rows<8, E, Lowp>;
    default:
      return nullptr;
  }
}

// Every (tile, kv head) item of the batch through fn, over the pool.
void run_items(ItemFn fn, const float* q, size_t rows, size_t q_stride, size_t num_heads,
               const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
               ThreadPool* pool) {
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
  run_items(fn, q, rows, q_stride, num_heads, row_info, kv, scale, out, pool);
}

// BF16 cache, head_dim % 32 == 0: the vdpbf16ps scores. Otherwise q' =
// bf16(q * scale) and the f32 kernel with scale 1 (the same definition).
void attention_lowp(const float* q, size_t rows, size_t q_stride, size_t num_heads,
                    const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
                    ThreadPool* pool) {
  const size_t group = kv.num_kv_heads ? num_heads / kv.num_kv_heads : 0;
  if (kv.dtype == DType::BF16 && kv.head_dim % 32 == 0 && group >= 1 && group <= kMaxGroup) {
    if (ItemFn fn = pick<Elem::kBf16, true>(kv.head_dim / 16)) {
      run_items(fn, q, rows, q_stride, num_heads, row_info, kv, scale, out, pool);
      return;
    }
  }
  ref_ops::attention_on_rounded_q(attention, q, rows, q_stride, num_heads, row_info, kv, scale, out,
                                  pool);
}

}  // namespace

void avx512_attention(KernelTable* t) {
  t->attention = attention;
  t->attention_lowp = attention_lowp;
}

}  // namespace qs::kernels::cpu
