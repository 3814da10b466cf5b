// qwenserve run: one prompt in, an answer out, streamed to the terminal.
// By default the prompt is a user message rendered through the chat template;
// --raw feeds it as plain text, --prompt-ids as token ids.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command_registry.h"
#include "cli/generation.h"
#include "grammar/structured_output.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/stream_decoder.h"

namespace qs::cli {
namespace {

struct RunArgs {
  ModelArgs model;
  SamplingArgs sampling;
  std::string prompt, prompt_ids, system;
  std::string json_schema;  // file: constrain the answer to a JSON value of this schema
  int max_tokens = 256;
  bool ignore_eos = false, raw = false, print_ids = false;
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
  if (a.prompt.empty() == a.prompt_ids.empty())
    throw CommandError{"run: give exactly one of -p/--prompt and --prompt-ids", 2};
  auto model = load_model_or_throw(a.model);
  std::unique_ptr<tokenizer::Tokenizer> tok;
  std::vector<int32_t> prompt;
  if (!a.prompt_ids.empty()) {
    prompt = parse_ids(a.prompt_ids);
  } else {
    tok = load_tokenizer_or_throw(a.model.dir);
    if (a.raw) {
      prompt = tok->encode(a.prompt, /*allow_special=*/true);
    } else {
      std::vector<tokenizer::ChatMessage> msgs;
      if (!a.system.empty()) msgs.push_back({"system", a.system, {}});
      msgs.push_back({"user", a.prompt, {}});
      auto segs = tokenizer::render_chat_segments(msgs, nullptr, true);
      if (!segs.ok()) throw CommandError{segs.status().message(), 1};
      auto ids = tok->encode_segments(segs.value());
      if (!ids.ok()) throw CommandError{ids.status().message(), 1};
      prompt = std::move(ids).value();
    }
  }
  if (prompt.empty()) throw CommandError{"run: the prompt is empty", 2};
  const int64_t V = model->config().vocab_size;
  for (int32_t id : prompt)
    if (id < 0 || id >= V)
      throw CommandError{"run: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                             std::to_string(V) + ")",
                         2};

  GenerationConfig defaults = load_generation_defaults(a.model.dir);
  sampling::SamplingParams params = resolve_sampling(a.sampling, defaults);
  std::vector<int32_t> stop_ids;
  if (!a.ignore_eos) {
    for (int64_t e : model->config().eos_token_ids) stop_ids.push_back(static_cast<int32_t>(e));
    for (int64_t e : defaults.eos_token_ids) stop_ids.push_back(static_cast<int32_t>(e));
    if (tok)
      for (int32_t e : tok->stop_ids()) stop_ids.push_back(e);
  }

  std::unique_ptr<grammar::Matcher> matcher;
  if (!a.json_schema.empty()) {
    if (!tok)
      throw CommandError{"run: --json-schema needs the tokenizer (use -p, not --prompt-ids)", 2};
    std::ifstream in(a.json_schema);
    if (!in) throw CommandError{"run: cannot read --json-schema file " + a.json_schema, 2};
    nlohmann::json schema = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (schema.is_discarded())
      throw CommandError{"run: --json-schema " + a.json_schema + " is not valid JSON", 2};
    auto vocab = grammar::Vocabulary::FromTokenizer(*tok, static_cast<int32_t>(V));
    if (!vocab.ok()) throw CommandError{"run: " + vocab.status().message(), 1};
    auto g = grammar::compile_json_schema(schema, std::move(vocab).value());
    if (!g.ok()) throw CommandError{"run: --json-schema: " + g.status().message(), 2};
    matcher = std::make_unique<grammar::Matcher>(std::move(g).value());
  }

  SingleSequence seq(*model, a.model, prompt.size() + a.max_tokens);
  std::vector<int32_t> cached;
  std::unique_ptr<tokenizer::StreamDecoder> dec;
  if (tok && !a.print_ids) dec = std::make_unique<tokenizer::StreamDecoder>(*tok, true);
  GenerationStats st = generate(
      seq, &cached, prompt, a.max_tokens, params, stop_ids,
      [&](int32_t id) {
        if (dec)
          std::fputs(dec->push(id).c_str(), stdout);
        else
          std::printf("%d ", id);
        std::fflush(stdout);
      },
      matcher.get());
  if (dec) std::fputs(dec->flush().c_str(), stdout);
  std::printf("\n");
  double decode_s = st.total_s - st.ttft_s;
  std::fprintf(
      stderr, "[%zu prompt tokens, %.1f ms to first token; %zu tokens, %.2f tokens/s decode; %s]\n",
      st.prompt_tokens, st.ttft_s * 1e3, st.output_tokens,
      st.output_tokens > 1 && decode_s > 0 ? (st.output_tokens - 1) / decode_s : 0.0,
      st.stopped ? "stop" : "length");
}

CommandRegistrar reg("run", "Generate from one prompt in the terminal", [](CLI::App* sub) {
  auto a = std::make_shared<RunArgs>();
  add_model_options(sub, &a->model);
  add_sampling_options(sub, &a->sampling);
  sub->add_option("-p,--prompt", a->prompt, "Prompt text (a user message unless --raw)");
  sub->add_option("--prompt-ids", a->prompt_ids, "Prompt as comma-separated token ids");
  sub->add_option("-s,--system", a->system, "System prompt (chat mode)");
  sub->add_flag("--raw", a->raw, "Feed the prompt as plain text, without the chat template");
  sub->add_option("-n,--max-tokens", a->max_tokens, "Tokens to generate")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_flag("--ignore-eos", a->ignore_eos, "Do not stop at end-of-sequence tokens");
  sub->add_flag("--print-ids", a->print_ids, "Print token ids instead of text");
  sub->add_option("--json-schema", a->json_schema,
                  "JSON Schema file: the answer is a JSON value valid against it");
  sub->callback([a] { run(*a); });
});

}  // namespace
}  // namespace qs::cli
