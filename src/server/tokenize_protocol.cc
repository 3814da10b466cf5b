#include "server/tokenize_protocol.h"

#include "server/request_parsing.h"

namespace qs::server {

ApiResult<TokenizeRequest> parse_tokenize_request(std::string_view body,
                                                  const ServerLimits& limits) {
  ApiResult<nlohmann::json> parsed =
      parse_json_object(body, limits.max_body_bytes, limits.max_json_depth);
  if (!parsed.ok()) return parsed.error();
  FieldReader r(*parsed, "");
  TokenizeRequest req;
  req.model = r.string("model").value_or("");
  const bool has_prompt = r.has("prompt"), has_messages = r.has("messages");
  if (has_prompt == has_messages) {
    return ApiError::InvalidRequest("give exactly one of prompt and messages",
                                    has_prompt ? "messages" : "prompt");
  }
  if (has_prompt) {
    req.prompt = r.string("prompt");
    req.add_special_tokens = r.boolean("add_special_tokens").value_or(true);
  } else {
    parse_messages(r, &req.messages);
    parse_tools(r, &req.tools);
    req.add_generation_prompt = r.boolean("add_generation_prompt").value_or(true);
    req.continue_final_message = r.boolean("continue_final_message").value_or(false);
    if (req.continue_final_message) req.add_generation_prompt = false;
    req.add_special_tokens = r.boolean("add_special_tokens").value_or(false);
  }
  req.return_token_strs = r.boolean("return_token_strs").value_or(false);
  if (!r.ok()) return r.error();
  return req;
}

ApiResult<DetokenizeRequest> parse_detokenize_request(std::string_view body,
                                                      const ServerLimits& limits) {
  ApiResult<nlohmann::json> parsed =
      parse_json_object(body, limits.max_body_bytes, limits.max_json_depth);
  if (!parsed.ok()) return parsed.error();
  FieldReader r(*parsed, "");
  DetokenizeRequest req;
  req.model = r.string("model").value_or("");
  const nlohmann::json* arr = r.array("tokens");
  if (!r.ok()) return r.error();
  if (!arr) return ApiError::InvalidRequest("tokens is required", "tokens");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const std::optional<int64_t> id = json_to_int64((*arr)[i]);
    if (!(*arr)[i].is_number() || !id || *id < 0 || *id >= limits.vocab_size) {
      const std::string key = "tokens[" + std::to_string(i) + "]";
      return ApiError::InvalidRequest(key + " must be a token id in [0, " +
                                          std::to_string(limits.vocab_size) + "), got " +
                                          (*arr)[i].dump(),
                                      key);
    }
    req.tokens.push_back(*id);
  }
  return req;
}

nlohmann::json tokenize_response_json(const std::vector<int64_t>& tokens, int64_t max_model_len,
                                      const std::vector<std::string>* token_strs) {
  return {{"count", tokens.size()},
          {"max_model_len", max_model_len},
          {"tokens", tokens},
          {"token_strs", token_strs ? nlohmann::json(*token_strs) : nlohmann::json(nullptr)}};
}

nlohmann::json detokenize_response_json(const std::string& prompt) { return {{"prompt", prompt}}; }

}  // namespace qs::server
