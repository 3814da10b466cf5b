// The Qwen2 / Qwen2.5 byte-level BPE tokenizer, exact to Hugging Face's:
// added tokens (only where the caller allows them), NFC, the Qwen2
// pre-tokenizer regex, GPT-2 byte-to-unicode mapping and BPE by merge rank.
//
//   auto tok = Tokenizer::Load("/models/qwen2.5-0.5b");   // Result<unique_ptr>
//   std::vector<int32_t> ids = (*tok)->encode("Hello world");  // {9707, 1879}
//   std::string text = (*tok)->decode(ids);
//
// encode() and decode() are const and safe to call from many threads (the BPE
// cache is per thread).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace qs::tokenizer {

// A piece of rendered text: either text to be BPE-encoded (special tokens in it
// are NOT recognised) or exactly one added token written out (e.g.
// "<|im_start|>"). The chat template produces these so that user content can
// never inject a turn.
struct TextSegment {
  std::string text;
  bool special = false;
};

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;  // tokenizer_config "special": skipped by decode(skip_special)
};

// llama.cpp's token types (GGUF tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kNormal = 1,       // a byte-level BPE vocabulary string
  kUnknown = 2,      // (not used by byte-level BPE: rejected)
  kControl = 3,      // an added token marked special
  kUserDefined = 4,  // an added token not marked special
  kUnused = 5,       // a hole in the id range ("[PAD<id>]")
  kByte = 6,         // (SentencePiece byte fallback: rejected)
};

// A vocabulary in llama.cpp's GGUF form as plain data, so that this layer needs
// no GGUF reader: tokens[id] and types[id] for every id up to the model's
// vocab size, merges "A B" by rank, the eos id and the Jinja chat template.
struct TokenList {
  std::vector<std::string> tokens;  // [n] tokenizer.ggml.tokens
  std::vector<int32_t> types;       // [n] tokenizer.ggml.token_type (TokenType values)
  std::vector<std::string> merges;  // tokenizer.ggml.merges
  std::optional<int64_t> eos_id;    // tokenizer.ggml.eos_token_id
  std::string chat_template;        // tokenizer.chat_template
};

class Tokenizer {
 public:
  // Reads vocab.json + merges.txt (+ tokenizer_config.json for added tokens,
  // eos and the chat template), or tokenizer.json when vocab.json is absent.
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& model_dir);
  // From llama.cpp's vocabulary form (tokenizer_token_list.cc). Holes (kUnused,
  // or an old writer's kUserDefined "[PAD<id>]") are skipped; errors name
  // `source` (the file) and the GGUF key and index at fault.
  static Result<std::unique_ptr<Tokenizer>> FromTokenList(TokenList list,
                                                          const std::string& source);
  // The inverse, padded with "[PAD<id>]" holes to max(vocab_size, this
  // vocabulary): added tokens at their ids (kControl if special, else
  // kUserDefined), merges in rank order. eos_id is eos_id() when set.
  TokenList to_token_list(int32_t vocab_size) const;
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Bytes -> ids. With allow_special, added-token strings in the text become
  // their ids (HF behaviour); without, they are ordinary text. Valid UTF-8 runs
  // are NFC-normalized; invalid bytes are encoded as their byte tokens, so
  // decode_bytes() gives them back.
  std::vector<int32_t> encode(std::string_view text, bool allow_special = false) const;
  void encode_append(std::string_view text, bool allow_special, std::vector<int32_t>* out) const;
  // Consecutive text segments are joined and encoded as one text (so token
  // boundaries match encoding the whole rendered string); special segments must
  // be added tokens. Errors name the unknown token.
  Result<std::vector<int32_t>> encode_segments(const std::vector<TextSegment>& segments) const;

  // Ids -> text. decode() returns valid UTF-8 (invalid byte sequences become
  // U+FFFD, like HF's errors="replace"); decode_bytes() returns the raw bytes.
  // Ids out of range are skipped.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  std::string decode_bytes(const std::vector<int32_t>& ids, bool skip_special = false) const;

  // The raw bytes of one token (an added token's content for added ids); empty
  // for ids out of range.
  std::string_view token_bytes(int32_t id) const;
  // The vocabulary string of a token ("Ġworld"), or an added token's content.
  std::string token_piece(int32_t id) const;
  // A vocabulary string or added-token content -> id.
  std::optional<int32_t> token_id(std::string_view piece) const;

  int32_t vocab_size() const { return static_cast<int32_t>(bytes_.size()); }  // max id + 1
  int32_t eos_id() const { return eos_id_; }
  // Ids that end generation: <|im_end|> and <|endoftext|> (those present).
  std::vector<int32_t> stop_ids() const;
  bool is_added(int32_t id) const;
  bool is_special(int32_t id) const;  // added and marked special
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  const std::string& chat_template() const { return chat_template_; }

  // BPE of one pre-token (raw bytes), appended to *out. Exposed for tests.
  void bpe(std::string_view piece, std::vector<int32_t>* out) const;

  struct MergeTable;  // open-addressing map (left id, right id) -> (rank, result id)

 private:
  Tokenizer();
  friend class TokenizerLoader;
  void encode_plain(std::string_view text, std::vector<int32_t>* out) const;
  void bpe_uncached(std::string_view piece, std::vector<int32_t>* out) const;

  std::vector<std::string> bytes_;   // [vocab_size] raw bytes of each token
  std::vector<std::string> pieces_;  // [vocab_size] vocabulary strings
  // pieces_ -> id: open addressing over ids (-1 = empty), keyed by the piece
  // text; faster to build and probe than std::unordered_map (load time).
  std::vector<int32_t> index_slots_;
  std::vector<uint32_t> index_hash_;  // [slots] low 32 bits of the piece hash
  void index_insert(int32_t id);      // later inserts of the same text win
  int32_t byte_to_id_[256] = {};
  std::unique_ptr<MergeTable> merges_;
  std::vector<AddedToken> added_;
  std::vector<uint8_t> added_flag_;  // [vocab_size] 0 = not added, 1 = added, 2 = special
  bool added_first_byte_[256] = {};  // bytes that can start an added token
  int32_t eos_id_ = -1;
  std::string chat_template_;
  uint64_t serial_ = 0;  // identifies this instance to the per-thread BPE cache
};

// GPT-2's bytes_to_unicode: byte -> code point of its printable stand-in.
int32_t byte_to_unicode(uint8_t b);

}  // namespace qs::tokenizer
