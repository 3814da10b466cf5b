// OpenAI-compatible response bodies: chat.completion, chat.completion.chunk,
// text_completion (whole and streamed), the /v1/models list, and ids.
// Builders return nlohmann::json; to_body() serializes (compact, one line,
// invalid UTF-8 replaced rather than thrown on).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/openai_protocol.h"

namespace qs::server {

// prefix + 32 random hex digits, e.g. "chatcmpl-9f0c...". Thread-safe.
std::string make_id(const std::string& prefix);
// Seconds since the Unix epoch.
int64_t unix_now();
// Compact serialization used for every body and SSE event.
std::string to_body(const nlohmann::json& j);

enum class FinishReason { kNone, kStop, kLength, kToolCalls };
// "stop" / "length" / "tool_calls"; kNone -> null.
nlohmann::json finish_reason_json(FinishReason r);

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::optional<int64_t> cached_tokens;  // prompt tokens served from the prefix cache
};
// {prompt_tokens, completion_tokens, total_tokens[, prompt_tokens_details{cached_tokens}]}
nlohmann::json usage_json(const Usage& u);

struct TopLogprob {
  std::string token;  // decoded text of the token (may be a partial UTF-8 sequence)
  double logprob = 0;
  std::vector<uint8_t> bytes;  // the token's raw bytes
};
struct TokenLogprob {
  std::string token;
  double logprob = 0;
  std::vector<uint8_t> bytes;
  std::vector<TopLogprob> top;  // most likely first
};
// Chat logprobs: {"content": [{token, logprob, bytes, top_logprobs:[...]}]}.
nlohmann::json chat_logprobs_json(const std::vector<TokenLogprob>& tokens);
// Completions logprobs: {tokens, token_logprobs, top_logprobs:[{tok: lp}], text_offset}.
// text_offset[i] = first_offset + byte length of tokens[0..i).
nlohmann::json completion_logprobs_json(const std::vector<TokenLogprob>& tokens,
                                        int64_t first_offset = 0);

// --- chat.completion -------------------------------------------------------
struct ChatChoice {
  int index = 0;
  std::string content;
  std::vector<ToolCall> tool_calls;                   // non-empty: content is null when it is ""
  std::optional<std::vector<TokenLogprob>> logprobs;  // nullopt -> "logprobs": null
  FinishReason finish_reason = FinishReason::kStop;
};
struct ChatCompletion {
  std::string id;  // make_id("chatcmpl-")
  int64_t created = 0;
  std::string model;
  std::vector<ChatChoice> choices;
  Usage usage;
};
nlohmann::json chat_completion_json(const ChatCompletion& c);

// --- chat.completion.chunk (streaming) ----------------------------------------
// The fields every chunk of one stream shares. With include_usage every chunk
// carries "usage": null and the last one (usage_chunk) the totals.
struct StreamHeader {
  std::string id;
  int64_t created = 0;
  std::string model;
  bool include_usage = false;
};
// delta {role:"assistant", content:""}: the first chunk of each choice.
nlohmann::json chat_chunk_role(const StreamHeader& h, int index);
// delta {content: text}; logprobs for the tokens of this piece (or null).
nlohmann::json chat_chunk_content(const StreamHeader& h, int index, const std::string& text,
                                  const std::vector<TokenLogprob>* logprobs = nullptr);
// A tool-call delta. The first delta of call `call_index` carries id, type and
// name (pass them); later ones only arguments fragments (pass "" for id/name).
nlohmann::json chat_chunk_tool_call(const StreamHeader& h, int index, int call_index,
                                    const std::string& id, const std::string& name,
                                    const std::string& arguments_fragment);
// Empty delta with the finish reason: the last chunk of each choice.
nlohmann::json chat_chunk_finish(const StreamHeader& h, int index, FinishReason reason);
// choices [] and the usage totals: after every choice finished, before [DONE].
nlohmann::json chat_chunk_usage(const StreamHeader& h, const Usage& u);

// --- text_completion ---------------------------------------------------------
struct CompletionChoice {
  int index = 0;
  std::string text;
  std::optional<std::vector<TokenLogprob>> logprobs;
  int64_t logprobs_text_offset = 0;  // text_offset of the first logprob token
  FinishReason finish_reason = FinishReason::kStop;
};
struct Completion {
  std::string id;  // make_id("cmpl-")
  int64_t created = 0;
  std::string model;
  std::vector<CompletionChoice> choices;
  Usage usage;
};
nlohmann::json completion_json(const Completion& c);
// Streamed text_completion: one choice with a text piece; finish_reason kNone
// while generating, set on the last chunk (text may be "").
nlohmann::json completion_chunk(const StreamHeader& h, const CompletionChoice& choice);
nlohmann::json completion_chunk_usage(const StreamHeader& h, const Usage& u);

// --- /v1/models --------------------------------------------------------------
struct ModelCard {
  std::string id;
  int64_t created = 0;
  std::string owned_by = "qwenserve";
  int64_t max_model_len = 0;  // 0 -> omitted
};
// {object:"list", data:[{id, object:"model", created, owned_by[, max_model_len]}]}
nlohmann::json models_list_json(const std::vector<ModelCard>& models);
nlohmann::json model_json(const ModelCard& m);

}  // namespace qs::server
