#include "server/request_builder.h"

#include <string>

#include "tokenizer/chat_template.h"

namespace qs::server {

namespace {

// Request fields, else generation_config.json, else the neutral value.
ApiResult<sampling::SamplingParams> resolve_sampling(const SamplingFields& f,
                                                     const GenerationConfig& d) {
  sampling::SamplingParams p;
  p.temperature = static_cast<float>(f.temperature.value_or(d.temperature.value_or(1.0)));
  if (!f.temperature && d.do_sample.has_value() && !*d.do_sample) p.temperature = 0.0f;
  p.top_p = static_cast<float>(f.top_p.value_or(d.top_p.value_or(1.0)));
  p.top_k = static_cast<int32_t>(f.top_k.value_or(d.top_k.value_or(0)));
  p.min_p = static_cast<float>(f.min_p.value_or(d.min_p.value_or(0.0)));
  p.repetition_penalty =
      static_cast<float>(f.repetition_penalty.value_or(d.repetition_penalty.value_or(1.0)));
  p.presence_penalty = static_cast<float>(f.presence_penalty.value_or(0.0));
  p.frequency_penalty = static_cast<float>(f.frequency_penalty.value_or(0.0));
  if (f.seed) p.seed = static_cast<uint64_t>(*f.seed);
  Status s = p.validate();
  if (!s.ok()) return ApiError::InvalidRequest(s.message());
  return p;
}

// The length checks and the stop settings shared by chat and completions.
ApiResult<GenerationJob> make_job(std::vector<int32_t> prompt, const SamplingFields& f,
                                  const Backend& b, const char* what) {
  const int64_t P = static_cast<int64_t>(prompt.size());
  const int64_t L = b.max_model_len;
  if (P == 0) return ApiError::InvalidRequest(std::string("the ") + what + " is empty", what);
  if (P >= L) {
    return ApiError::InvalidRequest(
        "This model's maximum context length is " + std::to_string(L) + " tokens. However, your " +
            what + " has " + std::to_string(P) +
            " tokens, which leaves no room for the completion. Please reduce the length of the " +
            what + ".",
        what, "context_length_exceeded");
  }
  if (f.max_tokens && P + *f.max_tokens > L) {
    return ApiError::InvalidRequest(
        "This model's maximum context length is " + std::to_string(L) +
            " tokens. However, you requested " + std::to_string(P + *f.max_tokens) + " tokens (" +
            std::to_string(P) + " in the " + what + ", " + std::to_string(*f.max_tokens) +
            " in the completion). Please reduce the length of the " + what + " or completion.",
        "max_tokens", "context_length_exceeded");
  }
  ApiResult<sampling::SamplingParams> params = resolve_sampling(f, b.defaults);
  if (!params.ok()) return params.error();
  GenerationJob job;
  job.prompt = std::move(prompt);
  job.params = *params;
  job.max_tokens = f.max_tokens ? static_cast<int32_t>(*f.max_tokens) : -1;
  job.min_tokens = static_cast<int32_t>(f.min_tokens.value_or(0));
  if (!f.ignore_eos) job.stop_ids = b.eos_ids;
  for (int64_t id : f.stop_token_ids) {
    if (id < 0 || id >= b.vocab_size)
      return ApiError::InvalidRequest("stop_token_ids: " + std::to_string(id) +
                                          " is outside the vocabulary [0, " +
                                          std::to_string(b.vocab_size) + ")",
                                      "stop_token_ids");
    job.stop_ids.push_back(static_cast<int32_t>(id));
  }
  job.stop = f.stop;
  job.include_stop = f.include_stop_str_in_output;
  job.skip_special = f.skip_special_tokens;
  job.n = f.n;
  return job;
}

nlohmann::ordered_json tools_json(const std::vector<ToolDef>& tools) {
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const ToolDef& t : tools) {
    nlohmann::ordered_json fn;
    fn["name"] = t.name;
    if (!t.description.empty()) fn["description"] = t.description;
    fn["parameters"] = nlohmann::ordered_json::parse(t.parameters.dump());
    nlohmann::ordered_json tool;
    tool["type"] = "function";
    tool["function"] = std::move(fn);
    arr.push_back(std::move(tool));
  }
  return arr;
}

}  // namespace

ApiResult<std::vector<int32_t>> encode_chat_prompt(const std::vector<ChatMessage>& messages,
                                                   const std::vector<ToolDef>* tools,
                                                   bool add_generation_prompt,
                                                   bool continue_final_message,
                                                   const tokenizer::Tokenizer& tok) {
  std::vector<tokenizer::ChatMessage> msgs;
  msgs.reserve(messages.size());
  for (const ChatMessage& m : messages) {
    tokenizer::ChatMessage t;
    t.role = role_name(m.role);
    if (!m.content_null) t.content = m.content;
    for (const ToolCall& c : m.tool_calls)
      t.tool_calls.push_back(tokenizer::ChatToolCall::FromOpenAI(c.name, c.arguments));
    msgs.push_back(std::move(t));
  }
  nlohmann::ordered_json tj;
  if (tools && !tools->empty()) tj = tools_json(*tools);
  auto segs = tokenizer::render_chat_segments(msgs, tools && !tools->empty() ? &tj : nullptr,
                                              add_generation_prompt && !continue_final_message);
  if (!segs.ok()) return ApiError::InvalidRequest(segs.status().message(), "messages");
  std::vector<tokenizer::TextSegment> s = std::move(segs).value();
  if (continue_final_message) {
    // The template closes every turn with "<|im_end|>\n": reopen the last one.
    if (!s.empty() && !s.back().special && s.back().text == "\n") s.pop_back();
    if (!s.empty() && s.back().special && s.back().text == "<|im_end|>") s.pop_back();
  }
  auto ids = tok.encode_segments(s);
  if (!ids.ok()) return ApiError::InvalidRequest(ids.status().message(), "messages");
  return std::move(ids).value();
}

// The grammar that constrains a chat answer: a forced tool call (tool_choice
// required / a named function) first, then response_format, then tool_choice
// auto (free text, but a started <tool_call> block must be well formed).
static ApiResult<grammar::GrammarPtr> chat_grammar(const ChatCompletionRequest& req,
                                                   const Backend& b, bool use_tools) {
  const ToolChoice::Mode mode = req.tool_choice.mode;
  const bool forced =
      use_tools && (mode == ToolChoice::Mode::kRequired || mode == ToolChoice::Mode::kFunction);
  const bool json = req.response_format.type != ResponseFormat::Type::kText;
  const bool auto_tools = use_tools && mode == ToolChoice::Mode::kAuto;
  if (!forced && !json && !auto_tools) return grammar::GrammarPtr();
  if (!b.grammars) {
    if (auto_tools && !forced && !json) return grammar::GrammarPtr();
    return ApiError::InvalidRequest("structured output is not available on this server",
                                    forced ? "tool_choice" : "response_format");
  }
  if (forced || auto_tools) {
    std::vector<grammar::ToolSpec> specs;
    for (const ToolDef& t : req.tools) specs.push_back({t.name, t.parameters});
    grammar::ToolMode m = mode == ToolChoice::Mode::kRequired   ? grammar::ToolMode::kRequired
                          : mode == ToolChoice::Mode::kFunction ? grammar::ToolMode::kNamed
                                                                : grammar::ToolMode::kAuto;
    if (forced || !json) {
      Result<grammar::GrammarPtr> g =
          b.grammars->tool_call(specs, m, req.tool_choice.function_name);
      if (g.ok()) return std::move(g).value();
      // auto: a tool whose parameters the grammar cannot express leaves the answer unconstrained.
      if (!forced) return grammar::GrammarPtr();
      return ApiError::InvalidRequest("tools: " + g.status().message(), "tools");
    }
  }
  Result<grammar::GrammarPtr> g = grammar::GrammarPtr();
  if (req.response_format.type == ResponseFormat::Type::kJsonObject) {
    g = b.grammars->any_json_object();
  } else {
    const nlohmann::json& schema = req.response_format.schema;
    g = b.grammars->json_schema(schema.is_null() ? nlohmann::json::object() : schema);
  }
  if (!g.ok())
    return ApiError::InvalidRequest("response_format.json_schema.schema: " + g.status().message(),
                                    req.response_format.type == ResponseFormat::Type::kJsonObject
                                        ? "response_format"
                                        : "response_format.json_schema.schema");
  return std::move(g).value();
}

ApiResult<GenerationJob> build_chat_job(const ChatCompletionRequest& req, const Backend& b) {
  const bool use_tools = !req.tools.empty() && req.tool_choice.mode != ToolChoice::Mode::kNone;
  ApiResult<std::vector<int32_t>> prompt =
      encode_chat_prompt(req.messages, use_tools ? &req.tools : nullptr, req.add_generation_prompt,
                         req.continue_final_message, *b.tokenizer);
  if (!prompt.ok()) return prompt.error();
  ApiResult<GenerationJob> job = make_job(std::move(prompt).value(), req.sampling, b, "messages");
  if (!job.ok()) return job;
  job->params.logprobs = req.logprobs;
  job->params.top_logprobs = req.top_logprobs;
  job->parse_tools = use_tools;
  ApiResult<grammar::GrammarPtr> g = chat_grammar(req, b, use_tools);
  if (!g.ok()) return g.error();
  job->grammar = std::move(g).value();
  return job;
}

ApiResult<GenerationJob> build_completion_job(const CompletionRequest& req, const Backend& b,
                                              std::string* prompt_text) {
  std::vector<int32_t> prompt;
  if (req.prompt_text) {
    // A raw prompt may spell special tokens ("<|im_start|>"), as with HF and vLLM.
    prompt = b.tokenizer->encode(*req.prompt_text, /*allow_special=*/true);
    *prompt_text = *req.prompt_text;
  } else {
    for (int64_t id : req.prompt_tokens) {
      if (id < 0 || id >= b.vocab_size)
        return ApiError::InvalidRequest("prompt token " + std::to_string(id) +
                                            " is outside the vocabulary [0, " +
                                            std::to_string(b.vocab_size) + ")",
                                        "prompt");
      prompt.push_back(static_cast<int32_t>(id));
    }
    *prompt_text = b.tokenizer->decode(prompt);
  }
  ApiResult<GenerationJob> job = make_job(std::move(prompt), req.sampling, b, "prompt");
  if (!job.ok()) return job;
  if (req.logprobs) {
    job->params.logprobs = true;
    job->params.top_logprobs = *req.logprobs;
  }
  return job;
}

}  // namespace qs::server
