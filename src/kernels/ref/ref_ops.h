// The scalar reference ops, one function per KernelTable entry (the spec the
// SIMD tables are tested against). Also used by the SIMD tables as fallbacks
// for shapes they do not vectorise (e.g. an odd head_dim).
#pragma once

#include <vector>

#include "kernels/kernels.h"

namespace qs::kernels::ref_ops {

void matmul_bf16(const float* x, size_t m, size_t k, const uint16_t* w, size_t n, const float* bias,
                 float* y, ThreadPool* pool);
void matmul_bf16_lowp(const float* x, size_t m, size_t k, const uint16_t* w, size_t n,
                      const float* bias, float* y, ThreadPool* pool);
void rmsnorm(const float* x, const float* weight, size_t rows, size_t dim, float eps, float* y);
void rope(float* x, size_t rows, size_t row_stride, size_t heads, size_t head_dim,
          const int32_t* positions, const float* inv_freq);
void silu_mul(const float* gate, const float* up, float* out, size_t n);
void add(float* x, const float* y, size_t n);
void embedding_bf16(const uint16_t* table, size_t dim, const int32_t* ids, size_t rows, float* out);
void attention(const float* q, size_t rows, size_t q_stride, size_t num_heads,
               const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
               ThreadPool* pool);
void kv_store(const float* k, const float* v, size_t rows, size_t stride, const int64_t* slots,
              const PagedKV& kv);

// q' = bf16(q * scale) as floats, dense [rows][num_heads * head_dim] (the
// input attention_lowp is specified on); `out` is resized.
void round_scaled_q(const float* q, size_t rows, size_t q_stride, size_t width, float scale,
                    std::vector<float>* out);
// attention_lowp by its definition: q' (above), then an exact attention with
// scale 1. Every table's lowp fallback.
using AttentionFn = void (*)(const float*, size_t, size_t, size_t, const AttnRow*, const PagedKV&,
                             float, float*, ThreadPool*);
void attention_on_rounded_q(AttentionFn exact, const float* q, size_t rows, size_t q_stride,
                            size_t num_heads, const AttnRow* row_info, const PagedKV& kv,
                            float scale, float* out, ThreadPool* pool);
void attention_lowp(const float* q, size_t rows, size_t q_stride, size_t num_heads,
                    const AttnRow* row_info, const PagedKV& kv, float scale, float* out,
                    ThreadPool* pool);

// Address of K (or V) for position `pos` of kv head `g`, given a block table.
inline const void* kv_row(const void* base, const PagedKV& kv, const int32_t* block_table,
                          size_t pos, size_t g) {
  size_t slot =
      static_cast<size_t>(block_table[pos / kv.block_size]) * kv.block_size + pos % kv.block_size;
  size_t elem = (slot * kv.num_kv_heads + g) * kv.head_dim;
  return static_cast<const char*>(base) + elem * dtype_size(kv.dtype);
}

// I8 cache: the scale of position `pos`, kv head `g` (k_scale or v_scale as `base`).
inline float kv_scale(const float* base, const PagedKV& kv, const int32_t* block_table, size_t pos,
                      size_t g) {
  size_t slot =
      static_cast<size_t>(block_table[pos / kv.block_size]) * kv.block_size + pos % kv.block_size;
  return base[slot * kv.num_kv_heads + g];
}

// The I8 KV format of one vector (kernels.h, PagedKV): writes n codes, returns the scale.
float quantize_kv(const float* x, size_t n, int8_t* codes);

}  // namespace qs::kernels::ref_ops
