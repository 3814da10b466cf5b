// AVX2 causal GQA attention over the paged KV cache, flash-attention style.
// One work item = (query row, kv head): the `group` query heads that share the
// kv head are processed together, so each K and V row is read once per item.
// Positions go in chunks of up to 8: scores of the chunk [group][8], then an
// online-softmax update (running max / denominator / weighted sum per head).
// An I8 cache is dequantized on the fly: codes widened to f32, the K scale
// applied to each score, the V scale folded into the softmax weight.
// Items are dealt round-robin to threads (later rows have longer contexts).
#include <cmath>

#include "kernels/cpu/isa_tables.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/ref/ref_ops.h"

namespace qs::kernels::cpu {
namespace {

constexpr size_t kMaxGroup = 16;  // query heads per kv head
constexpr size_t kChunk = 8;      // positions per softmax update

enum class Elem { kF32, kBf16, kI8 };  // the cache's dtype

// One K or V row as head_dim floats (I8: the codes, scale applied by the caller).
template <size_t NV, Elem E>
inline void load_row(const void* p, __m256* out) {
  for (size_t v = 0; v < NV; ++v) {
    if constexpr (E == Elem::kBf16) {
      out[v] = widen_bf16_8(_mm_loadu_si128(
          reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + 8 * v)));
    } else if constexpr (E == Elem::kI8) {
      out[v] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
          reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(p) + 8 * v))));
    } else {
      out[v] = _mm256_loadu_ps(static_cast<const float*>(p) + 8 * v);
    }
  }
}

// NV = head_dim / 8.
template <size_t NV, Elem E>
void attend_item(const float* q, size_t q_stride, size_t num_heads, const AttnRow& row,
                 const PagedKV& kv, float scale, float* out, size_t r, size_t g) {
  const size_t group = num_heads / kv.num_kv_heads;
  const size_t hd = 8 * NV;
  __m256 qv[kMaxGroup][NV];  // q * scale, [group][head_dim]
  __m256 acc[kMaxGroup][NV];
  float mx[kMaxGroup], l[kMaxGroup];
  alignas(32) float s[kMaxGroup][kChunk];
  for (size_t h = 0; h < group; ++h) {
    const float* qh = q + r * q_stride + (g * group + h) * hd;
    for (size_t v = 0; v < NV; ++v) {
      qv[h][v] = _mm256_mul_ps(_mm256_loadu_ps(qh + 8 * v), _mm256_set1_ps(scale));
      acc[h][v] = _mm256_setzero_ps();
    }
    mx[h] = -INFINITY;
    l[h] = 0.0f;
  }
  const size_t ctx = static_cast<size_t>(row.context_len > 0 ? row.context_len : 0);
  for (size_t p0 = 0; p0 < ctx; p0 += kChunk) {
    const size_t c = ctx - p0 < kChunk ? ctx - p0 : kChunk;
    for (size_t j = 0; j < c; ++j) {
      __m256 kr[NV];
      load_row<NV, E>(ref_ops::kv_row(kv.k, kv, row.block_table, p0 + j, g), kr);
      const float ks =
          E == Elem::kI8 ? ref_ops::kv_scale(kv.k_scale, kv, row.block_table, p0 + j, g) : 1.0f;
      for (size_t h = 0; h < group; ++h) {
        __m256 d = _mm256_mul_ps(qv[h][0], kr[0]);
        for (size_t v = 1; v < NV; ++v) d = _mm256_fmadd_ps(qv[h][v], kr[v], d);
        s[h][j] = E == Elem::kI8 ? hsum256(d) * ks : hsum256(d);
      }
    }
    // Lanes >= c of the chunk are masked: score -inf, weight 0.
    const __m256 valid = _mm256_cmp_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7),
                                       _mm256_set1_ps(static_cast<float>(c)), _CMP_LT_OQ);
    for (size_t h = 0; h < group; ++h) {
      __m256 sv = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_load_ps(s[h]), valid);
      const float new_mx = std::fmax(mx[h], hmax256(sv));
      const float corr = std::exp(mx[h] - new_mx);  // exp(-inf) = 0 on the first chunk
      __m256 pw = _mm256_and_ps(valid, exp256(_mm256_sub_ps(sv, _mm256_set1_ps(new_mx))));
      l[h] = l[h] * corr + hsum256(pw);
      _mm256_store_ps(s[h], pw);
      for (size_t v = 0; v < NV; ++v) acc[h][v] = _mm256_mul_ps(acc[h][v], _mm256_set1_ps(corr));
      mx[h] = new_mx;
    }
    for (size_t j = 0; j < c; ++j) {
      __m256 vr[NV];
      load_row<NV, E>(ref_ops::kv_row(kv.v, kv, row.block_table, p0 + j, g), vr);
      const float vs =
          E == Elem::kI8 ? ref_ops::kv_scale(kv.v_scale, kv, row.block_table, p0 + j, g) : 1.0f;
      for (size_t h = 0; h < group; ++h) {
        __m256 pj = _mm256_set1_ps(E == Elem::kI8 ? s[h][j] * vs : s[h][j]);
        for (size_t v = 0; v < NV; ++v) acc[h][v] = _mm256_fmadd_ps(pj, vr[v], acc[h][v]);
      }
    }
  }
  for (size_t h = 0; h < group; ++h) {
    float* o = out + (r * num_heads + g * group + h) * hd;
    __m256 inv = _mm256_set1_ps(l[h] > 0.0f ? 1.0f / l[h] : 0.0f);
    for (size_t v = 0; v < NV; ++v) _mm256_storeu_ps(o + 8 * v, _mm256_mul_ps(acc[h][v], inv));
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
    case 16:
      return attend_item<16, E>;
    default:
      return nullptr;
  }
}

void attention(const float* q, size_t rows, size_t q_stride, size_t num_heads,
               const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
               ThreadPool* pool) {
  const size_t group = kv.num_kv_heads ? num_heads / kv.num_kv_heads : 0;
  ItemFn fn = nullptr;
  if (kv.head_dim % 8 == 0 && group >= 1 && group <= kMaxGroup) {
    const size_t nv = kv.head_dim / 8;
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

// q' = bf16(q * scale), then the f32 kernel with scale 1.
void attention_lowp(const float* q, size_t rows, size_t q_stride, size_t num_heads,
                    const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
                    ThreadPool* pool) {
  ref_ops::attention_on_rounded_q(attention, q, rows, q_stride, num_heads, row_info, kv, scale, out,
                                  pool);
}

}  // namespace

void avx2_attention(KernelTable* t) {
  t->attention = attention;
  t->attention_lowp = attention_lowp;
}

}  // namespace qs::kernels::cpu
