// Every weight of a Qwen2 model. Matrices stay in place in the mmapped
// safetensors (BF16, zero copy) or live in owned buffers (converted or
// quantized at load); norms and biases are widened to F32 once at load: they
// are tiny and read by every token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/kernels.h"

namespace qs {

class TensorStore;
class GgufFile;
struct Qwen2Config;

struct Qwen2LayerWeights {
  const float* input_norm = nullptr;      // [H]
  kernels::WeightMatrix q_proj;           // [nh*hd][H]
  const float* q_bias = nullptr;          // [nh*hd]
  kernels::WeightMatrix k_proj;           // [nkv*hd][H]
  const float* k_bias = nullptr;          // [nkv*hd]
  kernels::WeightMatrix v_proj;           // [nkv*hd][H]
  const float* v_bias = nullptr;          // [nkv*hd]
  kernels::WeightMatrix o_proj;           // [H][nh*hd]
  const float* post_attn_norm = nullptr;  // [H]
  kernels::WeightMatrix gate_proj;        // [I][H]
  kernels::WeightMatrix up_proj;          // [I][H]
  kernels::WeightMatrix down_proj;        // [H][I]
  // The same matrices joined by rows where that is free (fused_weights.h);
  // data == nullptr otherwise. The parts above stay valid views.
  kernels::WeightMatrix qkv_proj;      // [nh*hd + 2*nkv*hd][H]
  const float* qkv_bias = nullptr;     // [nh*hd + 2*nkv*hd]
  kernels::WeightMatrix gate_up_proj;  // [2*I][H]
};

struct Qwen2Weights {
  kernels::WeightMatrix embed;        // [V][H]
  kernels::WeightMatrix lm_head;      // [V][H] (== embed when tied)
  const float* final_norm = nullptr;  // [H]
  std::vector<Qwen2LayerWeights> layers;

  size_t matmul_weight_bytes =
      0;  // bytes of weight matrices read per decoded token (incl. lm_head)

  // Owned storage: F32 copies of norms/biases, and BF16 copies of matrices
  // that were stored in another dtype (F16/F32 checkpoints).
  std::vector<AlignedPtr<float>> owned_f32;
  std::vector<AlignedPtr<uint16_t>> owned_bf16;
  // Packed quantized matrices (kQ8_0 / kQ4 / kQ5), quantized at load or repacked from GGUF.
  std::vector<AlignedPtr<uint8_t>> owned_bytes;
};

// Quantize-on-load: every weight matrix (incl. the embedding / output head) is
// converted to `format` (kBF16 keeps the checkpoint's matrices as they are).
// kQ4 / kQ5 use groups of `group` along k, min form (see kernels.h). A matrix whose
// shape the format cannot hold (k % 32 != 0, group not dividing k) stays BF16.
struct WeightQuantization {
  kernels::WeightFormat format = kernels::WeightFormat::kBF16;
  int group = 32;
  ThreadPool* pool = nullptr;  // parallelises the packing; may be nullptr
};

// Packs `n` rows of `k` floats (row(j, out) writes row j) into `format`;
// the buffer is kept in w->owned_bytes. Errors on shapes the format cannot hold.
Result<kernels::WeightMatrix> pack_weight_matrix(
    size_t n, size_t k, const WeightQuantization& q,
    const std::function<void(size_t row, float* out)>& row, Qwen2Weights* w);

// Binds and checks every tensor named by the config. Errors name the file,
// the tensor and the problem (missing, wrong shape, unsupported dtype).
Result<std::unique_ptr<Qwen2Weights>> bind_qwen2_weights(const TensorStore& store,
                                                         const Qwen2Config& config,
                                                         const std::string& dir,
                                                         const WeightQuantization& quant = {});

// The same from a GGUF file (llama.cpp tensor names; see qwen2_weights_gguf.cc
// for how each ggml type maps to a kernel format).
Result<std::unique_ptr<Qwen2Weights>> bind_qwen2_weights_gguf(const GgufFile& f,
                                                              const Qwen2Config& config,
                                                              const WeightQuantization& quant);

}  // namespace qs
