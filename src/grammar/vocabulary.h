// The tokenizer's vocabulary as the grammar engine sees it, built once per
// tokenizer: every token's bytes, the tokens usable inside a grammar sorted by
// their bytes (so shared prefixes are checked once, like walking a trie), and
// the end-of-sequence ids.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace qs::grammar {

struct PositionMask;  // compiled_grammar.h

// next[i] = the first j > i with lcp[j] < lcp[i], or lcp.size(): a block
// skip table for an lcp array of byte-sorted tokens.
std::vector<int32_t> next_smaller_lcp(const std::vector<uint16_t>& lcp);

class Vocabulary {
 public:
  // size: mask length (the model's vocab_size, e.g. 151936, may exceed the
  // tokenizer's); 0 = the tokenizer's. Added tokens are excluded from grammars
  // except <tool_call> / </tool_call> (only tool-call grammars use them).
  static Result<std::shared_ptr<const Vocabulary>> FromTokenizer(const tokenizer::Tokenizer& tok,
                                                                 int32_t size = 0);
  // For tests: token i has bytes tokens[i]; eos ids end the sequence.
  static Result<std::shared_ptr<const Vocabulary>> FromTokens(std::vector<std::string> tokens,
                                                              std::vector<int32_t> eos_ids);

  int32_t size() const { return static_cast<int32_t>(bytes_.size()); }
  const std::string& bytes(int32_t id) const { return bytes_[id]; }
  const std::vector<int32_t>& eos_ids() const { return eos_; }
  bool is_eos(int32_t id) const;
  bool usable(int32_t id) const { return usable_[id] != 0; }
  // Tokens a grammar may produce, sorted by bytes; lcp[i] = common prefix
  // length of sorted[i] and sorted[i-1] (lcp[0] = 0).
  const std::vector<int32_t>& sorted() const { return sorted_; }
  const std::vector<uint16_t>& lcp() const { return lcp_; }
  // skip[i] = the first j > i with lcp[j] < lcp[i] (n if none): every token
  // between i and skip[i] shares sorted[i]'s first lcp[i] bytes, so a walk that
  // rejects a prefix jumps over its whole subtree (see next_smaller_lcp).
  const std::vector<int32_t>& skip() const { return skip_; }
  // The bytes of sorted()[i], stored contiguously in sorted order (walks read
  // them sequentially instead of chasing one heap string per token).
  std::string_view sorted_bytes(size_t i) const {
    return std::string_view(sorted_data_)
        .substr(sorted_off_[i], sorted_off_[i + 1] - sorted_off_[i]);
  }
  // The usable token whose bytes are exactly `bytes` (lowest id), or -1.
  int32_t find(std::string_view bytes) const;
  // <tool_call> and </tool_call> ids, -1 when absent.
  int32_t tool_call_open() const { return tool_open_; }
  int32_t tool_call_close() const { return tool_close_; }

  // Token-mask parts shared by every grammar on this vocabulary, keyed by the
  // canonical text of the sub-grammar they depend on (CompiledGrammar): the
  // same string body, number or whitespace rules recur in every schema, and
  // the server keeps one Vocabulary. Thread-safe; starts over past
  // kMaxSharedBytes.
  std::shared_ptr<const PositionMask> shared_mask(const std::string& key) const;
  void put_shared_mask(const std::string& key, std::shared_ptr<const PositionMask> mask,
                       size_t bytes) const;
  static constexpr size_t kMaxSharedBytes = size_t{128} << 20;

 private:
  Vocabulary() = default;
  void index();
  std::vector<std::string> bytes_;
  std::vector<uint8_t> usable_;  // [size] 1 = may appear in a grammar's text
  std::vector<int32_t> eos_;
  std::vector<int32_t> sorted_;
  std::vector<uint16_t> lcp_;
  std::vector<int32_t> skip_;
  std::string sorted_data_;
  std::vector<uint32_t> sorted_off_;                        // [sorted + 1]
  std::unordered_map<std::string_view, int32_t> by_bytes_;  // views into bytes_
  int32_t tool_open_ = -1, tool_close_ = -1;
  mutable std::mutex shared_mu_;
  mutable std::unordered_map<std::string, std::shared_ptr<const PositionMask>> shared_;
  mutable size_t shared_bytes_ = 0;
};

}  // namespace qs::grammar
