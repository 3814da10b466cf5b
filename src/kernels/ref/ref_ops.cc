// Scalar reference kernels: plain loops that follow Hugging Face's Qwen2 math.
#include "kernels/ref/ref_ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace qs::kernels::ref_ops {

namespace {

// Shared body of both matmuls; Lowp rounds x to bf16 first. Columns are split
// over the pool; each y[i][j] is one sequential f32 sum over k (invariant).
template <bool Lowp>
void matmul_impl(const float* x, size_t m, size_t k, const uint16_t* w, size_t n, const float* bias,
                 float* y, ThreadPool* pool) {
  auto body = [&](size_t j0, size_t j1) {
    for (size_t i = 0; i < m; ++i) {
      const float* xi = x + i * k;
      for (size_t j = j0; j < j1; ++j) {
        const uint16_t* wj = w + j * k;
        float acc = 0.0f;
        for (size_t t = 0; t < k; ++t) {
          float xv = Lowp ? bf16_to_f32(f32_to_bf16(xi[t])) : xi[t];
          acc += xv * bf16_to_f32(wj[t]);
        }
        y[i * n + j] = acc + (bias ? bias[j] : 0.0f);
      }
    }
  };
  if (pool && pool->num_threads() > 1) {
    pool->parallel_for(n, 16, body);
  } else {
    body(0, n);
  }
}

}  // namespace

void matmul_bf16(const float* x, size_t m, size_t k, const uint16_t* w, size_t n, const float* bias,
                 float* y, ThreadPool* pool) {
  matmul_impl<false>(x, m, k, w, n, bias, y, pool);
}

void matmul_bf16_lowp(const float* x, size_t m, size_t k, const uint16_t* w, size_t n,
                      const float* bias, float* y, ThreadPool* pool) {
  matmul_impl<true>(x, m, k, w, n, bias, y, pool);
}

void rmsnorm(const float* x, const float* weight, size_t rows, size_t dim, float eps, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double ss = 0.0;  // the spec: the mean of squares without rounding noise
    for (size_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    float mean = dim ? static_cast<float>(ss / static_cast<double>(dim)) : 0.0f;
    float inv = 1.0f / std::sqrt(mean + eps);
    for (size_t i = 0; i < dim; ++i) yr[i] = (xr[i] * inv) * weight[i];
  }
}

void rope(float* x, size_t rows, size_t row_stride, size_t heads, size_t head_dim,
          const int32_t* positions, const float* inv_freq) {
  size_t half = head_dim / 2;
  for (size_t r = 0; r < rows; ++r) {
    float p = static_cast<float>(positions[r]);
    for (size_t i = 0; i < half; ++i) {
      float angle = p * inv_freq[i];  // f32, as HF computes position * inv_freq
      float c = std::cos(angle), s = std::sin(angle);
      for (size_t h = 0; h < heads; ++h) {
        float* xh = x + r * row_stride + h * head_dim;
        float a = xh[i], b = xh[i + half];
        xh[i] = a * c - b * s;
        xh[i + half] = b * c + a * s;
      }
    }
  }
}

void silu_mul(const float* gate, const float* up, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

void embedding_bf16(const uint16_t* table, size_t dim, const int32_t* ids, size_t rows,
                    float* out) {
  for (size_t r = 0; r < rows; ++r) {
    const uint16_t* src = table + static_cast<size_t>(ids[r]) * dim;
    for (size_t i = 0; i < dim; ++i) out[r * dim + i] = bf16_to_f32(src[i]);
  }
}

namespace {
inline float load_elem(const void* p, DType t, size_t i) {
  switch (t) {
    case DType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::I8:
      return static_cast<float>(static_cast<const int8_t*>(p)[i]);  // the code; scale applied apart
    default:
      return static_cast<const float*>(p)[i];
  }
}
}  // namespace

float quantize_kv(const float* x, size_t n, int8_t* codes) {
  float amax = 0.0f;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float c = std::min(127.0f, std::max(-127.0f, std::nearbyint(x[i] * id)));
    codes[i] = static_cast<int8_t>(c);
  }
  return d;
}

// One (row, query head) at a time, one position at a time: the textbook online
// softmax (running max m, running denominator l, running weighted sum acc).
// I8: s = (sum_i q_i c_i) * scale_k * scale, and V enters as (pw * scale_v) * c_i.
void attention(const float* q, size_t rows, size_t q_stride, size_t num_heads,
               const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
               ThreadPool* pool) {
  const size_t hd = kv.head_dim;
  const size_t group = num_heads / kv.num_kv_heads;
  const bool i8 = kv.dtype == DType::I8;
  std::vector<float> acc(hd);
  for (size_t r = 0; r < rows; ++r) {
    const int32_t* table = row_info[r].block_table;
    for (size_t h = 0; h < num_heads; ++h) {
      const float* qh = q + r * q_stride + h * hd;
      const size_t g = h / group;
      float mx = -INFINITY, l = 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int32_t p = 0; p < row_info[r].context_len; ++p) {
        const void* kp = kv_row(kv.k, kv, table, p, g);
        const void* vp = kv_row(kv.v, kv, table, p, g);
        float s = 0.0f;
        for (size_t i = 0; i < hd; ++i) s += qh[i] * load_elem(kp, kv.dtype, i);
        if (i8) s *= kv_scale(kv.k_scale, kv, table, p, g);
        s *= scale;
        float new_mx = std::max(mx, s);
        float corr = std::exp(mx - new_mx);  // 0 on the first position
        float pw = std::exp(s - new_mx);
        l = l * corr + pw;
        const float pv = i8 ? pw * kv_scale(kv.v_scale, kv, table, p, g) : pw;
        for (size_t i = 0; i < hd; ++i) acc[i] = acc[i] * corr + pv * load_elem(vp, kv.dtype, i);
        mx = new_mx;
      }
      float* o = out + (r * num_heads + h) * hd;
      float inv = l > 0.0f ? 1.0f / l : 0.0f;
      for (size_t i = 0; i < hd; ++i) o[i] = acc[i] * inv;
    }
  }
}

void round_scaled_q(const float* q, size_t rows, size_t q_stride, size_t width, float scale,
                    std::vector<float>* out) {
  out->resize(rows * width);
  for (size_t r = 0; r < rows; ++r)
    for (size_t i = 0; i < width; ++i)
      (*out)[r * width + i] = bf16_to_f32(f32_to_bf16(q[r * q_stride + i] * scale));
}

void attention_on_rounded_q(AttentionFn exact, const float* q, size_t rows, size_t q_stride,
                            size_t num_heads, const AttnRow* row_info, const PagedKV& kv,
                            float scale, float* out, ThreadPool* pool) {
  thread_local std::vector<float> rounded;
  const size_t width = num_heads * kv.head_dim;
  round_scaled_q(q, rows, q_stride, width, scale, &rounded);
  exact(rounded.data(), rows, width, num_heads, row_info, kv, 1.0f, out, pool);
}

void attention_lowp(const float* q, size_t rows, size_t q_stride, size_t num_heads,
                    const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
                    ThreadPool* pool) {
  attention_on_rounded_q(attention, q, rows, q_stride, num_heads, row_info, kv, scale, out, pool);
}

void kv_store(const float* k, const float* v, size_t rows, size_t stride, const int64_t* slots,
              const PagedKV& kv) {
  const size_t width = kv.num_kv_heads * kv.head_dim;
  for (size_t r = 0; r < rows; ++r) {
    if (slots[r] < 0) continue;
    size_t base = static_cast<size_t>(slots[r]) * width;
    if (kv.dtype == DType::I8) {
      for (size_t g = 0; g < kv.num_kv_heads; ++g) {
        const size_t off = g * kv.head_dim;
        const size_t si = static_cast<size_t>(slots[r]) * kv.num_kv_heads + g;
        kv.k_scale[si] =
            quantize_kv(k + r * stride + off, kv.head_dim, static_cast<int8_t*>(kv.k) + base + off);
        kv.v_scale[si] =
            quantize_kv(v + r * stride + off, kv.head_dim, static_cast<int8_t*>(kv.v) + base + off);
      }
      continue;
    }
    for (size_t i = 0; i < width; ++i) {
      if (kv.dtype == DType::BF16) {
        static_cast<uint16_t*>(kv.k)[base + i] = f32_to_bf16(k[r * stride + i]);
        static_cast<uint16_t*>(kv.v)[base + i] = f32_to_bf16(v[r * stride + i]);
      } else {
        static_cast<float*>(kv.k)[base + i] = k[r * stride + i];
        static_cast<float*>(kv.v)[base + i] = v[r * stride + i];
      }
    }
  }
}

}  // namespace qs::kernels::ref_ops
