#include "model/fused_weights.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/quant.h"

namespace qs {

kernels::WeightMatrix fuse_rows(std::initializer_list<kernels::WeightMatrix*> parts,
                                Qwen2Weights* w) {
  namespace qt = kernels::quant;
  kernels::WeightMatrix f;
  if (parts.size() < 2) return f;
  const kernels::WeightMatrix& first = **parts.begin();
  int64_t rows = 0;
  size_t bytes = 0;
  for (const kernels::WeightMatrix* p : parts) {
    if (p->data == nullptr || p->format != first.format || p->cols != first.cols ||
        p->group != first.group)
      return f;
    rows += p->rows;
    bytes += p->bytes;
  }
  if (first.format == kernels::WeightFormat::kBF16) {
    const auto* next = static_cast<const uint8_t*>(first.data);
    for (const kernels::WeightMatrix* p : parts) {
      if (p->data != next) return f;
      next += p->bytes;
    }
    f = first;
    f.rows = rows;
    f.bytes = bytes;
    return f;
  }
  // Packed: every part but the last must end on a row-group boundary.
  size_t i = 0;
  for (const kernels::WeightMatrix* p : parts)
    if (++i < parts.size() && p->rows % static_cast<int64_t>(qt::kRowGroup) != 0) return f;
  AlignedPtr<uint8_t> buf = aligned_alloc_array<uint8_t>(bytes);
  size_t off = 0;
  for (kernels::WeightMatrix* p : parts) {
    std::memcpy(buf.get() + off, p->data, p->bytes);
    const void* old = p->data;
    p->data = buf.get() + off;
    off += p->bytes;
    auto& owned = w->owned_bytes;
    auto it = std::find_if(owned.begin(), owned.end(),
                           [&](const AlignedPtr<uint8_t>& b) { return b.get() == old; });
    if (it != owned.end()) owned.erase(it);
  }
  f = first;
  f.data = buf.get();
  f.rows = rows;
  f.bytes = bytes;
  w->owned_bytes.push_back(std::move(buf));
  return f;
}

const float* fuse_biases(std::initializer_list<const float*> parts,
                         std::initializer_list<size_t> lens, Qwen2Weights* w) {
  if (std::all_of(parts.begin(), parts.end(), [](const float* p) { return p == nullptr; }))
    return nullptr;
  size_t total = 0;
  for (size_t n : lens) total += n;
  AlignedPtr<float> buf = aligned_alloc_array<float>(total);
  float* out = buf.get();
  auto len = lens.begin();
  for (const float* p : parts) {
    if (p != nullptr) {
      std::copy_n(p, *len, out);
    } else {
      std::fill_n(out, *len, 0.0f);
    }
    out += *len++;
  }
  w->owned_f32.push_back(std::move(buf));
  return w->owned_f32.back().get();
}

void join_qkv(Qwen2LayerWeights* L, size_t qd, size_t kvd, Qwen2Weights* w) {
  L->qkv_proj = fuse_rows({&L->q_proj, &L->k_proj, &L->v_proj}, w);
  if (L->qkv_proj.data != nullptr)
    L->qkv_bias = fuse_biases({L->q_bias, L->k_bias, L->v_bias}, {qd, kvd, kvd}, w);
}

}  // namespace qs
