// Quantized weight formats: GGUF block types (Q8_0, Q4_0, Q4_1, Q5_1, and the
// dequantizers of Q5_0 / IQ4_NL / Q2_K .. Q6_K), their reference quantizers,
// and packing into the kernels' row-group interleaved layouts kQ8_0 / kQ4 /
// kQ5 (documented in kernels.h). Everything here is portable scalar code; the
// kernels that read the packed layouts are KernelTable::matmul_q8_0 / q4 / q5.
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
// The types llama.cpp falls back to when k % 256 != 0 (Qwen2.5-0.5B's 896),
// and the other k-quants of its q2_k .. q5_k_m files (decode only).
struct BlockQ5_0 {  // w = d * (q - 16), q = nibble | bit e of qh << 4; nibbles as Q4_0
  uint16_t d;
  uint8_t qh[4];  // bit e (little-endian u32) = 5th bit of element e
  uint8_t qs[16];
};
struct BlockQ5_1 {  // w = d * q + m, q as Q5_0 without the - 16
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockIQ4_NL {  // w = d * kIQ4NLValues[nibble]; nibbles as Q4_0
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ2_K {     // 256 weights: 16 sub-blocks of 16, 4-bit scale and min each
  uint8_t scales[16];  // low nibble scale, high nibble min, of sub-block i
  uint8_t qs[64];      // 2-bit quants, 4 planes per byte (see dequantize_row_q2_k)
  uint16_t d;
  uint16_t dmin;
};
struct BlockQ3_K {     // 256 weights: 16 sub-blocks of 16, 6-bit signed scales
  uint8_t hmask[32];   // bit j of hmask[l]: element 32 j + l has no -4
  uint8_t qs[64];      // low 2 bits, planes as Q2_K
  uint8_t scales[12];  // 16 six-bit scales (+32), packed
  uint16_t d;
};
struct BlockQ5_K {  // 256 weights: 8 sub-blocks of 32, 6-bit scales and mins as Q4_K
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];   // bit b of qh[l]: 5th bit of element 32 b + l
  uint8_t qs[128];  // low nibbles: 64 elements per 32 bytes, low halves first
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 && sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ5_K) == 176);

// IQ4_NL's non-linear code book (ggml's kvalues_iq4nl).
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// ggml's reference quantizers: one row of k floats (k % 32 == 0) -> k/32 blocks.
void quantize_row_q8_0(const float* x, size_t k, BlockQ8_0* out);
void quantize_row_q4_0(const float* x, size_t k, BlockQ4_0* out);
void quantize_row_q4_1(const float* x, size_t k, BlockQ4_1* out);
void quantize_row_q5_1(const float* x, size_t k, BlockQ5_1* out);
// k floats -> k values of y (k % 32 == 0; % 256 for the k-quants).
void dequantize_row_q8_0(const BlockQ8_0* b, size_t k, float* y);
void dequantize_row_q4_0(const BlockQ4_0* b, size_t k, float* y);
void dequantize_row_q4_1(const BlockQ4_1* b, size_t k, float* y);
void dequantize_row_q4_k(const BlockQ4_K* b, size_t k, float* y);
void dequantize_row_q6_k(const BlockQ6_K* b, size_t k, float* y);
// Float arithmetic in ggml's order and roundings (no FMA contraction: a * q - m
// is two roundings), so the values equal ggml's dequantize_row_* bit for bit.
void dequantize_row_q5_0(const BlockQ5_0* b, size_t k, float* y);
void dequantize_row_q5_1(const BlockQ5_1* b, size_t k, float* y);
void dequantize_row_iq4_nl(const BlockIQ4_NL* b, size_t k, float* y);
void dequantize_row_q2_k(const BlockQ2_K* b, size_t k, float* y);
void dequantize_row_q3_k(const BlockQ3_K* b, size_t k, float* y);
void dequantize_row_q5_k(const BlockQ5_K* b, size_t k, float* y);
// IQ4_NL as Q8_0 blocks, exactly (same d; codes = the code book entries in
// [-127, 113]), nb blocks.
void iq4_nl_to_q8_0(const BlockIQ4_NL* b, size_t nb, BlockQ8_0* out);

// Min-form codes of a row of k values, for kQ4 (Q4_*) / kQ5 (Q5_*) with
// groups of 32: q[k] (0..15 / 0..31) and per 32-block s, m (f16 bits) with
// w = s q + m. Exact for Q4_0 (m = -8 d), Q4_1, Q5_0 (m = -16 d) and Q5_1;
// the k-quants round s = f16(d sc) and m = f16(-dmin min) (<= 2^-11 relative).
void q4_0_codes(const BlockQ4_0* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m);
void q4_1_codes(const BlockQ4_1* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m);
void q4_k_codes(const BlockQ4_K* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m);
void q5_0_codes(const BlockQ5_0* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m);
void q5_1_codes(const BlockQ5_1* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m);
void q5_k_codes(const BlockQ5_K* b, size_t k, uint8_t* q, uint16_t* s, uint16_t* m);

// Group-wise INT4 in min form (q4_1's algorithm over groups of `group`):
// q[k] in [0, 15], s/m[k/group] f16 bits, w ~= s * q + m.
void quantize_row_q4(const float* x, size_t k, size_t group, uint8_t* q, uint16_t* s, uint16_t* m);
// The same with 5 bits: q[k] in [0, 31] (kQ5's values; tests and benches).
void quantize_row_q5(const float* x, size_t k, size_t group, uint8_t* q, uint16_t* s, uint16_t* m);

// Sizes and shape checks of the packed layouts (errors say what is wrong).
size_t q8_0_bytes(size_t n, size_t k);
size_t q4_bytes(size_t n, size_t k, size_t group);
size_t q5_bytes(size_t n, size_t k, size_t group);

// kQ4 / kQ5 byte offsets inside one row group (kernels.h): quantization group
// i (`group` values along k) is one run [its group/32 blocks | 16 scales | 16
// mins], a block being 256 bytes of nibbles (kQ5: then 64 bytes of 5th bits),
// so a GEMV reads each row group as a single stream. high: kQ5.
inline size_t qn_block_bytes(bool high) { return high ? 320 : 256; }
inline size_t qn_run_bytes(size_t group, bool high) {
  return group / 32 * qn_block_bytes(high) + 64;
}
inline size_t qn_values_at(size_t block, size_t group, bool high) {
  const size_t per = group / 32;
  return block / per * qn_run_bytes(group, high) + block % per * qn_block_bytes(high);
}
inline size_t qn_scales_at(size_t i, size_t group, bool high) {
  return i * qn_run_bytes(group, high) + group / 32 * qn_block_bytes(high);
}
inline size_t qn_mins_at(size_t i, size_t group, bool high) {
  return qn_scales_at(i, group, high) + 32;
}
inline size_t q4_run_bytes(size_t group) { return qn_run_bytes(group, false); }
inline size_t q4_values_at(size_t block, size_t group) { return qn_values_at(block, group, false); }
inline size_t q4_scales_at(size_t i, size_t group) { return qn_scales_at(i, group, false); }
inline size_t q4_mins_at(size_t i, size_t group) { return qn_mins_at(i, group, false); }
// kQ5: the 5th bits of block b, 8 masks of 64 bits (kernels.h).
inline size_t q5_high_at(size_t block, size_t group) {
  return qn_values_at(block, group, true) + 256;
}
Status check_q8_0_shape(size_t n, size_t k);
Status check_q4_shape(size_t n, size_t k, size_t group);
Status check_q5_shape(size_t n, size_t k, size_t group);
// kQ4 or kQ5 chosen at run time (high: kQ5), for callers holding either.
size_t qn_bytes(size_t n, size_t k, size_t group, bool high);
Status check_qn_shape(size_t n, size_t k, size_t group, bool high);

// Packing. Each callback fills row `row` (0 <= row < n); it may be called from
// several threads at once (pool != nullptr), each with its own buffers.
// kQ8_0: the row as k/32 Q8_0 blocks.
using Q8RowFn = std::function<void(size_t row, BlockQ8_0* blocks)>;
void pack_q8_0(size_t n, size_t k, const Q8RowFn& row, uint8_t* out, ThreadPool* pool);
// kQ4: the row as k values q (0..15) and k/group f16 scales and mins.
using Q4RowFn = std::function<void(size_t row, uint8_t* q, uint16_t* s, uint16_t* m)>;
void pack_q4(size_t n, size_t k, size_t group, const Q4RowFn& row, uint8_t* out, ThreadPool* pool);
// kQ5: the same with values q in 0..31.
void pack_q5(size_t n, size_t k, size_t group, const Q4RowFn& row, uint8_t* out, ThreadPool* pool);
void pack_qn(size_t n, size_t k, size_t group, bool high, const Q4RowFn& row, uint8_t* out,
             ThreadPool* pool);

// Reads row `row` of a packed matrix back (exact inverses of the packers).
void unpack_row_q8_0(const void* w, size_t k, size_t row, BlockQ8_0* out);
void unpack_row_q4(const void* w, size_t k, size_t group, size_t row, uint8_t* q, uint16_t* s,
                   uint16_t* m);
void unpack_row_q5(const void* w, size_t k, size_t group, size_t row, uint8_t* q, uint16_t* s,
                   uint16_t* m);
void unpack_row_qn(const void* w, size_t k, size_t group, bool high, size_t row, uint8_t* q,
                   uint16_t* s, uint16_t* m);
// Row `row` of any WeightMatrix (bf16, q8_0, q4, q5) as k floats: the embedding lookup.
void dequant_row(const WeightMatrix& w, size_t row, float* out);

// Activation quantization (the spec in kernels.h): one row of k floats
// (k % 32 == 0) -> qx[k], and per block dx, xsum and xs = dx * float(xsum).
void quantize_x_row(const float* x, size_t k, int8_t* qx, float* dx, int32_t* xsum, float* xs);

}  // namespace qs::kernels::quant
