#include "kernels/ref/quant_ops.h"

#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "kernels/quant.h"

namespace qs::kernels::ref_ops {

void QuantizedX::resize(size_t m, size_t k) {
  q.resize(m * k + 64);
  dx.resize(m * k / 32 + 16);
  xsum.resize(m * k / 32 + 16);
  xs.resize(m * k / 32 + 16);
  corr.resize(m * k / 32 + 16);
}

void quantize_x(const float* x, size_t m, size_t k, QuantizedX* out) {
  out->resize(m, k);
  const size_t nb = k / 32;
  for (size_t i = 0; i < m; ++i)
    quant::quantize_x_row(x + i * k, k, out->q.data() + i * k, out->dx.data() + i * nb,
                          out->xsum.data() + i * nb, out->xs.data() + i * nb);
}

namespace {
inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
}  // namespace

void matmul_q8_0(const float* x, size_t m, size_t k, const void* w, size_t n, const float* bias,
                 float* y, ThreadPool*) {
  if (m == 0 || n == 0) return;
  thread_local QuantizedX qx;
  quantize_x(x, m, k, &qx);
  const size_t nb = k / 32, stride = quant::q8_0_bytes(16, k);
  for (size_t i = 0; i < m; ++i) {
    const int8_t* xq = qx.q.data() + i * k;
    const float* dx = qx.dx.data() + i * nb;
    for (size_t j = 0; j < n; ++j) {
      const uint8_t* base = static_cast<const uint8_t*>(w) + j / 16 * stride;
      const size_t r = j % 16;
      float acc = 0;
      for (size_t b = 0; b < nb; ++b) {
        int32_t isum = 0;
        for (size_t t = 0; t < 32; ++t)
          isum += (static_cast<int32_t>(base[b * 512 + (t / 4) * 64 + r * 4 + t % 4]) - 128) *
                  xq[b * 32 + t];
        const float scale = f16_at(base + nb * 512 + b * 32 + r * 2) * dx[b];
        acc = std::fma(static_cast<float>(isum), scale, acc);
      }
      y[i * n + j] = bias ? acc + bias[j] : acc;
    }
  }
}

namespace {
// kQ4 (high = false) / kQ5: value q = nibble | (5th bit << 4), kernels.h order.
void matmul_qn(const float* x, size_t m, size_t k, const void* w, size_t n, size_t group, bool high,
               const float* bias, float* y) {
  if (m == 0 || n == 0) return;
  thread_local QuantizedX qx;
  quantize_x(x, m, k, &qx);
  const size_t nb = k / 32, stride = quant::qn_bytes(16, k, group, high);
  for (size_t i = 0; i < m; ++i) {
    const int8_t* xq = qx.q.data() + i * k;
    const float* dx = qx.dx.data() + i * nb;
    const float* xs = qx.xs.data() + i * nb;
    for (size_t j = 0; j < n; ++j) {
      const uint8_t* base = static_cast<const uint8_t*>(w) + j / 16 * stride;
      const size_t r = j % 16;
      float acc = 0;
      for (size_t b = 0; b < nb; ++b) {
        int32_t isum = 0;
        for (size_t p = 0; p < 4; ++p)
          for (size_t e = 0; e < 4; ++e) {
            const uint8_t v = base[quant::qn_values_at(b, group, high) + p * 64 + r * 4 + e];
            int lo = v & 0xF, hi = v >> 4;
            if (high) {
              const uint8_t* mask = base + quant::q5_high_at(b, group) + p * 16;
              const size_t bit = r * 4 + e;
              lo |= ((mask[bit / 8] >> (bit % 8)) & 1) << 4;
              hi |= ((mask[8 + bit / 8] >> (bit % 8)) & 1) << 4;
            }
            isum += lo * xq[b * 32 + 8 * p + e] + hi * xq[b * 32 + 8 * p + 4 + e];
          }
        const size_t g = b * 32 / group;
        const float s = f16_at(base + quant::qn_scales_at(g, group, high) + r * 2);
        const float mn = f16_at(base + quant::qn_mins_at(g, group, high) + r * 2);
        acc = std::fma(static_cast<float>(isum), s * dx[b], acc);
        acc = std::fma(mn, xs[b], acc);
      }
      y[i * n + j] = bias ? acc + bias[j] : acc;
    }
  }
}
}  // namespace

void matmul_q4(const float* x, size_t m, size_t k, const void* w, size_t n, size_t group,
               const float* bias, float* y, ThreadPool*) {
  matmul_qn(x, m, k, w, n, group, false, bias, y);
}

void matmul_q5(const float* x, size_t m, size_t k, const void* w, size_t n, size_t group,
               const float* bias, float* y, ThreadPool*) {
  matmul_qn(x, m, k, w, n, group, true, bias, y);
}

}  // namespace qs::kernels::ref_ops
