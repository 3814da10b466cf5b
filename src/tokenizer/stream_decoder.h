// Incremental detokenization for streaming: push() returns the text that is
// final after this token. Text is emitted only at UTF-8 character boundaries
// (a character split over two tokens is held until complete); invalid byte
// sequences become U+FFFD exactly as Tokenizer::decode() would replace them.
// The concatenation of every push() and the final flush() equals
// decode(all ids): no byte is lost or repeated.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace qs::tokenizer {

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = false)
      : tok_(tok), skip_special_(skip_special) {}

  std::string push(int32_t id);
  // Emits whatever is held back (an incomplete character becomes U+FFFD) and
  // resets the decoder.
  std::string flush();
  // Bytes held back waiting for the rest of a character (at most 3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace qs::tokenizer
