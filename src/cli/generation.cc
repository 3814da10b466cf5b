#include "cli/generation.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "cli/command_registry.h"
#include "cli/gguf_tokenizer.h"

namespace qs::cli {

void add_sampling_options(CLI::App* sub, SamplingArgs* a) {
  sub->add_option("--temperature", a->temperature, "0 = greedy (default: generation_config.json)");
  sub->add_option("--top-p", a->top_p, "Nucleus sampling mass");
  sub->add_option("--top-k", a->top_k, "Keep the k most likely tokens (0 = off)");
  sub->add_option("--min-p", a->min_p, "Drop tokens below min_p x the top probability");
  sub->add_option("--repetition-penalty", a->repetition_penalty, "HF repetition penalty (1 = off)");
  sub->add_option("--seed", a->seed, "Seed for reproducible sampling");
}

sampling::SamplingParams resolve_sampling(const SamplingArgs& a, const GenerationConfig& d) {
  sampling::SamplingParams p;
  p.temperature = a.temperature.value_or(d.temperature.value_or(1.0));
  if (d.do_sample.has_value() && !*d.do_sample && !a.temperature) p.temperature = 0;
  p.top_p = a.top_p.value_or(d.top_p.value_or(1.0));
  p.top_k = a.top_k.value_or(static_cast<int>(d.top_k.value_or(0)));
  p.min_p = a.min_p.value_or(d.min_p.value_or(0.0));
  p.repetition_penalty = a.repetition_penalty.value_or(d.repetition_penalty.value_or(1.0));
  p.seed = a.seed;
  Status s = p.validate();
  if (!s.ok()) throw CommandError{s.message(), 2};
  return p;
}

GenerationConfig load_generation_defaults(const std::string& model_dir) {
  auto g = load_model_generation_defaults(model_dir);  // a directory or a .gguf
  if (!g.ok()) throw CommandError{g.status().message(), 1};
  return std::move(g).value();
}

std::unique_ptr<tokenizer::Tokenizer> load_tokenizer_or_throw(const std::string& model_dir) {
  auto t = load_model_tokenizer(model_dir);  // a directory or a .gguf
  if (!t.ok()) throw CommandError{t.status().message(), 1};
  return std::move(t).value();
}

GenerationStats generate(SingleSequence& seq, std::vector<int32_t>* cached,
                         const std::vector<int32_t>& tokens, int max_tokens,
                         const sampling::SamplingParams& params,
                         const std::vector<int32_t>& stop_ids,
                         const std::function<void(int32_t)>& on_token, grammar::Matcher* matcher) {
  GenerationStats st;
  st.prompt_tokens = tokens.size();
  // Reuse the KV of the common prefix, but always recompute the last prompt token.
  size_t common = 0;
  while (common < cached->size() && common + 1 < tokens.size() &&
         (*cached)[common] == tokens[common])
    ++common;
  st.reused_tokens = common;
  seq.truncate(common);
  cached->assign(tokens.begin(), tokens.end());

  auto t0 = std::chrono::steady_clock::now();
  sampling::Sampler sampler;
  sampling::TokenHistory history;
  history.set_prompt(tokens);
  sampling::Rng rng = params.seed ? sampling::Rng(*params.seed) : sampling::Rng::from_entropy();
  std::vector<int32_t> next(tokens.begin() + static_cast<std::ptrdiff_t>(common), tokens.end());
  std::vector<uint8_t> mask;  // [vocab] grammar mask
  for (int i = 0; i < max_tokens; ++i) {
    std::vector<float> logits = seq.feed(next);
    if (matcher) {
      mask.assign(logits.size(), 0);
      matcher->fill_mask(mask.data(), max_tokens - i);
    }
    auto r = sampler.sample(logits.data(), static_cast<int32_t>(logits.size()), params, history,
                            rng, matcher ? mask.data() : nullptr);
    if (!r.ok()) throw CommandError{r.status().message(), 1};
    int32_t id = r->token;
    if (matcher && !matcher->accept(id))
      throw CommandError{"the grammar rejected sampled token " + std::to_string(id), 1};
    if (matcher && matcher->is_terminated()) {  // eos: the value is complete
      history.add_output(id);
      cached->push_back(id);
      ++st.output_tokens;
      st.stopped = true;
      break;
    }
    if (i == 0)
      st.ttft_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    history.add_output(id);
    cached->push_back(id);
    ++st.output_tokens;
    if (std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end()) {
      st.stopped = true;
      break;
    }
    on_token(id);
    if (matcher && matcher->must_end()) {  // complete; only eos could follow
      st.stopped = true;
      break;
    }
    next.assign(1, id);
  }
  // The last sampled token was never fed: drop it from what the cache holds.
  if (!cached->empty() && cached->size() > seq.length()) cached->resize(seq.length());
  st.total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace qs::cli
