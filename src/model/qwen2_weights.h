// Pointers to every weight of a Qwen2 model, in place in the mmapped
// safetensors (BF16, zero copy) or in owned buffers (norms and biases are
// widened to F32 once at load: they are tiny and read by every token).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/status.h"

namespace qs {

class TensorStore;
struct Qwen2Config;

struct Qwen2LayerWeights {
  const float* input_norm = nullptr;      // [H]
  const uint16_t* q_proj = nullptr;       // [nh*hd][H] BF16
  const float* q_bias = nullptr;          // [nh*hd]
  const uint16_t* k_proj = nullptr;       // [nkv*hd][H]
  const float* k_bias = nullptr;          // [nkv*hd]
  const uint16_t* v_proj = nullptr;       // [nkv*hd][H]
  const float* v_bias = nullptr;          // [nkv*hd]
  const uint16_t* o_proj = nullptr;       // [H][nh*hd]
  const float* post_attn_norm = nullptr;  // [H]
  const uint16_t* gate_proj = nullptr;    // [I][H]
  const uint16_t* up_proj = nullptr;      // [I][H]
  const uint16_t* down_proj = nullptr;    // [H][I]
};

struct Qwen2Weights {
  const uint16_t* embed = nullptr;    // [V][H] BF16
  const uint16_t* lm_head = nullptr;  // [V][H] BF16 (== embed when tied)
  const float* final_norm = nullptr;  // [H]
  std::vector<Qwen2LayerWeights> layers;

  size_t matmul_weight_bytes = 0;  // bytes of BF16 matrices read per decoded token (incl. lm_head)

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
