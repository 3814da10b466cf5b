// Deterministic synthetic Qwen2 checkpoints for tests and benchmarks.
//
// Every element is a pure function of (seed, tensor name, element index), so
// any slice can be generated independently (in parallel) and the numpy twin in
// tools/reference/synth.py produces the same bytes. The rule (documented in
// tools/reference/README.md):
//   s0  = seed ^ fnv1a64(name)
//   z_i = splitmix64_mix(s0 + (i + 1) * 0x9E3779B97F4A7C15)      (mod 2^64)
//   a_i = float((z_i >> 40) * 2^-24) * 2 - 1                       (exact)
//   v_i = float(float(a_i * scale) + offset)    two float32 roundings, no FMA
// then stored as F32 or as BF16 (round to nearest even).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "formats/hf_config.h"

namespace qs::synth {

uint64_t fnv1a64(std::string_view bytes);

// The float32 value of element `index` of tensor `name`.
float synth_value(uint64_t stream, uint64_t index, float scale, float offset);
// stream = seed ^ fnv1a64(name).
inline uint64_t stream_of(uint64_t seed, std::string_view name) { return seed ^ fnv1a64(name); }

// Elements [begin, end) of a tensor's row-major values, written to out[0 .. end-begin).
void fill_f32(uint64_t stream, float scale, float offset, size_t begin, size_t end, float* out);
void fill_bf16(uint64_t stream, float scale, float offset, size_t begin, size_t end, uint16_t* out);

// One tensor of a synthetic checkpoint: uniform in [-scale, scale] plus offset.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  float scale = 0.0f;
  float offset = 0.0f;
  size_t numel() const;
};

// The HF Qwen2 tensors of `config` in file-independent order, with the scale
// rules of tools/reference/synth.py (embed/lm_head 3*sqrt(3/H); projections
// 2*sqrt(3/in_features); q/k/v biases 0.1; RMSNorm weights 1 +- 0.1).
std::vector<TensorSpec> tensor_specs(const Qwen2Config& config);

// Writes out_dir/{config.json (a byte copy of config_path), generation_config.json,
// model.safetensors} and copies vocab.json, merges.txt, tokenizer_config.json from
// tokenizer_dir (skipped when tokenizer_dir is empty). dtype: BF16 or F32.
// threads <= 0: all hardware threads.
Status synthesize_model(const std::string& config_path, uint64_t seed, const std::string& out_dir,
                        DType dtype, const std::string& tokenizer_dir, int threads = 0);

// The generation_config.json written next to every synthetic model (the values of
// the hub's Qwen2.5-0.5B-Instruct).
std::string_view generation_config_json();

}  // namespace qs::synth
