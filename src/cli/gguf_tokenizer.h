// A .gguf file as a complete model for the CLI: its tokenizer, chat template
// and sampling defaults come from the metadata (formats/gguf_tokenizer.h,
// formats/gguf_sampling.h), built into a tokenizer::Tokenizer here because
// only cli may see both the formats and the tokenizer layers. `quantize` uses
// the other direction: a Hugging Face directory's tokenizer as GGUF metadata.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "formats/generation_config.h"
#include "formats/gguf_tokenizer.h"
#include "formats/hf_config.h"
#include "tokenizer/tokenizer.h"

namespace qs::cli {

// "-m X.gguf" names a GGUF file (anything else a Hugging Face directory).
bool is_gguf_path(const std::string& path);

// The tokenizer of a model path: tokenizer.ggml.* metadata for a .gguf, the
// tokenizer files for a directory.
Result<std::unique_ptr<tokenizer::Tokenizer>> load_model_tokenizer(const std::string& path);
// generation_config.json for a directory, general.sampling.* for a .gguf.
Result<GenerationConfig> load_model_generation_defaults(const std::string& path);

// From the GGUF metadata already read (tests and load_model_tokenizer).
Result<std::unique_ptr<tokenizer::Tokenizer>> tokenizer_from_gguf(GgufTokenizer t,
                                                                  const std::string& source);

// A Hugging Face directory's tokenizer in GGUF form, padded to c.vocab_size.
// Special ids as llama.cpp resolves them: tokenizer_config.json's
// bos/eos/pad_token by content, else config.json's bos/eos_token_id, else
// generation_config.json's; add_bos_token/add_eos_token when set there.
Result<GgufTokenizer> gguf_tokenizer_from_dir(const std::string& dir, const Qwen2Config& c);

}  // namespace qs::cli
