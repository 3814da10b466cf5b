// What the penalties look at: counts of each output token (presence and
// frequency penalties) and the set of prompt + output tokens (repetition
// penalty). Kept incrementally, one per request; O(distinct tokens) memory.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <unordered_set>

namespace qs::sampling {

class TokenHistory {
 public:
  TokenHistory() = default;
  explicit TokenHistory(std::span<const int32_t> prompt) { set_prompt(prompt); }

  void set_prompt(std::span<const int32_t> prompt) {
    for (int32_t t : prompt) seen_.insert(t);
  }
  void add_output(int32_t token) {
    ++output_counts_[token];
    seen_.insert(token);
  }
  void clear() {
    output_counts_.clear();
    seen_.clear();
  }

  const std::unordered_map<int32_t, int32_t>& output_counts() const { return output_counts_; }
  const std::unordered_set<int32_t>& seen() const { return seen_; }

 private:
  std::unordered_map<int32_t, int32_t> output_counts_;  // token -> times generated
  std::unordered_set<int32_t> seen_;                    // prompt and output tokens
};

}  // namespace qs::sampling
