// AVX2 elementwise ops (rmsnorm, rope, silu_mul, add, embedding, kv_store),
// full 8-lane vectors plus a scalar tail, and the assembly of the avx2 table.
#include <cmath>

#include "kernels/cpu/isa_tables.h"
#include "kernels/cpu/simd_avx2.h"
#include "kernels/ref/ref_ops.h"

namespace qs::kernels::cpu {
namespace {

void rmsnorm(const float* x, const float* weight, size_t rows, size_t dim, float eps, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    __m256 ss = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
      __m256 v = _mm256_loadu_ps(xr + i);
      ss = _mm256_fmadd_ps(v, v, ss);
    }
    float sum = hsum256(ss);
    for (; i < dim; ++i) sum += xr[i] * xr[i];
    float mean = dim ? sum / static_cast<float>(dim) : 0.0f;
    const float inv = 1.0f / std::sqrt(mean + eps);
    const __m256 vinv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= dim; i += 8) {
      __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + i), vinv);
      _mm256_storeu_ps(yr + i, _mm256_mul_ps(v, _mm256_loadu_ps(weight + i)));
    }
    for (; i < dim; ++i) yr[i] = (xr[i] * inv) * weight[i];
  }
}

void rope(float* x, size_t rows, size_t row_stride, size_t heads, size_t head_dim,
          const int32_t* positions, const float* inv_freq) {
  const size_t half = head_dim / 2;
  alignas(32) float cs[2][512];
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
      size_t i = 0;
      for (; i + 8 <= half; i += 8) {
        __m256 c = _mm256_load_ps(cs[0] + i), s = _mm256_load_ps(cs[1] + i);
        __m256 a = _mm256_loadu_ps(xh + i), b = _mm256_loadu_ps(xh + half + i);
        _mm256_storeu_ps(xh + i, _mm256_sub_ps(_mm256_mul_ps(a, c), _mm256_mul_ps(b, s)));
        _mm256_storeu_ps(xh + half + i, _mm256_add_ps(_mm256_mul_ps(b, c), _mm256_mul_ps(a, s)));
      }
      for (; i < half; ++i) {
        float a = xh[i], b = xh[i + half];
        xh[i] = a * cs[0][i] - b * cs[1][i];
        xh[i + half] = b * cs[0][i] + a * cs[1][i];
      }
    }
  }
}

void silu_mul(const float* gate, const float* up, float* out, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_loadu_ps(gate + i);
    __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
    __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void add(float* x, const float* y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) x[i] += y[i];
}

void embedding_bf16(const uint16_t* table, size_t dim, const int32_t* ids, size_t rows,
                    float* out) {
  for (size_t r = 0; r < rows; ++r) {
    const uint16_t* src = table + static_cast<size_t>(ids[r]) * dim;
    float* o = out + r * dim;
    size_t i = 0;
    for (; i + 8 <= dim; i += 8)
      _mm256_storeu_ps(o + i,
                       widen_bf16_8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
    for (; i < dim; ++i) o[i] = bf16_to_f32(src[i]);
  }
}

// The I8 KV format (kernels.h, PagedKV) of one vector of n floats, 8 lanes
// plus a scalar tail; bitwise the same as ref_ops::quantize_kv (max is exact,
// the scale and its inverse are the same scalar divisions, vcvtps2dq rounds
// to nearest even as nearbyint).
float quantize_kv(const float* x, size_t n, int8_t* codes) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 amax8 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    amax8 = _mm256_max_ps(amax8, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  float amax = hmax256(amax8);
  for (; i < n; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float idf = d != 0.0f ? 1.0f / d : 0.0f;
  const __m256 id = _mm256_set1_ps(idf);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  for (i = 0; i + 8 <= n; i += 8) {
    __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), id));
    c = _mm256_min_epi32(_mm256_max_epi32(c, lo), hi);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + i), _mm_packs_epi16(w, w));
  }
  for (; i < n; ++i)
    codes[i] =
        static_cast<int8_t>(std::fmin(127.0f, std::fmax(-127.0f, std::nearbyint(x[i] * idf))));
  return d;
}

void kv_store(const float* k, const float* v, size_t rows, size_t stride, const int64_t* slots,
              const PagedKV& kv) {
  if (kv.dtype == DType::BF16) {  // the bf16 rounding is scalar anyway
    ref_ops::kv_store(k, v, rows, stride, slots, kv);
    return;
  }
  const size_t width = kv.num_kv_heads * kv.head_dim;
  for (size_t r = 0; r < rows; ++r) {
    if (slots[r] < 0) continue;
    const size_t base = static_cast<size_t>(slots[r]) * width;
    if (kv.dtype == DType::I8) {
      for (size_t g = 0; g < kv.num_kv_heads; ++g) {
        const size_t off = g * kv.head_dim,
                     si = static_cast<size_t>(slots[r]) * kv.num_kv_heads + g;
        kv.k_scale[si] =
            quantize_kv(k + r * stride + off, kv.head_dim, static_cast<int8_t*>(kv.k) + base + off);
        kv.v_scale[si] =
            quantize_kv(v + r * stride + off, kv.head_dim, static_cast<int8_t*>(kv.v) + base + off);
      }
      continue;
    }
    float* dk = static_cast<float*>(kv.k) + base;
    float* dv = static_cast<float*>(kv.v) + base;
    size_t i = 0;
    for (; i + 8 <= width; i += 8) {
      _mm256_storeu_ps(dk + i, _mm256_loadu_ps(k + r * stride + i));
      _mm256_storeu_ps(dv + i, _mm256_loadu_ps(v + r * stride + i));
    }
    for (; i < width; ++i) {
      dk[i] = k[r * stride + i];
      dv[i] = v[r * stride + i];
    }
  }
}

}  // namespace

const KernelTable& avx2_table() {
  static const KernelTable table = [] {
    KernelTable t{};
    t.name = "avx2";
    avx2_matmuls(&t);
    avx2_quant_matmuls(&t);
    avx2_attention(&t);
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
