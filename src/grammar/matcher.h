// Per-request grammar state: the set of allowed next tokens, and advancing by
// the token that was sampled.
//
//   Matcher m(compiled);
//   while (!m.is_terminated()) {
//     m.fill_mask(mask.data());             // [vocab] 1 = allowed
//     int32_t t = sample(logits, mask);
//     if (!m.accept(t)) { /* the caller ignored the mask */ }
//   }
//
// End of sequence (any of the vocabulary's eos ids) is allowed only when the
// value is complete; for objects, arrays and strings nothing else is allowed
// then, so generation ends right after the closing bracket or quote. Not
// thread-safe; one Matcher per request.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "grammar/compiled_grammar.h"

namespace qs::grammar {

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const CompiledGrammar> grammar);

  // allowed: [vocab.size()], written 1 = allowed, 0 = not.
  // remaining_tokens (>= 0: how many more tokens the request may generate,
  // eos included): once the shortest completion of the value needs about that
  // many bytes (within kBudgetSlack), only tokens that are prefixes of that
  // shortest completion are allowed, so the value closes before the limit
  // (each token is at least one byte). -1 = no limit.
  void fill_mask(uint8_t* allowed, int32_t remaining_tokens = -1);
  // The same as a bitset: [ceil(vocab/64)] words, bit t = token t allowed.
  void fill_bitmask(uint64_t* words, int32_t remaining_tokens = -1);
  static constexpr int32_t kBudgetSlack = 48;
  // Bytes still needed, at least, to complete the value (0 = complete).
  int32_t min_completion_bytes() const;
  // Advances by one token; false (and no change) if the grammar does not allow it.
  bool accept(int32_t token);
  // Advances by raw bytes (tests); false (and no change) if not allowed.
  bool accept_bytes(std::string_view bytes);
  // Whether `bytes` could be accepted now (no change of state).
  bool can_accept_bytes(std::string_view bytes);
  // The text so far is a complete value (eos would be accepted).
  bool is_complete() const;
  // Complete and nothing but eos may follow: the caller may stop now.
  bool must_end() const;
  // An eos token was accepted.
  bool is_terminated() const { return terminated_; }
  // tool_choice auto: still in the free text before any <tool_call>.
  bool in_free_text() const { return free_; }

 private:
  const std::vector<uint64_t>& mask_of(int32_t state);
  // The mask under a token budget; nullptr when the budget does not bind.
  const std::vector<uint64_t>* budget_mask(int32_t remaining_tokens);
  std::vector<uint64_t> tight_;

  std::shared_ptr<const CompiledGrammar> g_;
  StackArena arena_;
  int32_t state_;
  bool free_ = false;
  bool terminated_ = false;
  std::unordered_map<int32_t, std::vector<uint64_t>> cache_;  // state -> bitset
  std::vector<uint64_t> free_mask_;
};

}  // namespace qs::grammar
