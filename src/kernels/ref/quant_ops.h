// Scalar reference quantized matmuls (KernelTable::matmul_q8_0 / q4 / q5)
// and the quantized-activation buffers the SIMD versions share.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/aligned_buffer.h"
#include "kernels/kernels.h"

namespace qs::kernels::ref_ops {

// x [m][k] quantized per row and block of 32 (see kernels.h).
struct QuantizedX {
  AlignedVec<int8_t> q;      // [m][k]
  AlignedVec<float> dx;      // [m][k/32]
  AlignedVec<int32_t> xsum;  // [m][k/32]
  AlignedVec<float> xs;      // [m][k/32] dx * float(xsum)
  // [m][k/32] -128 * xsum: where a kQ8_0 block's int32 sum starts (W is
  // stored + 128). Filled by the AVX-512 quantizer only, whose tiles load it
  // with one broadcast instead of computing it per tile.
  AlignedVec<int32_t> corr;
  void resize(size_t m, size_t k);
};
void quantize_x(const float* x, size_t m, size_t k, QuantizedX* out);

void matmul_q8_0(const float* x, size_t m, size_t k, const void* w, size_t n, const float* bias,
                 float* y, ThreadPool* pool);
void matmul_q4(const float* x, size_t m, size_t k, const void* w, size_t n, size_t group,
               const float* bias, float* y, ThreadPool* pool);
void matmul_q5(const float* x, size_t m, size_t k, const void* w, size_t n, size_t group,
               const float* bias, float* y, ThreadPool* pool);

}  // namespace qs::kernels::ref_ops
