// Sampling/stop fields shared by chat and completions, the unsupported-field
// check, and model-name resolution.
#include <cstdint>
#include <limits>

#include "server/request_parsing.h"

namespace qs::server {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

void parse_stop(FieldReader& r, const ServerLimits& limits, std::vector<std::string>* out) {
  const nlohmann::json* v = r.raw("stop");
  if (!v) return;
  if (v->is_string()) {
    std::optional<std::string> s = r.string("stop");
    if (!s) return;
    if (s->empty()) return r.fail("stop must not be an empty string", "stop");
    out->push_back(std::move(*s));
    return;
  }
  if (!v->is_array()) {
    return r.fail(
        "stop must be a string or an array of strings, got " + std::string(json_type_name(*v)),
        "stop");
  }
  if (static_cast<int>(v->size()) > limits.max_stop) {
    return r.fail("stop may hold at most " + std::to_string(limits.max_stop) + " strings, got " +
                      std::to_string(v->size()),
                  "stop");
  }
  for (std::size_t i = 0; i < v->size(); ++i) {
    const std::string key = "stop[" + std::to_string(i) + "]";
    const nlohmann::json& e = (*v)[i];
    if (!e.is_string()) {
      return r.fail(key + " must be a string, got " + json_type_name(e), key);
    }
    std::string s = e.get<std::string>();
    if (s.empty()) return r.fail(key + " must not be empty", key);
    if (!is_valid_utf8(s)) return r.fail(key + " is not valid UTF-8", key);
    out->push_back(std::move(s));
  }
}

void parse_stop_token_ids(FieldReader& r, const ServerLimits& limits, std::vector<int64_t>* out) {
  const nlohmann::json* v = r.array("stop_token_ids");
  if (!v) return;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const std::string key = "stop_token_ids[" + std::to_string(i) + "]";
    const std::optional<int64_t> id = json_to_int64((*v)[i]);
    if (!id || *id < 0 || *id >= limits.vocab_size) {
      return r.fail(key + " must be a token id in [0, " + std::to_string(limits.vocab_size) +
                        "), got " + (*v)[i].dump(),
                    key);
    }
    out->push_back(*id);
  }
}
}  // namespace

void parse_sampling_fields(FieldReader& r, const ServerLimits& limits, SamplingFields* out) {
  out->max_tokens = r.integer("max_tokens", 1, limits.max_tokens);
  out->min_tokens = r.integer("min_tokens", 0, limits.max_tokens);
  out->temperature = r.number("temperature", 0.0, 2.0);
  out->top_p = r.number("top_p", 0.0, 1.0, /*lo_open=*/true);
  out->top_k = r.integer("top_k", -1, std::numeric_limits<int32_t>::max());
  if (out->top_k && *out->top_k < 0) out->top_k = 0;  // -1 and 0 both mean "off"
  out->min_p = r.number("min_p", 0.0, 1.0);
  out->presence_penalty = r.number("presence_penalty", -2.0, 2.0);
  out->frequency_penalty = r.number("frequency_penalty", -2.0, 2.0);
  out->repetition_penalty = r.number("repetition_penalty", 0.0, kInf, /*lo_open=*/true);
  out->seed = r.integer("seed", kI64Min, kI64Max);
  parse_stop(r, limits, &out->stop);
  parse_stop_token_ids(r, limits, &out->stop_token_ids);
  out->n = static_cast<int>(r.integer("n", 1, limits.max_n).value_or(1));
  out->stream = r.boolean("stream").value_or(false);
  if (const nlohmann::json* so = r.object("stream_options")) {
    if (!out->stream) {
      r.fail("stream_options is only allowed when stream is true", "stream_options");
    } else {
      FieldReader sr(*so, "stream_options.");
      out->include_usage = sr.boolean("include_usage").value_or(false);
      if (!sr.ok()) r.fail(sr.error());
    }
  }
  out->ignore_eos = r.boolean("ignore_eos").value_or(false);
  out->skip_special_tokens = r.boolean("skip_special_tokens").value_or(true);
  out->include_stop_str_in_output = r.boolean("include_stop_str_in_output").value_or(false);
  out->user = r.string("user").value_or("");

  if (!r.ok()) return;
  if (out->min_tokens && out->max_tokens && *out->min_tokens > *out->max_tokens) {
    return r.fail("min_tokens (" + std::to_string(*out->min_tokens) +
                      ") must not exceed max_tokens (" + std::to_string(*out->max_tokens) + ")",
                  "min_tokens");
  }
  // best_of picks the best of several samples by logprob; we only do n samples.
  if (std::optional<int64_t> best_of = r.integer("best_of", 1, kI64Max)) {
    if (*best_of != 1 && *best_of != out->n) {
      r.fail("best_of is not supported (only best_of == n)", "best_of");
    }
  }
}

void reject_unsupported_fields(FieldReader& r) {
  if (const nlohmann::json* lb = r.object("logit_bias")) {
    if (!lb->empty()) return r.fail("logit_bias is not supported", "logit_bias");
  }
  if (const nlohmann::json* v = r.raw("suffix")) {
    if (!v->is_string() || !v->get<std::string>().empty()) {
      return r.fail("suffix is not supported", "suffix");
    }
  }
  for (const char* key : {"functions", "function_call"}) {
    if (r.has(key)) {
      return r.fail(std::string(key) +
                        " is deprecated and not supported; use tools and "
                        "tool_choice",
                    key);
    }
  }
  if (r.has("audio")) return r.fail("audio output is not supported", "audio");
  if (const nlohmann::json* m = r.array("modalities")) {
    for (const auto& e : *m) {
      if (e != "text") return r.fail("only the \"text\" modality is supported", "modalities");
    }
  }
  if (r.boolean("use_beam_search").value_or(false)) {
    return r.fail("beam search is not supported", "use_beam_search");
  }
  if (r.integer("prompt_logprobs", 0, kI64Max).value_or(0) > 0) {
    return r.fail("prompt_logprobs is not supported", "prompt_logprobs");
  }
  for (const char* key : {"guided_json", "guided_regex", "guided_choice", "guided_grammar"}) {
    if (r.has(key)) {
      return r.fail(std::string(key) + " is not supported; use response_format", key);
    }
  }
  if (r.has("chat_template")) {
    return r.fail("a custom chat_template is not supported", "chat_template");
  }
}

ApiResult<std::string> resolve_model(const std::string& requested,
                                     const std::vector<std::string>& served) {
  if (requested.empty()) {
    if (served.empty()) return ApiError::Internal("no model is being served");
    return served.front();
  }
  for (const std::string& name : served) {
    if (name == requested) return name;
  }
  // Model names are matched without regard to ASCII case ("Qwen2.5-0.5B-Instruct").
  auto lower = [](std::string s) {
    for (char& c : s)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
  };
  for (const std::string& name : served) {
    if (lower(name) == lower(requested)) return name;
  }
  return ApiError::ModelNotFound(requested);
}

}  // namespace qs::server
