// qwenserve run: one prompt in, N tokens out, in the terminal.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command_registry.h"
#include "cli/model_options.h"
#include "model/qwen2_model.h"

namespace qs::cli {
namespace {

struct RunArgs {
  ModelArgs model;
  std::string prompt;
  std::string prompt_ids;
  int max_tokens = 64;
  float temperature = 0.0f;
  bool ignore_eos = false;
  bool print_ids = false;
};

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      ids.push_back(static_cast<int32_t>(std::stoll(item)));
    } catch (...) {
      throw CommandError{"run: --prompt-ids: '" + item + "' is not an integer", 2};
    }
  }
  return ids;
}

void run(const RunArgs& a) {
  auto model = load_model_or_throw(a.model);
  std::vector<int32_t> prompt;
  if (!a.prompt_ids.empty()) {
    prompt = parse_ids(a.prompt_ids);
  } else {
    throw CommandError{"run: text prompts need the tokenizer; pass --prompt-ids for now", 2};
  }
  if (prompt.empty()) throw CommandError{"run: the prompt is empty", 2};

  if (a.temperature > 0)
    throw CommandError{
        "run: sampling with temperature > 0 arrives with the sampler; use --temperature 0", 2};
  const Qwen2Config& c = model->config();
  SingleSequence seq(*model, a.model, prompt.size() + a.max_tokens);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> out;
  double ttft = 0;
  std::vector<int32_t> next = prompt;
  for (int i = 0; i < a.max_tokens; ++i) {
    int32_t id = argmax(seq.feed(next));
    if (out.empty())
      ttft = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.push_back(id);
    std::printf("%d ", id);
    std::fflush(stdout);
    bool is_eos =
        std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) != c.eos_token_ids.end();
    if (is_eos && !a.ignore_eos) break;
    next.assign(1, id);
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n");
  double decode_s = total - ttft;
  std::fprintf(stderr,
               "prompt %zu tokens, %.1f ms to first token; %zu tokens, %.2f tokens/s decode\n",
               prompt.size(), ttft * 1e3, out.size(),
               out.size() > 1 && decode_s > 0 ? (out.size() - 1) / decode_s : 0.0);
}

CommandRegistrar reg("run", "Generate from one prompt in the terminal", [](CLI::App* sub) {
  auto a = std::make_shared<RunArgs>();
  add_model_options(sub, &a->model);
  sub->add_option("-p,--prompt", a->prompt, "Prompt text");
  sub->add_option("--prompt-ids", a->prompt_ids, "Prompt as comma-separated token ids");
  sub->add_option("-n,--max-tokens", a->max_tokens, "Tokens to generate")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--temperature", a->temperature, "0 = greedy")->check(CLI::Range(0.0f, 100.0f));
  sub->add_flag("--ignore-eos", a->ignore_eos, "Do not stop at end-of-sequence tokens");
  sub->callback([a] { run(*a); });
});

}  // namespace
}  // namespace qs::cli
