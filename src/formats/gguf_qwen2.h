// Qwen2 in GGUF (llama.cpp's "qwen2" architecture): the config from metadata
// and the tensor names.
#pragma once

#include <string>

#include "core/status.h"
#include "formats/gguf.h"
#include "formats/hf_config.h"

namespace qs {

// Qwen2Config from qwen2.* metadata (block_count, context_length,
// embedding_length, feed_forward_length, attention.head_count(_kv),
// rope.freq_base, attention.layer_norm_rms_epsilon); vocab size from
// token_embd.weight; tied when output.weight is absent. Validated.
Result<Qwen2Config> qwen2_config_from_gguf(const GgufFile& f);

// The GGUF name of a Hugging Face Qwen2 tensor name ("model.layers.3.mlp.up_proj.weight"
// -> "blk.3.ffn_up.weight"); empty if it has none.
std::string gguf_tensor_name(const std::string& hf_name);

}  // namespace qs
