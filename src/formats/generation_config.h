// Hugging Face generation_config.json: the model's default sampling settings.
// Every field is optional; a missing file means "all unset".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace qs {

struct GenerationConfig {
  std::optional<double> temperature;         // >= 0
  std::optional<double> top_p;               // (0, 1]
  std::optional<int64_t> top_k;              // >= 0 (0 = off)
  std::optional<double> min_p;               // [0, 1]
  std::optional<double> repetition_penalty;  // > 0
  std::optional<bool> do_sample;
  std::optional<int64_t> max_new_tokens;  // > 0
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;
  std::vector<int64_t> eos_token_ids;  // "eos_token_id": int or list; empty if unset
};

Result<GenerationConfig> parse_generation_config(std::string_view json_text,
                                                 const std::string& file);
// A path that does not exist gives an all-unset config; an unreadable or
// invalid one is an error.
Result<GenerationConfig> load_generation_config(const std::string& path);

}  // namespace qs
