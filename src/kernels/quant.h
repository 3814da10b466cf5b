// Quantized weight formats: GGUF block types (Q8_0, Q4_0, Q4_1, and the
// dequantizers of Q4_K / Q6_K), their reference quantizers, and packing into
// the kernels' row-group interleaved layouts kQ8_0 / kQ4 (documented in
// kernels.h). Everything here is portable scalar code; the kernels that read
// the packed layouts are KernelTable::matmul_q8_0 / matmul_q4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace qs::kernels::quant {

constexpr size_t kBlock = 32;     // weights per block along k
constexpr size_t kRowGroup = 16;  // rows interleaved per row group
constexpr size_t kQK_K = 256;     // GGUF k-quant super-block

// GGUF block types (little-endian, f16 scales stored as raw bits).
struct BlockQ8_0 {  // w = d * qs[i]
  uint16_t d;
  int8_t qs[32];
};
struct BlockQ4_0 {  // w = d * (q - 8); low nibbles: elements 0..15, high: 16..31
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ4_1 {  // w = d * q + m; nibble order as Q4_0
  uint16_t d;
  uint16_t m;
  uint8_t qs[16];
};
struct BlockQ4_K {  // 256 weights: 8 sub-blocks of 32 with 6-bit scales and mins
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
struct BlockQ6_K {  // 256 weights: 16 sub-blocks of 16 with int8 scales
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ6_K) == 210);

// ggml's reference quantizers: one row of k floats (k % 32 == 0) -> k/32 blocks.
void quantize_row_q8_0(const float* x, size_t k, BlockQ8_0* out);
void quantize_row_q4_0(const float* x, size_t k, BlockQ4_0* out);
void quantize_row_q4_1(const float* x, size_t k, BlockQ4_1* out);
// k floats -> k values of y (k % 32 == 0; % 256 for the k-quants).
void dequantize_row_q8_0(const BlockQ8_0* b, size_t k, float* y);
void dequantize_row_q4_0(const BlockQ4_0* b, size_t k, float* y);
void dequantize_row_q4_1(const BlockQ4_1* b, size_t k, float* y);
void dequantize_row_q4_k(const BlockQ4_K* b, size_t k, float* y);
void dequantize_row_q6_k(const BlockQ6_K* b, size_t k, float* y);

// Group-wise INT4 in min form (q4_1's algorithm over groups of `group`):
// q[k] in [0, 15], s/m[k/group] f16 bits, w ~= s * q + m.
void quantize_row_q4(const float* x, size_t k, size_t group, uint8_t* q, uint16_t* s, uint16_t* m);

// Sizes and shape checks of the packed layouts (errors say what is wrong).
size_t q8_0_bytes(size_t n, size_t k);
size_t q4_bytes(size_t n, size_t k, size_t group);

// kQ4 byte offsets inside one row group (kernels.h): quantization group i
// (`group` values along k) is one run [its group/32 blocks of values | 16
// scales | 16 mins], so a GEMV reads each row group as a single stream.
inline size_t q4_run_bytes(size_t group) { return group / 32 * 256 + 64; }
inline size_t q4_values_at(size_t block, size_t group) {
  const size_t per = group / 32;
  return block / per * q4_run_bytes(group) + block % per * 256;
}
inline size_t q4_scales_at(size_t i, size_t group) {
  return i * q4_run_bytes(group) + group / 32 * 256;
}
inline size_t q4_mins_at(size_t i, size_t group) { return q4_scales_at(i, group) + 32; }
Status check_q8_0_shape(size_t n, size_t k);
Status check_q4_shape(size_t n, size_t k, size_t group);

// Packing. Each callback fills row `row` (0 <= row < n); it may be called from
// several threads at once (pool != nullptr), each with its own buffers.
// kQ8_0: the row as k/32 Q8_0 blocks.
using Q8RowFn = std::function<void(size_t row, BlockQ8_0* blocks)>;
void pack_q8_0(size_t n, size_t k, const Q8RowFn& row, uint8_t* out, ThreadPool* pool);
// kQ4: the row as k values q (0..15) and k/group f16 scales and mins.
using Q4RowFn = std::function<void(size_t row, uint8_t* q, uint16_t* s, uint16_t* m)>;
void pack_q4(size_t n, size_t k, size_t group, const Q4RowFn& row, uint8_t* out, ThreadPool* pool);

// Reads row `row` of a packed matrix back (exact inverses of the packers).
void unpack_row_q8_0(const void* w, size_t k, size_t row, BlockQ8_0* out);
void unpack_row_q4(const void* w, size_t k, size_t group, size_t row, uint8_t* q, uint16_t* s,
                   uint16_t* m);
// Row `row` of any WeightMatrix (bf16, q8_0, q4) as k floats: the embedding lookup.
void dequant_row(const WeightMatrix& w, size_t row, float* out);

// Activation quantization (the spec in kernels.h): one row of k floats
// (k % 32 == 0) -> qx[k], and per block dx, xsum and xs = dx * float(xsum).
void quantize_x_row(const float* x, size_t k, int8_t* qx, float* dx, int32_t* xsum, float* xs);

}  // namespace qs::kernels::quant
