// Hugging Face config.json for Qwen2 models (Qwen2ForCausalLM), parsed and
// validated, plus the RoPE inverse frequencies it implies.
//
// Defaults follow transformers' Qwen2Config for optional fields; the five core
// sizes (vocab_size, hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads) are required, since a config without them is not a
// Qwen2.5 checkpoint's config.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace qs {

// config.json "rope_scaling". type: "default", "linear" or "yarn" (read from
// "rope_type", else "type").
struct RopeScaling {
  std::string type = "default";
  double factor = 1.0;
  // yarn only. original_max_position_embeddings falls back to the config's
  // max_position_embeddings; beta_fast/beta_slow: absent or 0 -> 32 / 1.
  std::optional<int64_t> original_max_position_embeddings;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  std::optional<double> attention_factor;
  std::optional<double> mscale;
  std::optional<double> mscale_all_dim;
  bool truncate = true;
};

struct Qwen2Config {
  std::vector<std::string> architectures;  // e.g. {"Qwen2ForCausalLM"}
  std::string model_type = "qwen2";
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  std::string hidden_act = "silu";  // only "silu" is supported
  int64_t max_position_embeddings = 32768;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool use_sliding_window = false;
  int64_t sliding_window = 4096;  // meaningful only when use_sliding_window
  int64_t max_window_layers = 28;
  double attention_dropout = 0.0;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // "eos_token_id": int or list
  std::string torch_dtype;             // "bfloat16", ... ("dtype" in newer configs); may be empty
  std::optional<RopeScaling> rope_scaling;
  std::string quantization_config;  // the raw JSON object text; empty if absent
};

// `file` is used in messages only, e.g. "config.json: field 'hidden_act': ...".
Result<Qwen2Config> parse_qwen2_config(std::string_view json_text, const std::string& file);
Result<Qwen2Config> load_qwen2_config(const std::string& path);

// Checks an already filled config (parse_qwen2_config calls it).
Status validate_qwen2_config(const Qwen2Config& c, const std::string& file);

// RoPE as transformers' ROPE_INIT_FUNCTIONS compute it, in float32:
// inv_freq[head_dim/2] and the attention scaling applied to cos/sin (1 except yarn).
struct RopeInit {
  std::vector<float> inv_freq;  // [head_dim / 2]
  float attention_scaling = 1.0f;
};
Result<RopeInit> compute_rope_init(const Qwen2Config& c);

}  // namespace qs
