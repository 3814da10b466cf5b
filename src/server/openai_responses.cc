#include "server/openai_responses.h"

#include <chrono>
#include <random>

namespace qs::server {

using nlohmann::json;

std::string make_id(const std::string& prefix) {
  // One generator per thread, seeded from the OS: ids need to be unique, not secret.
  thread_local std::mt19937_64 rng{(static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                   std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = prefix;
  for (int w = 0; w < 2; ++w) {
    uint64_t x = rng();
    for (int k = 0; k < 16; ++k, x >>= 4) id.push_back(kHex[x & 0xF]);
  }
  return id;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string to_body(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json finish_reason_json(FinishReason r) {
  switch (r) {
    case FinishReason::kNone:
      return nullptr;
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kToolCalls:
      return "tool_calls";
  }
  return nullptr;
}

json usage_json(const Usage& u) {
  json j = {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  if (u.cached_tokens) j["prompt_tokens_details"] = {{"cached_tokens", *u.cached_tokens}};
  return j;
}

namespace {

json bytes_json(const std::vector<uint8_t>& b) {
  json arr = json::array();
  for (uint8_t x : b) arr.push_back(static_cast<int>(x));
  return arr;
}

json tool_calls_json(const std::vector<ToolCall>& calls) {
  json arr = json::array();
  for (const ToolCall& c : calls) {
    arr.push_back({{"id", c.id},
                   {"type", c.type},
                   {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  }
  return arr;
}

json header_json(const StreamHeader& h, const char* object) {
  json j = {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}};
  return j;
}

json chat_chunk(const StreamHeader& h, int index, json delta, json logprobs, FinishReason reason) {
  json j = header_json(h, "chat.completion.chunk");
  j["choices"] = json::array({{{"index", index},
                               {"delta", std::move(delta)},
                               {"logprobs", std::move(logprobs)},
                               {"finish_reason", finish_reason_json(reason)}}});
  if (h.include_usage) j["usage"] = nullptr;
  return j;
}

}  // namespace

json chat_logprobs_json(const std::vector<TokenLogprob>& tokens) {
  json content = json::array();
  for (const TokenLogprob& t : tokens) {
    json top = json::array();
    for (const TopLogprob& x : t.top) {
      top.push_back({{"token", x.token}, {"logprob", x.logprob}, {"bytes", bytes_json(x.bytes)}});
    }
    content.push_back({{"token", t.token},
                       {"logprob", t.logprob},
                       {"bytes", bytes_json(t.bytes)},
                       {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}};
}

json completion_logprobs_json(const std::vector<TokenLogprob>& tokens, int64_t first_offset) {
  json toks = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  int64_t offset = first_offset;
  for (const TokenLogprob& t : tokens) {
    toks.push_back(t.token);
    lps.push_back(t.logprob);
    json top = json::object();
    for (const TopLogprob& x : t.top) top[x.token] = x.logprob;
    tops.push_back(std::move(top));
    offs.push_back(offset);
    offset += static_cast<int64_t>(t.token.size());
  }
  return {{"tokens", std::move(toks)},
          {"token_logprobs", std::move(lps)},
          {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offs)}};
}

json chat_completion_json(const ChatCompletion& c) {
  json j = {
      {"id", c.id}, {"object", "chat.completion"}, {"created", c.created}, {"model", c.model}};
  json choices = json::array();
  for (const ChatChoice& ch : c.choices) {
    json msg = {{"role", "assistant"}};
    if (!ch.tool_calls.empty()) {
      msg["content"] = ch.content.empty() ? json(nullptr) : json(ch.content);
      msg["tool_calls"] = tool_calls_json(ch.tool_calls);
    } else {
      msg["content"] = ch.content;
    }
    choices.push_back({{"index", ch.index},
                       {"message", std::move(msg)},
                       {"logprobs", ch.logprobs ? chat_logprobs_json(*ch.logprobs) : json(nullptr)},
                       {"finish_reason", finish_reason_json(ch.finish_reason)}});
  }
  j["choices"] = std::move(choices);
  j["usage"] = usage_json(c.usage);
  return j;
}

json chat_chunk_role(const StreamHeader& h, int index) {
  return chat_chunk(h, index, {{"role", "assistant"}, {"content", ""}}, nullptr,
                    FinishReason::kNone);
}

json chat_chunk_content(const StreamHeader& h, int index, const std::string& text,
                        const std::vector<TokenLogprob>* logprobs) {
  return chat_chunk(h, index, {{"content", text}},
                    logprobs ? chat_logprobs_json(*logprobs) : json(nullptr), FinishReason::kNone);
}

json chat_chunk_tool_call(const StreamHeader& h, int index, int call_index, const std::string& id,
                          const std::string& name, const std::string& arguments_fragment) {
  json call = {{"index", call_index}};
  json fn = json::object();
  if (!id.empty()) {
    call["id"] = id;
    call["type"] = "function";
  }
  if (!name.empty()) fn["name"] = name;
  fn["arguments"] = arguments_fragment;
  call["function"] = std::move(fn);
  return chat_chunk(h, index, {{"tool_calls", json::array({std::move(call)})}}, nullptr,
                    FinishReason::kNone);
}

json chat_chunk_finish(const StreamHeader& h, int index, FinishReason reason) {
  return chat_chunk(h, index, json::object(), nullptr, reason);
}

json chat_chunk_usage(const StreamHeader& h, const Usage& u) {
  json j = header_json(h, "chat.completion.chunk");
  j["choices"] = json::array();
  j["usage"] = usage_json(u);
  return j;
}

namespace {
json completion_choice_json(const CompletionChoice& ch) {
  return {{"index", ch.index},
          {"text", ch.text},
          {"logprobs", ch.logprobs ? completion_logprobs_json(*ch.logprobs, ch.logprobs_text_offset)
                                   : json(nullptr)},
          {"finish_reason", finish_reason_json(ch.finish_reason)}};
}
}  // namespace

json completion_json(const Completion& c) {
  json j = {
      {"id", c.id}, {"object", "text_completion"}, {"created", c.created}, {"model", c.model}};
  json choices = json::array();
  for (const CompletionChoice& ch : c.choices) choices.push_back(completion_choice_json(ch));
  j["choices"] = std::move(choices);
  j["usage"] = usage_json(c.usage);
  return j;
}

json completion_chunk(const StreamHeader& h, const CompletionChoice& choice) {
  json j = header_json(h, "text_completion");
  j["choices"] = json::array({completion_choice_json(choice)});
  if (h.include_usage) j["usage"] = nullptr;
  return j;
}

json completion_chunk_usage(const StreamHeader& h, const Usage& u) {
  json j = header_json(h, "text_completion");
  j["choices"] = json::array();
  j["usage"] = usage_json(u);
  return j;
}

json model_json(const ModelCard& m) {
  json j = {{"id", m.id}, {"object", "model"}, {"created", m.created}, {"owned_by", m.owned_by}};
  if (m.max_model_len > 0) j["max_model_len"] = m.max_model_len;
  return j;
}

json models_list_json(const std::vector<ModelCard>& models) {
  json data = json::array();
  for (const ModelCard& m : models) data.push_back(model_json(m));
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace qs::server
