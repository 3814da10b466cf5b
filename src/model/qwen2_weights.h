// Every weight of a Qwen2 model. Matrices stay in place in the mmapped
// safetensors (BF16, zero copy) or live in owned buffers (converted or
// quantized at load); norms and biases are widened to F32 once at load: they
// are tiny and read by every token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/status.h"
#include "kernels/kernels.h"

namespace qs {

class TensorStore;
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
};

// Binds and checks every tensor named by the config. Errors name the file,
// the tensor and the problem (missing, wrong shape, unsupported dtype).
Result<std::unique_ptr<Qwen2Weights>> bind_qwen2_weights(const TensorStore& store,
                                                         const Qwen2Config& config,
                                                         const std::string& dir);

}  // namespace qs
