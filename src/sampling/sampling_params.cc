#include "sampling/sampling_params.h"

#include <cmath>
#include <string>

namespace qs::sampling {

Status SamplingParams::validate() const {
  auto bad = [](const std::string& what) { return Status::Error(what); };
  if (!std::isfinite(temperature) || temperature < 0.0f)
    return bad("temperature must be >= 0 (0 = greedy), got " + std::to_string(temperature));
  if (top_k < -1) return bad("top_k must be -1 or 0 (off) or >= 1, got " + std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f))
    return bad("top_p must be in (0, 1], got " + std::to_string(top_p));
  if (!(min_p >= 0.0f && min_p <= 1.0f))
    return bad("min_p must be in [0, 1], got " + std::to_string(min_p));
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f))
    return bad("presence_penalty must be in [-2, 2], got " + std::to_string(presence_penalty));
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f))
    return bad("frequency_penalty must be in [-2, 2], got " + std::to_string(frequency_penalty));
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
    return bad("repetition_penalty must be > 0, got " + std::to_string(repetition_penalty));
  if (top_logprobs < 0 || top_logprobs > kMaxTopLogprobs)
    return bad("top_logprobs must be in [0, 20], got " + std::to_string(top_logprobs));
  return Status::Ok();
}

}  // namespace qs::sampling
