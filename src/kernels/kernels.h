// The kernel interface: every op the model needs, in one table of function
// pointers. kernels::ref is the scalar specification; kernels::get() returns the
// fastest implementation this CPU supports (AVX-512 > AVX2 > ref), chosen once
// at first use in cpu/dispatch.cc — the only place that looks at the ISA.
//
// Conventions: row-major, activations F32. Weights W of a linear layer are
// [n][k] (PyTorch nn.Linear layout: n outputs, k inputs). Kernels know nothing
// of models or requests. A kernel given a ThreadPool splits its work over it;
// pool may be nullptr (single-threaded).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/thread_pool.h"

namespace qs::kernels {

// Storage format of a weight matrix W [n][k] (n outputs, k inputs). The kernel
// that owns a format defines its byte layout; the model only passes it along.
//
// The quantized formats are "row-group interleaved": rows are taken 16 at a
// time (n is padded up to a multiple of 16 with zero rows, never stored to y)
// so that one 64-byte load feeds vpdpbusd 4 consecutive k-elements of 16
// outputs. k must be a multiple of 32 (the block). Build them with the pack
// functions in kernels/quant.h, never by hand. Byte layout (G = n_pad/16 row
// groups, nb = k/32 blocks, r = row within the group, lane order r = 0..15):
//
// kQ8_0 — INT8, symmetric, one f16 scale per block of 32 along k (the values of
//   GGUF Q8_0: w = d * q, q in [-127, 127]). Per row group, in order:
//     qs     [nb][8][16][4] u8   q[G*16+r][32b + 4s + e] + 128 at [b][s][r][e]
//     scales [nb][16] f16        d of block b of row r
//   group stride = nb * 544 bytes (34 bytes per 32 weights, as Q8_0).
//
// kQ4 — INT4, group-wise (group g = WeightMatrix::group, 32 or 128; any
//   multiple of 32 dividing k), w = s * q + m with q in [0, 15] and f16 s, m
//   per group of g along k. Symmetric (GGUF Q4_0, value (q - 8) * d):
//   s = d, m = -8 d. Zero point z (GPTQ/AWQ, value (q - z) * s): m = -z * s
//   rounded to f16. Min form (GGUF Q4_1 / Q4_K: value d * q + min): s = d, m = min.
//   Per row group, one run per quantization group i = 0 .. k/g - 1, in order:
//     qs     [g/32][4][16][4] u8 byte [b'][p][r][e] of block b = i g/32 + b':
//                                low nibble = q[..][32b + 8p + e],
//                                high nibble = q[..][32b + 8p + 4 + e]
//     scales [16] f16            s of group i
//     mins   [16] f16            m of group i
//   (offsets: quant::q4_values_at / q4_scales_at / q4_mins_at), so a GEMV
//   reads a row group as one sequential stream; separate scale and min
//   arrays after the values measured 1.6x slower from DRAM with groups of 32.
//   group stride = nb * 256 + (k/g) * 64 bytes.
//
// kQ5 — kQ4 with 5-bit values q in [0, 31] (GGUF Q5_0: s = d, m = -16 d;
//   Q5_1: s = d, m = m; Q5_K: s = f16(d sc), m = f16(-dmin min)): each block's
//   256 bytes of nibbles (the low 4 bits of q, laid out as kQ4) are followed
//   by 64 bytes of 5th bits,
//     high   [4][2][8] u8        mask (p, h) = bytes [p][h][0..7], a little-
//                                endian 64-bit mask whose bit 4r + e is bit 4
//                                of q[..r][32b + 8p + 4h + e]
//   (quant::q5_high_at), i.e. one AVX-512 mask per 64-byte nibble vector.
//   group stride = nb * 320 + (k/g) * 64 bytes (6 bits per weight at g = 32).
//
// Quantized matmuls quantize x on the fly, per row and per block of 32 along k
// (the activation side of GGUF Q8_0): dx = max|x| / 127, qx = nearbyint(x / dx)
// (computed as x * (1/dx)), and xsum = sum(qx) of the block.
enum class WeightFormat : uint8_t {
  kBF16,  // [n][k] bf16, row-major (PyTorch nn.Linear layout)
  kQ8_0,  // see above
  kQ4,    // see above; WeightMatrix::group is the group size
  kQ5,    // see above; WeightMatrix::group is the group size
};

const char* weight_format_name(WeightFormat f);  // "bf16", "q8_0", "q4", "q5"

// A weight matrix in some format: `data` points at its bytes (mmapped or owned).
struct WeightMatrix {
  WeightFormat format = WeightFormat::kBF16;
  const void* data = nullptr;
  int64_t rows = 0;   // n
  int64_t cols = 0;   // k
  size_t bytes = 0;   // storage size: what one full pass over W reads
  int32_t group = 0;  // kQ4 / kQ5: group size along k (32 or 128); 0 otherwise
};

// K/V storage of one layer in fixed-size blocks (paged).
// Layout of k and v: [num_blocks][block_size][num_kv_heads][head_dim], element
// type `dtype` (F32, BF16 or I8). Position p of a sequence lives in block
// block_table[p / block_size], slot p % block_size.
//
// I8 (the INT8 KV cache): each (slot, kv head) vector x of head_dim values is
// stored as symmetric int8 codes c in [-127, 127] plus one f32 scale, kept in
// separate arrays k_scale / v_scale [num_blocks][block_size][num_kv_heads]:
//   scale = max_i |x_i| / 127,  c_i = nearbyint(x_i * (1 / scale))   (c = 0 if scale == 0)
//   x_i ~= scale * c_i   (error <= scale / 2 per element)
// The same rounding as the activation side of the quantized matmuls. 0.5B
// shape: 2 * 24 layers * 2 heads * (64 + 4) = 6,528 bytes per token vs 12,288
// for BF16. Attention dequantizes on the fly: q.k = scale_k * sum_i q_i c_i,
// and the value sum accumulates (p * scale_v) * c_i. k_scale / v_scale are
// unused (may be null) for F32 and BF16.
struct PagedKV {
  void* k = nullptr;
  void* v = nullptr;
  DType dtype = DType::F32;
  size_t block_size = 16;
  size_t num_kv_heads = 0;
  size_t head_dim = 0;
  float* k_scale = nullptr;  // I8 only, [num_blocks][block_size][num_kv_heads]
  float* v_scale = nullptr;
};

// What one query row of attention sees: its sequence's block table and how
// many positions (0 .. context_len-1) it attends to (causal: its own position + 1).
struct AttnRow {
  const int32_t* block_table = nullptr;
  int32_t context_len = 0;
};

struct KernelTable {
  const char* name;  // "ref", "avx2", "avx512"

  // y[m][n] = sum_k x[m][k] * W[n][k] + (bias ? bias[n] : 0).
  // x: [m][k] F32, w: [n][k] BF16, bias: [n] F32 or nullptr, y: [m][n] F32.
  // Exact in the sense of the reference: bf16 weights widened to f32, f32 FMA.
  //
  // Batch invariance (both matmuls, every table): y[i][j] is bitwise the same
  // whatever m is, whichever row i of the batch it is, and however many threads
  // the pool has. The order of the reduction over k depends only on k.
  void (*matmul_bf16)(const float* x, size_t m, size_t k, const uint16_t* w, size_t n,
                      const float* bias, float* y, ThreadPool* pool);

  // Same shapes as matmul_bf16, low-precision activations: each x element is
  // first rounded to bf16 (f32_to_bf16), then the (exact) bf16 x bf16 products
  // are accumulated in f32. The fast path (vdpbf16ps on AVX-512 BF16).
  void (*matmul_bf16_lowp)(const float* x, size_t m, size_t k, const uint16_t* w, size_t n,
                           const float* bias, float* y, ThreadPool* pool);

  // Quantized matmuls, same shapes as matmul_bf16 but W is `w` in kQ8_0 / kQ4
  // / kQ5 (group `group`) layout; k % 32 == 0 (and k % group == 0). x is quantized
  // per row and block of 32 as described above; then, for each output, in
  // block order b = 0, 1, ..., with exact int32 block dot products:
  //   kQ8_0: acc = fma(float(sum_t qw*qx), dw_b * dx_b, acc)
  //   kQ4/5: acc = fma(float(sum_t q*qx), s_g * dx_b, acc);
  //          acc = fma(m_g, dx_b * float(xsum_b), acc)
  // from acc = 0, and y = acc + bias. Every table computes exactly this
  // sequence (std::fma), so all tables agree bitwise and are batch invariant.
  void (*matmul_q8_0)(const float* x, size_t m, size_t k, const void* w, size_t n,
                      const float* bias, float* y, ThreadPool* pool);
  void (*matmul_q4)(const float* x, size_t m, size_t k, const void* w, size_t n, size_t group,
                    const float* bias, float* y, ThreadPool* pool);
  void (*matmul_q5)(const float* x, size_t m, size_t k, const void* w, size_t n, size_t group,
                    const float* bias, float* y, ThreadPool* pool);

  // y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for r in [0, rows). y may alias x.
  void (*rmsnorm)(const float* x, const float* weight, size_t rows, size_t dim, float eps,
                  float* y);

  // Rotary embedding in place, "rotate half" convention (Qwen2/HF): for each of
  // the `heads` heads of each row, element i pairs with i + head_dim/2:
  //   x'[i]      = x[i] cos(p f_i) - x[i+h/2] sin(p f_i)
  //   x'[i+h/2]  = x[i+h/2] cos(p f_i) + x[i] sin(p f_i),   i < h/2
  // x: [rows][heads][head_dim] with row stride `row_stride` floats; p = positions[r];
  // f_i = inv_freq[i] (head_dim/2 values, already including any rope scaling).
  void (*rope)(float* x, size_t rows, size_t row_stride, size_t heads, size_t head_dim,
               const int32_t* positions, const float* inv_freq);

  // out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
  void (*silu_mul)(const float* gate, const float* up, float* out, size_t n);

  // x[i] += y[i].
  void (*add)(float* x, const float* y, size_t n);

  // out[r] = table[ids[r]] widened to F32. table: [vocab][dim] BF16.
  void (*embedding_bf16)(const uint16_t* table, size_t dim, const int32_t* ids, size_t rows,
                         float* out);

  // Causal grouped-query attention over a paged KV cache, online softmax (no
  // rows x context score matrix). q: [rows][num_heads][head_dim] with row stride
  // q_stride floats; out: [rows][num_heads][head_dim] dense.
  // Query head h uses KV head h / (num_heads / num_kv_heads). scale = 1/sqrt(head_dim).
  void (*attention)(const float* q, size_t rows, size_t q_stride, size_t num_heads,
                    const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
                    ThreadPool* pool);

  // Same shapes, low-precision scores (the partner of matmul_bf16_lowp): each
  // q element times scale is first rounded to bf16, so the result is
  // attention(q' = bf16(q * scale), scale = 1) up to the f32 summation order.
  // The fast path: with a BF16 cache, AVX-512 scores are vdpbf16ps of the
  // bf16 q' and K pairs (half the instructions of f32 fmas, and K is not
  // widened). Batch invariant like attention.
  void (*attention_lowp)(const float* q, size_t rows, size_t q_stride, size_t num_heads,
                         const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
                         ThreadPool* pool);

  // Writes k/v rows into the paged cache: row r goes to (block_table[pos/bs], pos%bs)
  // where the caller passes the already-resolved destination slot index
  // slots[r] = block * block_size + slot. k, v: [rows][num_kv_heads*head_dim] with
  // row stride `stride` floats. Converts to kv.dtype (I8: quantizes each
  // (row, kv head) vector and writes its scale, see PagedKV; every table
  // stores bitwise the same bytes). Rows with slots[r] < 0 are skipped (padding rows).
  void (*kv_store)(const float* k, const float* v, size_t rows, size_t stride, const int64_t* slots,
                   const PagedKV& kv);
};

// The scalar reference implementation (always available).
const KernelTable& ref();
// The best implementation for this CPU; QS_KERNELS=ref|avx2|avx512 forces one
// (falls back with a warning if unsupported).
const KernelTable& get();
// All implementations this CPU can run (for tests and bench), ref first.
const KernelTable* const* available(size_t* count);

}  // namespace qs::kernels
