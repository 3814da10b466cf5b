// Per-request sampling settings (OpenAI / vLLM names and meanings).
// GenerationConfig defaults are applied by the caller before validation.
#pragma once

#include <cstdint>
#include <optional>

#include "core/status.h"

namespace qs::sampling {

struct SamplingParams {
  float temperature = 1.0f;         // 0 = greedy (argmax, lowest id on ties)
  int32_t top_k = 0;                // 0 or -1 = off
  float top_p = 1.0f;               // (0, 1]; 1 = off
  float min_p = 0.0f;               // [0, 1]; keep p >= min_p * p_max
  float presence_penalty = 0.0f;    // [-2, 2]; minus once per token seen in the output
  float frequency_penalty = 0.0f;   // [-2, 2]; minus per occurrence in the output
  float repetition_penalty = 1.0f;  // > 0; HF: over prompt + output tokens
  std::optional<uint64_t> seed;     // reproducible when set
  bool logprobs = false;            // report the chosen token's logprob
  int32_t top_logprobs = 0;         // 0..20 alternatives (needs logprobs)

  static constexpr int32_t kMaxTopLogprobs = 20;

  bool greedy() const { return temperature <= 0.0f; }
  // Says which field is out of range and what range is allowed.
  Status validate() const;
};

}  // namespace qs::sampling
