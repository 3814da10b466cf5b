// KV cache storage: for every layer, K and V arrays of fixed-size blocks.
//   k[layer], v[layer]: [num_blocks][block_size][num_kv_heads][head_dim], dtype F32, BF16
//   or I8; for I8 also k_scale[layer], v_scale[layer]: [num_blocks][block_size][num_kv_heads]
//   f32 (format in kernels.h, PagedKV).
// Which block belongs to which sequence is bookkeeping (src/kvcache/); this
// class only owns the memory and hands out kernels::PagedKV views of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/dtype.h"
#include "core/status.h"
#include "kernels/kernels.h"

namespace qs {

struct KVCacheShape {
  size_t num_layers = 0;
  size_t num_blocks = 0;
  size_t block_size = 16;
  size_t num_kv_heads = 0;
  size_t head_dim = 0;
  DType dtype = DType::BF16;  // F32, BF16 or I8

  // Bytes of K plus V for one token over all layers (I8: codes plus f32 scales).
  size_t bytes_per_token() const {
    const size_t per_head = head_dim * dtype_size(dtype) + (dtype == DType::I8 ? sizeof(float) : 0);
    return 2 * num_layers * num_kv_heads * per_head;
  }
};

class KVCache {
 public:
  static Result<KVCache> Create(const KVCacheShape& shape);

  const KVCacheShape& shape() const { return shape_; }
  kernels::PagedKV layer(size_t l) const;
  size_t bytes() const {
    return (bytes_per_layer_ + scale_bytes_per_layer_) * 2 * shape_.num_layers;
  }

 private:
  KVCacheShape shape_;
  size_t bytes_per_layer_ = 0;        // of k (or v) codes / values
  size_t scale_bytes_per_layer_ = 0;  // of k_scale (or v_scale); 0 unless I8
  std::vector<AlignedPtr<uint8_t>> k_, v_;
  std::vector<AlignedPtr<float>> k_scale_, v_scale_;
};

}  // namespace qs
