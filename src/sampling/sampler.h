// Turns one row of logits into a token. The order of the steps (as in vLLM):
//   penalties -> mask -> temperature -> top_k -> top_p -> min_p -> sample.
// Logprobs are log_softmax of the logits after penalties, mask and
// temperature (temperature 0 counts as 1), before the top-k/top-p/min-p
// truncation: that keeps every alternative finite and comparable, and is what
// a client can reproduce from the model's distribution at its temperature.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "sampling/rng.h"
#include "sampling/sampling_params.h"
#include "sampling/token_history.h"

namespace qs::sampling {

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
};

struct SampleResult {
  int32_t token = -1;
  float logprob = 0.0f;                    // only when params.logprobs
  std::vector<TokenLogprob> top_logprobs;  // [params.top_logprobs], most likely first
};

// The steps, exposed for tests and for callers that need only one of them.
// logits: [vocab]; tokens outside [0, vocab) are ignored.
void apply_penalties(float* logits, int32_t vocab, const SamplingParams& p,
                     const TokenHistory& history);
// Sets logits of tokens with allowed_mask[i] == 0 to -inf; returns how many stay allowed.
int32_t apply_mask(float* logits, int32_t vocab, const uint8_t* allowed_mask);
// Index of the largest logit, lowest index on ties; -1 if none is > -inf.
int32_t argmax(const float* logits, int32_t vocab);

// Holds scratch buffers reused across calls: one Sampler per engine thread.
class Sampler {
 public:
  // logits: [vocab], modified in place (penalties, mask, temperature).
  // allowed_mask: optional [vocab] (nonzero = allowed), nullptr = all allowed.
  // Errors: bad params, vocab <= 0, or no token left with a finite logit.
  Result<SampleResult> sample(float* logits, int32_t vocab, const SamplingParams& params,
                              const TokenHistory& history, Rng& rng,
                              const uint8_t* allowed_mask = nullptr);

 private:
  struct Cand {
    float p;  // exp(logit - max), unnormalised
    int32_t id;
  };
  std::vector<Cand> cands_;
  std::vector<int32_t> idx_;
};

}  // namespace qs::sampling
