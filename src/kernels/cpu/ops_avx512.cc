// AVX-512 elementwise ops (rmsnorm, rope, silu_mul, add, embedding, kv_store)
// and the assembly of the avx512 KernelTable.
#include <cmath>

#include "kernels/cpu/isa_tables.h"
#include "kernels/cpu/simd_avx512.h"
#include "kernels/ref/ref_ops.h"

namespace qs::kernels::cpu {
namespace {

void rmsnorm(const float* x, const float* weight, size_t rows, size_t dim, float eps, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    __m512 ss = _mm512_setzero_ps();
    for (size_t i = 0; i < dim; i += 16) {
      __m512 v = _mm512_maskz_loadu_ps(tail_mask16(dim - i), xr + i);
      ss = _mm512_fmadd_ps(v, v, ss);
    }
    float mean = dim ? _mm512_reduce_add_ps(ss) / static_cast<float>(dim) : 0.0f;
    __m512 inv = _mm512_set1_ps(1.0f / std::sqrt(mean + eps));
    for (size_t i = 0; i < dim; i += 16) {
      __mmask16 m = tail_mask16(dim - i);
      __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), inv);
      _mm512_mask_storeu_ps(yr + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, weight + i)));
    }
  }
}

void rope(float* x, size_t rows, size_t row_stride, size_t heads, size_t head_dim,
          const int32_t* positions, const float* inv_freq) {
  const size_t half = head_dim / 2;
  // cos/sin of one row, shared by its heads; same scalar math as the reference.
  alignas(64) float cs[2][512];
  if (half > 512) {
    ref_ops::rope(x, rows, row_stride, heads, head_dim, positions, inv_freq);
    return;
  }
  for (size_t r = 0; r < rows; ++r) {
    const float p = static_cast<float>(positions[r]);
    for (size_t i = 0; i < half; ++i) {
      float angle = p * inv_freq[i];
      cs[0][i] = std::cos(angle);
      cs[1][i] = std::sin(angle);
    }
    for (size_t h = 0; h < heads; ++h) {
      float* xh = x + r * row_stride + h * head_dim;
      for (size_t i = 0; i < half; i += 16) {
        __mmask16 m = tail_mask16(half - i);
        __m512 c = _mm512_maskz_loadu_ps(m, cs[0] + i), s = _mm512_maskz_loadu_ps(m, cs[1] + i);
        __m512 a = _mm512_maskz_loadu_ps(m, xh + i), b = _mm512_maskz_loadu_ps(m, xh + half + i);
        _mm512_mask_storeu_ps(xh + i, m, _mm512_sub_ps(_mm512_mul_ps(a, c), _mm512_mul_ps(b, s)));
        _mm512_mask_storeu_ps(xh + half + i, m,
                              _mm512_add_ps(_mm512_mul_ps(b, c), _mm512_mul_ps(a, s)));
      }
    }
  }
}

void silu_mul(const float* gate, const float* up, float* out, size_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (size_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask16(n - i);
    __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
  }
}

void add(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask16(n - i);
    _mm512_mask_storeu_ps(
        x + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

void embedding_bf16(const uint16_t* table, size_t dim, const int32_t* ids, size_t rows,
                    float* out) {
  for (size_t r = 0; r < rows; ++r) {
    const uint16_t* src = table + static_cast<size_t>(ids[r]) * dim;
    for (size_t i = 0; i < dim; i += 16) {
      __mmask16 m = tail_mask16(dim - i);
      _mm512_mask_storeu_ps(out + r * dim + i, m,
                            widen_bf16_16(_mm256_maskz_loadu_epi16(m, src + i)));
    }
  }
}

// The I8 KV format (kernels.h, PagedKV) of one vector of n floats; bitwise the
// same as ref_ops::quantize_kv (max is exact, the scale and its inverse are
// the same scalar divisions, vcvtps2dq rounds to nearest even as nearbyint).
float quantize_kv(const float* x, size_t n, int8_t* codes) {
  __m512 amax = _mm512_setzero_ps();
  for (size_t i = 0; i < n; i += 16)
    amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_maskz_loadu_ps(tail_mask16(n - i), x + i)));
  const float d = _mm512_reduce_max_ps(amax) / 127.0f;
  const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask16(n - i);
    __m512i c = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), id));
    c = _mm512_min_epi32(_mm512_max_epi32(c, lo), hi);
    _mm_mask_storeu_epi8(codes + i, m, _mm512_cvtepi32_epi8(c));
  }
  return d;
}

void kv_store(const float* k, const float* v, size_t rows, size_t stride, const int64_t* slots,
              const PagedKV& kv) {
  const size_t width = kv.num_kv_heads * kv.head_dim;
  for (size_t r = 0; r < rows; ++r) {
    if (slots[r] < 0) continue;
    const size_t base = static_cast<size_t>(slots[r]) * width;
    const float* src[2] = {k + r * stride, v + r * stride};
    void* dst[2] = {kv.k, kv.v};
    if (kv.dtype == DType::I8) {
      float* scales[2] = {kv.k_scale, kv.v_scale};
      for (int s = 0; s < 2; ++s)
        for (size_t g = 0; g < kv.num_kv_heads; ++g) {
          const size_t off = g * kv.head_dim;
          scales[s][static_cast<size_t>(slots[r]) * kv.num_kv_heads + g] =
              quantize_kv(src[s] + off, kv.head_dim, static_cast<int8_t*>(dst[s]) + base + off);
        }
      continue;
    }
    for (int s = 0; s < 2; ++s) {
      for (size_t i = 0; i < width; i += 16) {
        __mmask16 m = tail_mask16(width - i);
        __m512 val = _mm512_maskz_loadu_ps(m, src[s] + i);
        if (kv.dtype == DType::BF16) {
          _mm256_mask_storeu_epi16(static_cast<uint16_t*>(dst[s]) + base + i, m,
                                   (__m256i)_mm512_cvtneps_pbh(val));
        } else {
          _mm512_mask_storeu_ps(static_cast<float*>(dst[s]) + base + i, m, val);
        }
      }
    }
  }
}

}  // namespace

const KernelTable& avx512_table() {
  static const KernelTable table = [] {
    KernelTable t{};
    t.name = "avx512";
    avx512_matmuls(&t);
    avx512_quant_matmuls(&t);
    avx512_attention(&t);
    t.rmsnorm = rmsnorm;
    t.rope = rope;
    t.silu_mul = silu_mul;
    t.add = add;
    t.embedding_bf16 = embedding_bf16;
    t.kv_store = kv_store;
    return t;
  }();
  return table;
}

}  // namespace qs::kernels::cpu
