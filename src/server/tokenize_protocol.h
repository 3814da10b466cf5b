// vLLM's /tokenize and /detokenize shapes.
//   POST /tokenize   {"prompt": "..."}  or  {"messages": [...]} (+ options)
//                 -> {"count", "max_model_len", "tokens": [...], "token_strs": [...]|null}
//   POST /detokenize {"tokens": [...]} -> {"prompt": "..."}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/openai_protocol.h"

namespace qs::server {

struct TokenizeRequest {
  std::string model;
  // Exactly one: a raw prompt, or chat messages to render with the template.
  std::optional<std::string> prompt;
  std::vector<ChatMessage> messages;
  std::vector<ToolDef> tools;           // chat form only
  bool add_generation_prompt = true;    // chat form only
  bool continue_final_message = false;  // chat form only
  bool add_special_tokens = true;       // vLLM default: true for prompt, false for chat
  bool return_token_strs = false;
};

struct DetokenizeRequest {
  std::string model;
  std::vector<int64_t> tokens;  // each in [0, limits.vocab_size)
};

ApiResult<TokenizeRequest> parse_tokenize_request(std::string_view body,
                                                  const ServerLimits& limits);
ApiResult<DetokenizeRequest> parse_detokenize_request(std::string_view body,
                                                      const ServerLimits& limits);

// token_strs: pass nullptr unless the request asked for them (-> null).
nlohmann::json tokenize_response_json(const std::vector<int64_t>& tokens, int64_t max_model_len,
                                      const std::vector<std::string>* token_strs);
nlohmann::json detokenize_response_json(const std::string& prompt);

}  // namespace qs::server
