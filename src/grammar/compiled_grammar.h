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
// Per byte-class position p the grammar lazily computes, once, the tokens
// accepted starting from the stack [p] without looking below it (accepted:
// the same whatever the rest of the stack is) and the tokens that pop below
// it with bytes left (uncertain: checked against the real stack at run time),
// as XGrammar's adaptive token mask cache does.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
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

// Token mask of one byte-class position (see the top comment).
struct PositionMask {
  std::vector<uint64_t> accepted;  // [words] bitset over token ids
  std::vector<int32_t> uncertain;  // token ids, sorted by bytes
  std::vector<uint16_t> uncertain_lcp;
};

// Walks `ids` (sorted by bytes, lcp as Vocabulary::lcp) from `start`; calls
// on_token(i, result) for each, result 1 = accepted, 2 = uncertain (only with
// track_base: popped below the start stack with bytes left), 0 = rejected.
template <typename F>
void walk_tokens(StackArena& arena, const Vocabulary& vocab, int32_t start, const int32_t* ids,
                 const uint16_t* lcp, size_t n, bool track_base, F&& on_token);

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
  // Thread-safe; computed on first use.
  const PositionMask& position_mask(uint32_t pos) const;
  size_t words() const { return (static_cast<size_t>(vocab_->size()) + 63) / 64; }

 private:
  std::shared_ptr<const Vocabulary> vocab_;
  Grammar grammar_;
  FlatGrammar flat_;
  mutable std::mutex mu_;
  mutable std::unique_ptr<StackArena> arena_;                 // for precomputation, under mu_
  mutable std::vector<std::unique_ptr<PositionMask>> masks_;  // [position]
};

// ---- implementation of the template ----
template <typename F>
void walk_tokens(StackArena& arena, const Vocabulary& vocab, int32_t start, const int32_t* ids,
                 const uint16_t* lcp, size_t n, bool track_base, F&& on_token) {
  thread_local std::vector<int32_t> st;
  thread_local std::vector<uint8_t> hit;
  size_t valid = 0;  // st[0..valid] hold the states of the previous token's prefix
  st.assign(1, start);
  hit.assign(1, 0);
  for (size_t i = 0; i < n;) {
    const std::string& b = vocab.bytes(ids[i]);
    size_t d = std::min<size_t>(i ? lcp[i] : 0, valid);
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
      on_token(i, 1);
      ++i;
      continue;
    }
    // Every following token sharing the dead prefix b[0..d] has the same fate.
    valid = d;
    on_token(i, result);
    for (++i; i < n && lcp[i] >= d + 1; ++i) on_token(i, result);
  }
}

}  // namespace qs::grammar
