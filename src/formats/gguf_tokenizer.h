// The tokenizer as GGUF metadata, the way llama.cpp's convert_hf_to_gguf.py
// writes it for Qwen2 (a byte-level BPE, "gpt2" model, "qwen2" pre-tokenizer):
//
//   tokenizer.ggml.model         string  "gpt2"
//   tokenizer.ggml.pre           string  "qwen2"
//   tokenizer.ggml.tokens        [string] one per id up to the vocab size; holes "[PAD<id>]"
//   tokenizer.ggml.token_type    [i32]   1 normal, 3 control, 4 user-defined, 5 unused
//   tokenizer.ggml.merges        [string] "A B" by rank (merges.txt without its header)
//   tokenizer.ggml.{bos,eos,padding}_token_id  u32 (each optional)
//   tokenizer.ggml.add_bos_token / add_eos_token  bool (optional)
//   tokenizer.chat_template      string (optional)
//
// Plain data only: the tokenizer layer builds a Tokenizer from it (cli wires them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "formats/gguf.h"

namespace qs {

struct GgufTokenizer {
  std::string model = "gpt2";
  std::string pre = "qwen2";
  std::vector<std::string> tokens;  // [n]
  std::vector<int32_t> types;       // [n]
  std::vector<std::string> merges;
  std::optional<int64_t> bos_id, eos_id, pad_id;
  std::optional<bool> add_bos, add_eos;
  std::string chat_template;  // "" = none
};

void write_gguf_tokenizer(const GgufTokenizer& t, GgufWriter* w);

// Reads and type-checks the keys above: model must be "gpt2"; pre "qwen2"
// (absent is accepted for general.architecture qwen2, whose files predate the
// key); tokens, token_type and merges must be present arrays of the right
// element type, token_type as long as tokens, and tokens as long as the
// token_embd.weight rows when that tensor exists; special ids inside the
// vocabulary. Errors name the file and the key.
Result<GgufTokenizer> read_gguf_tokenizer(const GgufFile& f);

}  // namespace qs
