#include "tokenizer/stream_decoder.h"

#include "tokenizer/unicode.h"

namespace qs::tokenizer {

std::string StreamDecoder::push(int32_t id) {
  if (skip_special_ && tok_.is_special(id)) return {};
  pending_ += tok_.token_bytes(id);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    if (static_cast<uint8_t>(pending_[i]) < 0x80) {
      out.push_back(pending_[i++]);
      continue;
    }
    bool incomplete;
    size_t bad = invalid_subpart(pending_, i, &incomplete);
    if (incomplete) break;  // may still become a valid character: hold it
    if (bad == 0) {
      size_t len;
      decode_utf8(pending_, i, &len);
      out.append(pending_, i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      i += bad;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = repair_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace qs::tokenizer
