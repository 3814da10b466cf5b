// OpenAI-compatible request shapes (/v1/chat/completions, /v1/completions) and
// their parsers. Parsing validates everything the engine relies on and returns
// an ApiError (HTTP status + the offending param) otherwise. Unknown fields are
// ignored (clients send extras); known fields that would change the meaning of
// the request and that we do not implement (logit_bias, suffix, ...) are rejected.
// The model name is NOT checked here: the caller uses resolve_model().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/openai_errors.h"

namespace qs::server {

struct ServerLimits {
  std::size_t max_body_bytes = 8u << 20;  // 8 MiB
  int max_json_depth = 128;               // [ / { nesting of the body
  int64_t max_tokens = 32768;             // cap on max_tokens / max_completion_tokens
  int max_n = 8;                          // cap on n (choices per request)
  int max_top_logprobs = 20;              // chat top_logprobs cap (OpenAI: 20)
  int max_completion_logprobs = 5;        // completions logprobs cap (OpenAI: 5)
  int max_stop = 4;                       // stop strings per request (OpenAI: 4)
  int64_t vocab_size = 151936;            // token ids must be < this (Qwen2.5)
};

// Sampling and stopping fields shared by chat and completions. Unset optionals
// mean "use the model's generation_config default"; the engine fills them in.
struct SamplingFields {
  std::optional<int64_t> max_tokens;         // >= 1, <= limits.max_tokens
  std::optional<int64_t> min_tokens;         // vLLM extension, 0..max_tokens
  std::optional<double> temperature;         // [0, 2]; 0 = greedy
  std::optional<double> top_p;               // (0, 1]
  std::optional<int64_t> top_k;              // 0 = off (the request's -1 is stored as 0), else >= 1
  std::optional<double> min_p;               // [0, 1]
  std::optional<double> presence_penalty;    // [-2, 2]
  std::optional<double> frequency_penalty;   // [-2, 2]
  std::optional<double> repetition_penalty;  // (0, inf); 1 = off
  std::optional<int64_t> seed;
  std::vector<std::string> stop;        // 0..max_stop non-empty strings
  std::vector<int64_t> stop_token_ids;  // vLLM extension
  int n = 1;                            // 1..limits.max_n
  bool stream = false;
  bool include_usage = false;               // stream_options.include_usage
  bool ignore_eos = false;                  // vLLM extension
  bool skip_special_tokens = true;          // vLLM extension
  bool include_stop_str_in_output = false;  // vLLM extension
  std::string user;
};

enum class Role { kSystem, kUser, kAssistant, kTool };
const char* role_name(Role r);

struct ToolCall {
  std::string id;
  std::string type = "function";
  std::string name;       // function.name
  std::string arguments;  // function.arguments: a JSON text, as the model wrote it
};

struct ChatMessage {
  Role role = Role::kUser;    // "developer" is read as kSystem
  std::string content;        // text parts concatenated
  bool content_null = false;  // assistant with tool_calls and content null/absent
  std::string name;
  std::vector<ToolCall> tool_calls;  // assistant only
  std::string tool_call_id;          // tool only
};

struct ToolDef {
  std::string name;  // [A-Za-z0-9_-]{1,64}
  std::string description;
  nlohmann::json parameters = nlohmann::json::object();  // a JSON schema object
  bool strict = false;
};

struct ToolChoice {
  enum class Mode { kNone, kAuto, kRequired, kFunction };
  Mode mode = Mode::kNone;    // default: kAuto when tools are given, else kNone
  std::string function_name;  // kFunction only; names one of `tools`
};

struct ResponseFormat {
  enum class Type { kText, kJsonObject, kJsonSchema };
  Type type = Type::kText;
  std::string schema_name;  // json_schema.name
  nlohmann::json schema;    // json_schema.schema (an object); null if not given
  bool strict = false;      // json_schema.strict
};

struct ChatCompletionRequest {
  std::string model;                  // "" when absent (resolve_model picks the default)
  std::vector<ChatMessage> messages;  // non-empty
  SamplingFields sampling;
  bool logprobs = false;
  int top_logprobs = 0;  // 0..limits.max_top_logprobs; needs logprobs
  std::vector<ToolDef> tools;
  ToolChoice tool_choice;
  bool parallel_tool_calls = true;
  ResponseFormat response_format;
  bool add_generation_prompt = true;    // vLLM extension
  bool continue_final_message = false;  // vLLM extension; excludes add_generation_prompt
};

struct CompletionRequest {
  std::string model;
  // Exactly one of these is set: the prompt as text, or as token ids.
  std::optional<std::string> prompt_text;
  std::vector<int64_t> prompt_tokens;
  bool echo = false;
  SamplingFields sampling;      // max_tokens defaults to 16 here (OpenAI's default)
  std::optional<int> logprobs;  // 0..limits.max_completion_logprobs; unset = none
};

ApiResult<ChatCompletionRequest> parse_chat_request(std::string_view body,
                                                    const ServerLimits& limits);
ApiResult<CompletionRequest> parse_completion_request(std::string_view body,
                                                      const ServerLimits& limits);

// The model a request asked for, checked against the names this server
// serves: "" picks served[0]; an unknown name is 400 model_not_found.
ApiResult<std::string> resolve_model(const std::string& requested,
                                     const std::vector<std::string>& served);

}  // namespace qs::server
