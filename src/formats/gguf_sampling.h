// A model's default sampling settings (generation_config.json) as llama.cpp's
// general.sampling.* GGUF metadata: temp, top_p, min_p, penalty_repeat (f32)
// and top_k (i32). do_sample=false is written as temp 0 (greedy).
#pragma once

#include "core/status.h"
#include "formats/generation_config.h"
#include "formats/gguf.h"

namespace qs {

void write_gguf_sampling(const GenerationConfig& g, GgufWriter* w);
// Absent keys stay unset; present ones must be numbers in the ranges
// generation_config.json allows (errors name the file and the key).
Result<GenerationConfig> read_gguf_sampling(const GgufFile& f);

}  // namespace qs
