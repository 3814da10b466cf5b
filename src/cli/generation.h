// Terminal generation helpers shared by `run` and `chat`: sampling options,
// defaults from generation_config.json, and a loop over one sequence.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/model_options.h"
#include "formats/generation_config.h"
#include "grammar/matcher.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace qs::cli {

// Sampling flags; unset ones take the model's generation_config.json values.
struct SamplingArgs {
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int> top_k;
  std::optional<uint64_t> seed;
};
void add_sampling_options(CLI::App* sub, SamplingArgs* a);
sampling::SamplingParams resolve_sampling(const SamplingArgs& a, const GenerationConfig& defaults);

GenerationConfig load_generation_defaults(const std::string& model_dir);
std::unique_ptr<tokenizer::Tokenizer> load_tokenizer_or_throw(const std::string& model_dir);

struct GenerationStats {
  size_t prompt_tokens = 0, reused_tokens = 0, output_tokens = 0;
  double ttft_s = 0, total_s = 0;
  bool stopped = false;  // by a stop token (else by the length limit)
};

// Feeds `tokens` to `seq`, reusing the longest prefix already in its KV cache,
// then samples up to max_tokens, calling on_token for each; stops at stop_ids.
// matcher (optional): every token is sampled under its mask and accepted; the
// generation stops (stopped = true) once the value is complete.
GenerationStats generate(SingleSequence& seq, std::vector<int32_t>* cached,
                         const std::vector<int32_t>& tokens, int max_tokens,
                         const sampling::SamplingParams& params,
                         const std::vector<int32_t>& stop_ids,
                         const std::function<void(int32_t)>& on_token,
                         grammar::Matcher* matcher = nullptr);

}  // namespace qs::cli
