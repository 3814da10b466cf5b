#include "formats/generation_config.h"

#include <filesystem>

#include "core/mapped_file.h"
#include "formats/json_fields.h"

namespace qs {

namespace jf = json_fields;

Result<GenerationConfig> parse_generation_config(std::string_view json_text,
                                                 const std::string& file) {
  QS_ASSIGN_OR_RETURN(nlohmann::json j, jf::parse_object(std::string(json_text), file));
  GenerationConfig g;
  QS_RETURN_IF_ERROR(jf::get_double(j, "temperature", file, &g.temperature));
  QS_RETURN_IF_ERROR(jf::get_double(j, "top_p", file, &g.top_p));
  QS_RETURN_IF_ERROR(jf::get_int(j, "top_k", file, &g.top_k));
  QS_RETURN_IF_ERROR(jf::get_double(j, "min_p", file, &g.min_p));
  QS_RETURN_IF_ERROR(jf::get_double(j, "repetition_penalty", file, &g.repetition_penalty));
  QS_RETURN_IF_ERROR(jf::get_bool(j, "do_sample", file, &g.do_sample));
  QS_RETURN_IF_ERROR(jf::get_int(j, "max_new_tokens", file, &g.max_new_tokens));
  QS_RETURN_IF_ERROR(jf::get_int(j, "bos_token_id", file, &g.bos_token_id));
  QS_RETURN_IF_ERROR(jf::get_int(j, "pad_token_id", file, &g.pad_token_id));
  QS_RETURN_IF_ERROR(jf::get_int_or_list(j, "eos_token_id", file, &g.eos_token_ids));

  if (g.temperature && *g.temperature < 0)
    return jf::field_error(file, "temperature", "must be >= 0");
  if (g.top_p && !(*g.top_p > 0 && *g.top_p <= 1))
    return jf::field_error(file, "top_p", "must be in (0, 1]");
  if (g.top_k && *g.top_k < 0) return jf::field_error(file, "top_k", "must be >= 0");
  if (g.min_p && !(*g.min_p >= 0 && *g.min_p <= 1))
    return jf::field_error(file, "min_p", "must be in [0, 1]");
  if (g.repetition_penalty && !(*g.repetition_penalty > 0))
    return jf::field_error(file, "repetition_penalty", "must be > 0");
  if (g.max_new_tokens && *g.max_new_tokens <= 0)
    return jf::field_error(file, "max_new_tokens", "must be > 0");
  for (int64_t e : g.eos_token_ids)
    if (e < 0) return jf::field_error(file, "eos_token_id", std::to_string(e) + " is negative");
  return g;
}

Result<GenerationConfig> load_generation_config(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return GenerationConfig{};
  QS_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_generation_config(text, path);
}

}  // namespace qs
