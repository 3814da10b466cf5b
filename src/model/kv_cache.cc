#include "model/kv_cache.h"

#include <new>
#include <string>

namespace qs {

Result<KVCache> KVCache::Create(const KVCacheShape& s) {
  if (s.dtype != DType::F32 && s.dtype != DType::BF16 && s.dtype != DType::I8)
    return Status::Error("KV cache dtype must be F32, BF16 or I8, got " +
                         std::string(dtype_name(s.dtype)));
  if (s.num_blocks == 0 || s.block_size == 0 || s.num_kv_heads == 0 || s.head_dim == 0)
    return Status::Error("KV cache shape has a zero dimension");
  KVCache c;
  c.shape_ = s;
  c.bytes_per_layer_ =
      s.num_blocks * s.block_size * s.num_kv_heads * s.head_dim * dtype_size(s.dtype);
  const size_t scales = s.dtype == DType::I8 ? s.num_blocks * s.block_size * s.num_kv_heads : 0;
  c.scale_bytes_per_layer_ = scales * sizeof(float);
  try {
    for (size_t l = 0; l < s.num_layers; ++l) {
      c.k_.push_back(aligned_alloc_array<uint8_t>(c.bytes_per_layer_));
      c.v_.push_back(aligned_alloc_array<uint8_t>(c.bytes_per_layer_));
      if (scales) {
        c.k_scale_.push_back(aligned_alloc_array<float>(scales));
        c.v_scale_.push_back(aligned_alloc_array<float>(scales));
      }
    }
  } catch (const std::bad_alloc&) {
    return Status::Error("cannot allocate the KV cache: " + std::to_string(c.bytes() >> 20) +
                         " MiB; lower max_seq_len / max_batch_size or the number of KV blocks");
  }
  return c;
}

kernels::PagedKV KVCache::layer(size_t l) const {
  kernels::PagedKV kv;
  kv.k = k_[l].get();
  kv.v = v_[l].get();
  kv.dtype = shape_.dtype;
  kv.block_size = shape_.block_size;
  kv.num_kv_heads = shape_.num_kv_heads;
  kv.head_dim = shape_.head_dim;
  if (shape_.dtype == DType::I8) {
    kv.k_scale = k_scale_[l].get();
    kv.v_scale = v_scale_[l].get();
  }
  return kv;
}

}  // namespace qs
