// qwenserve chat: an interactive multi-turn chat in the terminal. The KV cache
// of earlier turns is reused: each turn only computes the new tokens.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command_registry.h"
#include "cli/generation.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/stream_decoder.h"

namespace qs::cli {
namespace {

struct ChatArgs {
  ModelArgs model;
  SamplingArgs sampling;
  std::string system;
  int max_tokens = 512;
  int context = 8192;
};

void chat(const ChatArgs& a) {
  auto model = load_model_or_throw(a.model);
  auto tok = load_tokenizer_or_throw(a.model.dir);
  sampling::SamplingParams params =
      resolve_sampling(a.sampling, load_generation_defaults(a.model.dir));
  SingleSequence seq(*model, a.model, a.context);
  std::vector<int32_t> cached;
  std::vector<tokenizer::ChatMessage> history;
  if (!a.system.empty()) history.push_back({"system", a.system, {}});
  std::fprintf(stderr,
               "qwenserve chat: type a message; /reset clears the history, Ctrl-D quits.\n");
  std::string line;
  while (std::fprintf(stderr, "> "), std::getline(std::cin, line)) {
    if (line == "/reset") {
      history.resize(a.system.empty() ? 0 : 1);
      continue;
    }
    if (line.empty()) continue;
    history.push_back({"user", line, {}});
    auto segs = tokenizer::render_chat_segments(history, nullptr, true);
    if (!segs.ok()) throw CommandError{segs.status().message(), 1};
    auto ids = tok->encode_segments(segs.value());
    if (!ids.ok()) throw CommandError{ids.status().message(), 1};
    if (ids->size() + a.max_tokens > static_cast<size_t>(a.context)) {
      std::fprintf(stderr, "(the conversation is longer than --context %d; /reset to start over)\n",
                   a.context);
      history.pop_back();
      continue;
    }
    tokenizer::StreamDecoder dec(*tok, true);
    std::string answer;
    GenerationStats st =
        generate(seq, &cached, ids.value(), a.max_tokens, params, tok->stop_ids(), [&](int32_t id) {
          std::string piece = dec.push(id);
          answer += piece;
          std::fputs(piece.c_str(), stdout);
          std::fflush(stdout);
        });
    std::string rest = dec.flush();
    answer += rest;
    std::printf("%s\n", rest.c_str());
    std::fprintf(stderr, "[%zu tokens, %zu reused from the cache, %.1f tokens/s]\n",
                 st.output_tokens, st.reused_tokens,
                 st.total_s > st.ttft_s ? (st.output_tokens - 1) / (st.total_s - st.ttft_s) : 0.0);
    history.push_back({"assistant", answer, {}});
  }
}

CommandRegistrar reg("chat", "Interactive multi-turn chat in the terminal", [](CLI::App* sub) {
  auto a = std::make_shared<ChatArgs>();
  add_model_options(sub, &a->model);
  add_sampling_options(sub, &a->sampling);
  sub->add_option("-s,--system", a->system, "System prompt");
  sub->add_option("-n,--max-tokens", a->max_tokens, "Tokens per answer");
  sub->add_option("--context", a->context, "Context length (KV cache) of the conversation");
  sub->callback([a] { chat(*a); });
});

}  // namespace
}  // namespace qs::cli
