// An immutable, shareable grammar bound to a vocabulary, plus the pushdown
// machinery the matcher runs on it.
//
// Flattened grammar: every alternative is a run of elements ending in kEnd; a
// "position" is an index into that array. A stack is a linked list of
// positions (top first) interned as a node id; -1 is the empty stack (the
// value is complete). A state is the sorted set of stacks still alive, also
// interned, and byte transitions between states are memoised — a lazily built
// DFA over the pushdown configurations.
//
// Per set of top positions T (the tops of a state's stacks) the grammar
// lazily computes, once, with one walk of the vocabulary trie from the stacks
// {[p] : p in T} (each alone, nothing below): the tokens accepted without
// popping below any of them (accepted: the same whatever lies below) and the
// tokens that pop below one of them with bytes left (uncertain: checked
// against the real state at run time), as XGrammar's adaptive token mask cache
// does per position. One walk per set instead of one per position: a string
// body state has ~11 tops (ASCII, UTF-8 leads, escapes, the closing quote).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/vocabulary.h"

namespace qs::grammar {

struct FlatElem {
  enum Kind : uint8_t { kBytes, kRule, kEnd };
  Kind kind = kEnd;
  uint32_t id = 0;
};

struct VecHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (int32_t x : v) h = (h ^ static_cast<uint32_t>(x)) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

struct FlatGrammar {
  std::vector<FlatElem> elems;
  std::vector<std::vector<uint32_t>> alts;  // [rule] -> start positions
  std::vector<ByteSet> sets;
  uint32_t root = 0;
  // Shortest completions: min_len[rule] bytes via alternative min_alt[rule];
  // rest_min[pos] = bytes from pos to the end of its alternative.
  std::vector<int32_t> min_len;
  std::vector<uint32_t> min_alt;  // start position of the shortest alternative
  std::vector<int32_t> rest_min;
  // Bytes no set tells apart share a class: one transition computed per class.
  std::array<uint8_t, 256> byte_class{};
  std::vector<std::vector<uint8_t>> class_bytes;  // [class] its bytes
};

// Stacks, states and transitions of one user (a matcher, or a grammar's
// precomputation). Not thread-safe.
class StackArena {
 public:
  static constexpr int32_t kDead = -1;        // state id: no stack survived
  static constexpr size_t kMaxStacks = 4096;  // more live stacks than this = reject

  explicit StackArena(const FlatGrammar& g) : g_(g) {}
  // The state of the stack [pos] over `parent` (-1 = nothing below).
  int32_t state_at(uint32_t pos, int32_t parent);
  int32_t initial();  // the root rule's alternatives over the empty stack
  int32_t step(int32_t state, uint8_t byte);
  // The state holding exactly the (already expanded) stack `stack`.
  int32_t state_of_stack(int32_t stack) {
    std::vector<int32_t> one{stack};
    return intern(&one);
  }
  // The state of the stacks {[p] : p in positions}, each p a byte-class
  // position with nothing below.
  int32_t state_of_positions(const std::vector<int32_t>& positions);
  int32_t num_states() const { return static_cast<int32_t>(states_.size()); }
  const std::vector<int32_t>& stacks(int32_t state) const { return states_[state]; }
  bool complete(int32_t state) const { return !states_[state].empty() && states_[state][0] == -1; }
  uint32_t top(int32_t stack) const { return nodes_[stack].first; }
  // Fewest bytes that complete the value from a stack / a state (0 = complete).
  int32_t min_completion_of_stack(int32_t stack) const { return stack < 0 ? 0 : node_min_[stack]; }
  int32_t min_completion(int32_t state) const;
  // The bytes of one shortest completion from `stack`.
  std::string shortest_completion(int32_t stack) const;

 private:
  int32_t node(uint32_t pos, int32_t parent);
  int32_t norm(uint32_t pos, int32_t parent);  // skips kEnd by popping
  void expand(int32_t stack, std::vector<int32_t>* out);
  int32_t intern(std::vector<int32_t>* stacks);

  const FlatGrammar& g_;
  std::vector<std::pair<uint32_t, int32_t>> nodes_;  // [node] (position, parent node)
  std::vector<int32_t> node_min_;                    // [node] min completion bytes
  std::unordered_map<uint64_t, int32_t> node_index_;
  std::vector<std::vector<int32_t>> states_;  // [state] sorted stack ids
  std::unordered_map<std::vector<int32_t>, int32_t, VecHash> state_index_;
  std::vector<int32_t> trans_;  // [state * 256 + byte] -> state, kUnknown until computed
  static constexpr int32_t kUnknown = -2;
  std::vector<int32_t> scratch_;
};

// Token mask parts of one set of top positions (see the top comment).
struct PositionMask {
  // Accepted tokens: a [words] bitset when many, else the ids (sparse).
  std::vector<uint64_t> accepted;
  std::vector<int32_t> accepted_ids;
  // Uncertain tokens as indices into Vocabulary::sorted() (ascending), with
  // their own lcp and skip tables for the run-time walk.
  std::vector<int32_t> uncertain;
  std::vector<uint16_t> uncertain_lcp;
  std::vector<int32_t> uncertain_skip;
  size_t bytes() const {
    return accepted.size() * 8 + (accepted_ids.size() + 2 * uncertain.size()) * 4 +
           uncertain_lcp.size() * 2;
  }
};

// Walks the tokens sorted()[idx[0..n)] of `vocab` (idx ascending; nullptr =
// all n = sorted().size() tokens) from `start`, with lcp[k] the common prefix
// of the k-th and (k-1)-th walked token and skip = next_smaller_lcp(lcp). Calls
// on_token(k, result, lcp_since) for each token not rejected: result 1 =
// accepted, 2 = uncertain (only with track_base: popped below the start
// stacks with bytes left); lcp_since = the common prefix with the previous
// reported token (0 for the first). A rejected prefix skips its subtree.
template <typename F>
void walk_tokens(StackArena& arena, const Vocabulary& vocab, int32_t start, const int32_t* idx,
                 const uint16_t* lcp, const int32_t* skip, size_t n, bool track_base, F&& on_token);

class CompiledGrammar {
 public:
  CompiledGrammar(std::shared_ptr<const Vocabulary> vocab, Grammar grammar);
  const Vocabulary& vocab() const { return *vocab_; }
  const Grammar& grammar() const { return grammar_; }
  const FlatGrammar& flat() const { return flat_; }
  // Tool-call grammars: may use the <tool_call> tokens; with free_text_prefix
  // (tool_choice auto) the output is free text until <tool_call> is generated.
  bool allow_tool_tokens = false;
  bool free_text_prefix = false;
  // The mask parts of the top-position set `tops` (sorted, unique, byte-class
  // positions). Thread-safe; computed on first use, then cached (up to
  // kMaxMaskBytes per grammar, then the cache starts over).
  std::shared_ptr<const PositionMask> top_mask(const std::vector<int32_t>& tops) const;
  size_t words() const { return (static_cast<size_t>(vocab_->size()) + 63) / 64; }
  // How many top sets were computed so far (benchmarks: cold vs cached).
  size_t masks_computed() const;
  static constexpr size_t kMaxMaskBytes = size_t{64} << 20;

 private:
  std::shared_ptr<const PositionMask> compute_mask(const std::vector<int32_t>& tops) const;
  std::shared_ptr<const Vocabulary> vocab_;
  Grammar grammar_;
  FlatGrammar flat_;
  mutable std::mutex mu_;
  mutable std::unique_ptr<StackArena> arena_;  // for precomputation, under mu_
  mutable std::unordered_map<std::vector<int32_t>, std::shared_ptr<const PositionMask>, VecHash>
      masks_;
  mutable size_t mask_bytes_ = 0, computed_ = 0;
};

// ---- implementation of the template ----
template <typename F>
void walk_tokens(StackArena& arena, const Vocabulary& vocab, int32_t start, const int32_t* idx,
                 const uint16_t* lcp, const int32_t* skip, size_t n, bool track_base,
                 F&& on_token) {
  thread_local std::vector<int32_t> st;
  thread_local std::vector<uint8_t> hit;
  size_t valid = 0;  // st[0..valid] hold the states of the previous token's prefix
  st.assign(1, start);
  hit.assign(1, 0);
  uint16_t since = 0;  // min lcp since the last reported token
  for (size_t i = 0; i < n;) {
    const std::string_view b = vocab.sorted_bytes(idx ? static_cast<size_t>(idx[i]) : i);
    const uint16_t li = i ? lcp[i] : 0;
    since = std::min(since, li);
    size_t d = std::min<size_t>(li, valid);
    if (st.size() < b.size() + 1) {
      st.resize(b.size() + 1);
      hit.resize(b.size() + 1);
    }
    int result = 1;
    for (; d < b.size(); ++d) {
      hit[d + 1] = hit[d] || (track_base && arena.complete(st[d]));
      int32_t next = arena.step(st[d], static_cast<uint8_t>(b[d]));
      if (next == StackArena::kDead) {
        result = hit[d + 1] ? 2 : 0;
        break;
      }
      st[d + 1] = next;
    }
    if (result == 1) {
      valid = b.size();
      on_token(i, 1, since);
      since = UINT16_MAX;
      ++i;
      continue;
    }
    // Every following token sharing the dead prefix b[0..d] has the same fate.
    valid = d;
    if (result == 2) {
      on_token(i, 2, since);
      for (++i; i < n && lcp[i] >= d + 1; ++i) on_token(i, 2, lcp[i]);
      since = UINT16_MAX;
      continue;
    }
    // Rejected: jump over the subtree (everything between j and skip[j] has
    // an lcp of at least lcp[j]).
    size_t j = i + 1;
    while (j < n && lcp[j] >= d + 1) {
      since = std::min(since, lcp[j]);
      j = static_cast<size_t>(skip[j]);
    }
    i = j;
  }
}

}  // namespace qs::grammar
