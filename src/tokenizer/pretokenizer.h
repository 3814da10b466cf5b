// The Qwen2 pre-tokenizer: splits text into the matches of
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
//   | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// with leftmost-first alternation (Oniguruma, as HF tokenizers runs it). The
// regex matches every character, so the pieces tile the input exactly.
// Hand-written over code points; no std::regex. Invalid UTF-8 bytes are single
// characters of class Other (see unicode.h).
#pragma once

#include <string_view>
#include <vector>

namespace qs::tokenizer {

class PreTokenizer {
 public:
  explicit PreTokenizer(std::string_view text) : s_(text) {}
  // Sets *piece to the next match; false at the end of the text.
  bool next(std::string_view* piece);

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

// All pieces of `text`, in order.
std::vector<std::string_view> pretokenize(std::string_view text);

}  // namespace qs::tokenizer
