// POST /v1/completions request: prompt (text or token ids), echo, logprobs.
#include "server/request_parsing.h"

namespace qs::server {

namespace {

// A JSON array of token ids -> *out, each in [0, vocab_size).
void parse_token_ids(FieldReader& r, const nlohmann::json& arr, const std::string& key,
                     int64_t vocab_size, std::vector<int64_t>* out) {
  if (arr.empty()) return r.fail(key + " must not be empty", key);
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::optional<int64_t> id = json_to_int64(arr[i]);
    if (!arr[i].is_number() || !id || *id < 0 || *id >= vocab_size) {
      const std::string ek = key + "[" + std::to_string(i) + "]";
      return r.fail(ek + " must be a token id in [0, " + std::to_string(vocab_size) + "), got " +
                        arr[i].dump(),
                    ek);
    }
    out->push_back(*id);
  }
}

// prompt: "text" | ["text"] | [id, ...] | [[id, ...]]. Several prompts in one
// request (batching) are rejected: send one request per prompt.
void parse_prompt(FieldReader& r, const ServerLimits& limits, CompletionRequest* req) {
  const nlohmann::json* v = r.raw("prompt");
  if (!v) return r.fail("prompt is required", "prompt");
  if (v->is_string()) {
    req->prompt_text = r.string("prompt");
    if (req->prompt_text && req->prompt_text->empty()) r.fail("prompt must not be empty", "prompt");
    return;
  }
  if (!v->is_array()) {
    return r.fail(
        "prompt must be a string, an array of token ids, or an array of one string, got " +
            std::string(json_type_name(*v)),
        "prompt");
  }
  if (v->empty()) return r.fail("prompt must not be empty", "prompt");
  if ((*v)[0].is_number())
    return parse_token_ids(r, *v, "prompt", limits.vocab_size, &req->prompt_tokens);
  if (v->size() > 1) {
    return r.fail("only one prompt per request is supported, got " + std::to_string(v->size()),
                  "prompt");
  }
  const nlohmann::json& only = (*v)[0];
  if (only.is_string()) {
    std::string s = only.get<std::string>();
    if (!is_valid_utf8(s)) return r.fail("prompt[0] is not valid UTF-8", "prompt[0]");
    if (s.empty()) return r.fail("prompt[0] must not be empty", "prompt[0]");
    req->prompt_text = std::move(s);
  } else if (only.is_array()) {
    parse_token_ids(r, only, "prompt[0]", limits.vocab_size, &req->prompt_tokens);
  } else {
    r.fail("prompt[0] must be a string or an array of token ids, got " +
               std::string(json_type_name(only)),
           "prompt[0]");
  }
}

}  // namespace

ApiResult<CompletionRequest> parse_completion_request(std::string_view body,
                                                      const ServerLimits& limits) {
  ApiResult<nlohmann::json> parsed =
      parse_json_object(body, limits.max_body_bytes, limits.max_json_depth);
  if (!parsed.ok()) return parsed.error();
  FieldReader r(*parsed, "");
  CompletionRequest req;
  req.model = r.string("model").value_or("");
  parse_prompt(r, limits, &req);
  reject_unsupported_fields(r);
  parse_sampling_fields(r, limits, &req.sampling);
  if (!req.sampling.max_tokens && r.ok()) req.sampling.max_tokens = 16;  // OpenAI's default
  req.echo = r.boolean("echo").value_or(false);
  if (auto lp = r.integer("logprobs", 0, limits.max_completion_logprobs)) {
    req.logprobs = static_cast<int>(*lp);
  }
  if (!r.ok()) return r.error();
  if (req.sampling.min_tokens && *req.sampling.min_tokens > *req.sampling.max_tokens) {
    return ApiError::InvalidRequest("min_tokens must not exceed max_tokens", "min_tokens");
  }
  return req;
}

}  // namespace qs::server
