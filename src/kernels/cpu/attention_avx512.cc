// AVX-512 causal GQA attention over the paged KV cache, flash-attention style.
// One work item = (query row, kv head): the `group` query heads that share the
// kv head are processed together, so each K and V row is read once per item.
// Positions go in chunks of up to 16: scores of the chunk [group][16], then an
// online-softmax update (running max / denominator / weighted sum per head).
// An I8 cache is dequantized on the fly: codes widened to f32, the K scale
// applied to each score, the V scale folded into the softmax weight.
// Items are dealt round-robin to threads (later rows have longer contexts).
#include <cmath>

#include "kernels/cpu/isa_tables.h"
#include "kernels/cpu/simd_avx512.h"
#include "kernels/ref/ref_ops.h"

namespace qs::kernels::cpu {
namespace {

constexpr size_t kMaxVec = 16;    // head_dim <= 256
constexpr size_t kMaxGroup = 16;  // query heads per kv head
constexpr size_t kChunk = 16;     // positions per softmax update

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

// Sums of the 16 lanes of each d[j] -> lane j of the result (a transpose
// tree: ~45 shuffles/adds for 16 scores instead of 16 reductions of ~8).
inline __m512 hsum16(const __m512* d) {
  __m512 u[4];
  for (int g = 0; g < 4; ++g) {
    const __m512* e = d + 4 * g;
    // Per 128-bit lane: [e0, e1, e0, e1] and [e2, e3, e2, e3] partial pairs.
    const __m512 t01 =
        _mm512_add_ps(_mm512_unpacklo_ps(e[0], e[1]), _mm512_unpackhi_ps(e[0], e[1]));
    const __m512 t23 =
        _mm512_add_ps(_mm512_unpacklo_ps(e[2], e[3]), _mm512_unpackhi_ps(e[2], e[3]));
    // Per 128-bit lane: the lane's sums of e0, e1, e2, e3.
    u[g] = _mm512_add_ps(_mm512_shuffle_ps(t01, t23, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(t01, t23, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  const __m512 w01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 w23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(w01, w23, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(w01, w23, _MM_SHUFFLE(3, 1, 3, 1)));
}

// NV = head_dim / 16. Per chunk of up to 16 positions: K rows widened once
// into an F32 tile (all `group` heads read it), 16 scores per head summed by
// hsum16 into one vector, the online-softmax update, then the V rows widened
// into the same tile and accumulated head by head. Each (row, head) is
// computed on its own, so a row's result does not depend on the batch around it.
template <size_t NV, Elem E>
void attend_item(const float* q, size_t q_stride, size_t num_heads, const AttnRow& row,
                 const PagedKV& kv, float scale, float* out, size_t r, size_t g) {
  const size_t group = num_heads / kv.num_kv_heads;
  const size_t hd = 16 * NV;
  __m512 qv[kMaxGroup][NV];  // q * scale, [group][head_dim]
  __m512 acc[kMaxGroup][NV];
  float mx[kMaxGroup], l[kMaxGroup];
  alignas(64) float s[kMaxGroup][kChunk];
  alignas(64) float rows[kChunk][16 * NV];  // the chunk's K (then V) rows, F32
  alignas(64) float row_scale[kChunk];      // I8: per-position K (then V) scales
  for (size_t h = 0; h < group; ++h) {
    const float* qh = q + r * q_stride + (g * group + h) * hd;
    for (size_t v = 0; v < NV; ++v) {
      qv[h][v] = _mm512_mul_ps(_mm512_loadu_ps(qh + 16 * v), _mm512_set1_ps(scale));
      acc[h][v] = _mm512_setzero_ps();
    }
    mx[h] = -INFINITY;
    l[h] = 0.0f;
  }
  const size_t ctx = static_cast<size_t>(row.context_len > 0 ? row.context_len : 0);
  for (size_t p0 = 0; p0 < ctx; p0 += kChunk) {
    const size_t c = ctx - p0 < kChunk ? ctx - p0 : kChunk;
    for (size_t j = 0; j < kChunk; ++j) {
      __m512 kr[NV];
      if (j < c) {
        load_row<NV, E>(ref_ops::kv_row(kv.k, kv, row.block_table, p0 + j, g), kr);
        if constexpr (E == Elem::kI8)
          row_scale[j] = ref_ops::kv_scale(kv.k_scale, kv, row.block_table, p0 + j, g);
      } else {
        for (size_t v = 0; v < NV; ++v) kr[v] = _mm512_setzero_ps();
        if constexpr (E == Elem::kI8) row_scale[j] = 0.0f;
      }
      for (size_t v = 0; v < NV; ++v) _mm512_store_ps(rows[j] + 16 * v, kr[v]);
    }
    const __mmask16 cm = tail_mask16(c);
    for (size_t h = 0; h < group; ++h) {
      __m512 d[kChunk];
      for (size_t j = 0; j < kChunk; ++j) {
        d[j] = _mm512_mul_ps(qv[h][0], _mm512_load_ps(rows[j]));
        for (size_t v = 1; v < NV; ++v)
          d[j] = _mm512_fmadd_ps(qv[h][v], _mm512_load_ps(rows[j] + 16 * v), d[j]);
      }
      __m512 sv = hsum16(d);
      if constexpr (E == Elem::kI8) sv = _mm512_mul_ps(sv, _mm512_load_ps(row_scale));
      sv = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), cm, sv);
      const float new_mx = std::fmax(mx[h], _mm512_reduce_max_ps(sv));
      const float corr = std::exp(mx[h] - new_mx);  // exp(-inf) = 0 on the first chunk
      __m512 pw = _mm512_maskz_mov_ps(cm, exp512(_mm512_sub_ps(sv, _mm512_set1_ps(new_mx))));
      l[h] = l[h] * corr + _mm512_reduce_add_ps(pw);
      _mm512_store_ps(s[h], pw);
      for (size_t v = 0; v < NV; ++v) acc[h][v] = _mm512_mul_ps(acc[h][v], _mm512_set1_ps(corr));
      mx[h] = new_mx;
    }
    for (size_t j = 0; j < c; ++j) {
      __m512 vr[NV];
      load_row<NV, E>(ref_ops::kv_row(kv.v, kv, row.block_table, p0 + j, g), vr);
      for (size_t v = 0; v < NV; ++v) _mm512_store_ps(rows[j] + 16 * v, vr[v]);
      if constexpr (E == Elem::kI8)
        row_scale[j] = ref_ops::kv_scale(kv.v_scale, kv, row.block_table, p0 + j, g);
    }
    // Head by head, so one head's accumulators stay in registers over the
    // chunk (all heads' at once spilled on every position).
    for (size_t h = 0; h < group; ++h) {
      __m512 a[NV];
      for (size_t v = 0; v < NV; ++v) a[v] = acc[h][v];
      for (size_t j = 0; j < c; ++j) {
        const __m512 pj = _mm512_set1_ps(E == Elem::kI8 ? s[h][j] * row_scale[j] : s[h][j]);
        for (size_t v = 0; v < NV; ++v)
          a[v] = _mm512_fmadd_ps(pj, _mm512_load_ps(rows[j] + 16 * v), a[v]);
      }
      for (size_t v = 0; v < NV; ++v) acc[h][v] = a[v];
    }
  }
  for (size_t h = 0; h < group; ++h) {
    float* o = out + (r * num_heads + g * group + h) * hd;
    __m512 inv = _mm512_set1_ps(l[h] > 0.0f ? 1.0f / l[h] : 0.0f);
    for (size_t v = 0; v < NV; ++v) _mm512_storeu_ps(o + 16 * v, _mm512_mul_ps(acc[h][v], inv));
  }
}

using ItemFn = void (*)(const float*, size_t, size_t, const AttnRow&, const PagedKV&, float, float*,
                        size_t, size_t);

template <Elem E>
ItemFn pick(size_t nv) {
  switch (nv) {
    case 1:
      return attend_item<1, E>;
    case 2:
      return attend_item<2, E>;
    case 4:
      return attend_item<4, E>;
    case 8:
      return attend_item<8, E>;
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
  const size_t items = rows * kv.num_kv_heads;
  // One item = one (row, KV head): its query heads share each K/V load.
  // Dynamic chunks: causal rows differ in cost and a late thread is not
  // waited for.
  auto work = [&](size_t b, size_t e) {
    for (size_t it = b; it < e; ++it) {
      const size_t r = it / kv.num_kv_heads, g = it % kv.num_kv_heads;
      fn(q, q_stride, num_heads, row_info[r], kv, scale, out, r, g);
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
