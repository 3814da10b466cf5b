#include "formats/hf_config.h"

#include <cmath>

#include "core/mapped_file.h"
#include "formats/json_fields.h"

namespace qs {

using nlohmann::json;
namespace jf = json_fields;

namespace {

Status parse_rope_scaling(const json& obj, const std::string& file, RopeScaling* rs) {
  const std::string f = "rope_scaling";
  if (!obj.is_object()) return jf::field_error(file, f, "is not a JSON object");
  const std::string ctx = file + ": rope_scaling";  // "<file>: rope_scaling: field 'factor': ..."
  std::string type, rope_type;
  QS_RETURN_IF_ERROR(jf::get_string(obj, "type", ctx, &type));
  QS_RETURN_IF_ERROR(jf::get_string(obj, "rope_type", ctx, &rope_type));
  rs->type = !rope_type.empty() ? rope_type : (!type.empty() ? type : "");
  if (rs->type.empty()) return jf::field_error(file, f, "has no 'rope_type' or 'type'");
  if (rs->type != "default" && rs->type != "linear" && rs->type != "yarn")
    return jf::field_error(
        file, f, "type '" + rs->type + "' is not supported (supported: default, linear, yarn)");
  if (rs->type == "default") return Status::Ok();
  if (!jf::has(obj, "factor")) return jf::field_error(file, f, "'" + rs->type + "' needs 'factor'");
  QS_RETURN_IF_ERROR(jf::get_double(obj, "factor", ctx, &rs->factor));
  if (!(rs->factor > 0)) return jf::field_error(file, "rope_scaling.factor", "must be > 0");
  if (rs->type == "yarn") {
    QS_RETURN_IF_ERROR(jf::get_int(obj, "original_max_position_embeddings", ctx,
                                   &rs->original_max_position_embeddings));
    if (rs->original_max_position_embeddings && *rs->original_max_position_embeddings <= 0)
      return jf::field_error(file, "rope_scaling.original_max_position_embeddings", "must be > 0");
    std::optional<double> bf, bs;
    QS_RETURN_IF_ERROR(jf::get_double(obj, "beta_fast", ctx, &bf));
    QS_RETURN_IF_ERROR(jf::get_double(obj, "beta_slow", ctx, &bs));
    // transformers: `rope_scaling.get("beta_fast") or 32`, so 0 also means default.
    if (bf && *bf != 0) rs->beta_fast = *bf;
    if (bs && *bs != 0) rs->beta_slow = *bs;
    if (!(rs->beta_fast > 0) || !(rs->beta_slow > 0))
      return jf::field_error(file, "rope_scaling.beta_fast/beta_slow", "must be > 0");
    QS_RETURN_IF_ERROR(jf::get_double(obj, "attention_factor", ctx, &rs->attention_factor));
    QS_RETURN_IF_ERROR(jf::get_double(obj, "mscale", ctx, &rs->mscale));
    QS_RETURN_IF_ERROR(jf::get_double(obj, "mscale_all_dim", ctx, &rs->mscale_all_dim));
    QS_RETURN_IF_ERROR(jf::get_bool(obj, "truncate", ctx, &rs->truncate));
  }
  return Status::Ok();
}

}  // namespace

Result<Qwen2Config> parse_qwen2_config(std::string_view json_text, const std::string& file) {
  QS_ASSIGN_OR_RETURN(json j, jf::parse_object(std::string(json_text), file));
  Qwen2Config c;
  for (const char* k : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads"})
    if (!jf::has(j, k)) return jf::field_error(file, k, "is missing");
  QS_RETURN_IF_ERROR(jf::get_string_list(j, "architectures", file, &c.architectures));
  QS_RETURN_IF_ERROR(jf::get_string(j, "model_type", file, &c.model_type));
  QS_RETURN_IF_ERROR(jf::get_int(j, "vocab_size", file, &c.vocab_size));
  QS_RETURN_IF_ERROR(jf::get_int(j, "hidden_size", file, &c.hidden_size));
  QS_RETURN_IF_ERROR(jf::get_int(j, "intermediate_size", file, &c.intermediate_size));
  QS_RETURN_IF_ERROR(jf::get_int(j, "num_hidden_layers", file, &c.num_hidden_layers));
  QS_RETURN_IF_ERROR(jf::get_int(j, "num_attention_heads", file, &c.num_attention_heads));
  c.num_key_value_heads = c.num_attention_heads;
  QS_RETURN_IF_ERROR(jf::get_int(j, "num_key_value_heads", file, &c.num_key_value_heads));
  if (c.num_attention_heads > 0) c.head_dim = c.hidden_size / c.num_attention_heads;
  QS_RETURN_IF_ERROR(jf::get_int(j, "head_dim", file, &c.head_dim));
  QS_RETURN_IF_ERROR(jf::get_string(j, "hidden_act", file, &c.hidden_act));
  QS_RETURN_IF_ERROR(jf::get_int(j, "max_position_embeddings", file, &c.max_position_embeddings));
  QS_RETURN_IF_ERROR(jf::get_double(j, "rms_norm_eps", file, &c.rms_norm_eps));
  QS_RETURN_IF_ERROR(jf::get_double(j, "rope_theta", file, &c.rope_theta));
  QS_RETURN_IF_ERROR(jf::get_bool(j, "tie_word_embeddings", file, &c.tie_word_embeddings));
  QS_RETURN_IF_ERROR(jf::get_bool(j, "use_sliding_window", file, &c.use_sliding_window));
  QS_RETURN_IF_ERROR(jf::get_int(j, "sliding_window", file, &c.sliding_window));
  QS_RETURN_IF_ERROR(jf::get_int(j, "max_window_layers", file, &c.max_window_layers));
  QS_RETURN_IF_ERROR(jf::get_double(j, "attention_dropout", file, &c.attention_dropout));
  QS_RETURN_IF_ERROR(jf::get_int(j, "bos_token_id", file, &c.bos_token_id));
  QS_RETURN_IF_ERROR(jf::get_int_or_list(j, "eos_token_id", file, &c.eos_token_ids));
  QS_RETURN_IF_ERROR(jf::get_string(j, "torch_dtype", file, &c.torch_dtype));
  if (c.torch_dtype.empty()) QS_RETURN_IF_ERROR(jf::get_string(j, "dtype", file, &c.torch_dtype));
  if (jf::has(j, "rope_scaling")) {
    RopeScaling rs;
    QS_RETURN_IF_ERROR(parse_rope_scaling(j["rope_scaling"], file, &rs));
    c.rope_scaling = rs;
  }
  if (jf::has(j, "quantization_config")) {
    if (!j["quantization_config"].is_object())
      return jf::field_error(file, "quantization_config", "is not a JSON object");
    c.quantization_config = j["quantization_config"].dump();
  }
  QS_RETURN_IF_ERROR(validate_qwen2_config(c, file));
  return c;
}

Result<Qwen2Config> load_qwen2_config(const std::string& path) {
  QS_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_qwen2_config(text, path);
}

Status validate_qwen2_config(const Qwen2Config& c, const std::string& file) {
  if (!c.model_type.empty() && c.model_type != "qwen2")
    return jf::field_error(file, "model_type", "'" + c.model_type + "' is not 'qwen2'");
  const struct {
    const char* name;
    int64_t v;
  } positive[] = {{"vocab_size", c.vocab_size},
                  {"hidden_size", c.hidden_size},
                  {"intermediate_size", c.intermediate_size},
                  {"num_hidden_layers", c.num_hidden_layers},
                  {"num_attention_heads", c.num_attention_heads},
                  {"num_key_value_heads", c.num_key_value_heads},
                  {"head_dim", c.head_dim},
                  {"max_position_embeddings", c.max_position_embeddings}};
  for (const auto& p : positive)
    if (p.v <= 0) return jf::field_error(file, p.name, std::to_string(p.v) + " must be > 0");
  if (c.hidden_size % c.num_attention_heads != 0)
    return jf::field_error(file, "num_attention_heads",
                           std::to_string(c.num_attention_heads) + " does not divide hidden_size " +
                               std::to_string(c.hidden_size));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return jf::field_error(file, "num_key_value_heads",
                           std::to_string(c.num_key_value_heads) +
                               " does not divide num_attention_heads " +
                               std::to_string(c.num_attention_heads));
  if (c.head_dim % 2 != 0)
    return jf::field_error(file, "head_dim", std::to_string(c.head_dim) + " must be even for RoPE");
  if (c.hidden_act != "silu")
    return jf::field_error(file, "hidden_act",
                           "'" + c.hidden_act + "' is not supported (only 'silu')");
  if (!(c.rms_norm_eps > 0) || !std::isfinite(c.rms_norm_eps))
    return jf::field_error(file, "rms_norm_eps", "must be > 0");
  if (!(c.rope_theta > 1) || !std::isfinite(c.rope_theta))
    return jf::field_error(file, "rope_theta", "must be > 1");
  if (c.use_sliding_window && c.sliding_window <= 0)
    return jf::field_error(file, "sliding_window", "must be > 0 when use_sliding_window is true");
  if (c.max_window_layers < 0) return jf::field_error(file, "max_window_layers", "must be >= 0");
  if (!(c.attention_dropout >= 0 && c.attention_dropout <= 1))
    return jf::field_error(file, "attention_dropout", "must be in [0, 1]");
  if (c.bos_token_id && (*c.bos_token_id < 0 || *c.bos_token_id >= c.vocab_size))
    return jf::field_error(file, "bos_token_id",
                           std::to_string(*c.bos_token_id) + " is outside the vocabulary");
  for (int64_t e : c.eos_token_ids)
    if (e < 0 || e >= c.vocab_size)
      return jf::field_error(file, "eos_token_id",
                             std::to_string(e) + " is outside the vocabulary");
  if (c.rope_scaling) {
    const RopeScaling& r = *c.rope_scaling;
    if (r.type != "default" && r.type != "linear" && r.type != "yarn")
      return jf::field_error(
          file, "rope_scaling",
          "type '" + r.type + "' is not supported (supported: default, linear, yarn)");
    if (!(r.factor > 0) || !std::isfinite(r.factor))
      return jf::field_error(file, "rope_scaling.factor", "must be > 0");
  }
  return Status::Ok();
}

}  // namespace qs
