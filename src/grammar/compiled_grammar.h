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

  explicit StackArena(const FlatGrammar& g) : g_(g), width_(g.class_bytes.size()) {}
  // The state of the stack [pos] over `parent` (-1 = nothing below).
  int32_t state_at(uint32_t pos, int32_t parent);
  int32_t initial();                           // the root rule's alternatives over the empty stack
  int32_t step(int32_t state, uint8_t byte) {  // memoised; the slow path interns
    int32_t next = trans_[static_cast<size_t>(state) * width_ + g_.byte_class[byte]];
    return next != kUnknown ? next : step_slow(state, byte);
  }
  // For tight loops: the transition table ([state * width() + byte class],
  // kUnknown = not computed yet: call step_slow, which may move the table) and
  // the [state] complete flags (may move when a state is interned).
  size_t width() const { return width_; }
  const uint8_t* byte_class() const { return g_.byte_class.data(); }
  static constexpr int32_t kUnknown = -2;
  const int32_t* transitions() const { return trans_.data(); }
  const uint8_t* complete_flags() const { return complete_.data(); }
  int32_t step_slow(int32_t state, uint8_t byte);
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
  bool complete(int32_t state) const { return complete_[state] != 0; }
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
  std::vector<uint8_t> complete_;  // [state] holds the empty stack
  // [state * width_ + byte class] -> state, kUnknown until computed. Rows
  // per class, not per byte: a JSON grammar has far fewer classes than 256, so the table
  // of a long walk stays in cache.
  std::vector<int32_t> trans_;
  size_t width_ = 1;
  std::vector<int32_t> scratch_;
};

// Token mask parts of one set of top positions (see the top comment).
struct PositionMask {
  // Accepted tokens: a [words] bitset when many, else the ids (sparse).
  std::vector<uint64_t> accepted;
  std::vector<int32_t> accepted_ids;
  // Uncertain tokens as ranges [first, last) of Vocabulary::sorted() indices:
  // whole subtrees (all tokens sharing a prefix that popped below the tops),
  // walked again at run time from the real state with the vocabulary's skip
  // table, so their cost is the number of prefixes that survive, not tokens.
  std::vector<std::pair<int32_t, int32_t>> uncertain;
  size_t bytes() const {
    return sizeof(PositionMask) + accepted.size() * 8 + accepted_ids.size() * 4 +
           uncertain.size() * 8;
  }
};

// Walks the byte-sorted tokens [begin, end) of `vocab` (Vocabulary::sorted()
// indices) from `start`. Calls on_tokens(i, j, result) for runs not
// rejected: result 1 = token i accepted (j = i + 1), 2 = tokens [i, j)
// uncertain (only with track_base: popped below the start stacks with bytes
// left; [i, j) is the subtree of the prefix that did so). A rejected prefix
// skips its subtree.
template <typename F>
void walk_tokens(StackArena& arena, const Vocabulary& vocab, int32_t start, size_t begin,
                 size_t end, bool track_base, F&& on_tokens);

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
  // The canonical text of the sub-grammar reachable from `tops` (each alone):
  // its sequences with rules numbered in order of first use and byte sets by
  // content. Equal texts = isomorphic sub-grammars = equal mask parts, in any
  // grammar on the same vocabulary. Empty when longer than kMaxKeyBytes (then
  // the mask is not shared).
  std::string canonical_key(const std::vector<int32_t>& tops) const;
  static constexpr size_t kMaxKeyBytes = size_t{256} << 10;

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
void walk_tokens(StackArena& arena, const Vocabulary& vocab, int32_t start, size_t begin,
                 size_t end, bool track_base, F&& on_tokens) {
  const uint16_t* lcp = vocab.lcp().data();
  const int32_t* skip = vocab.skip().data();
  thread_local std::vector<int32_t> st_buf;
  thread_local std::vector<uint8_t> hit_buf;
  if (st_buf.size() < 130) {
    st_buf.resize(130);
    hit_buf.resize(130);
  }
  // Local pointers: the loop below must not reload them through TLS or
  // through the vectors after every store.
  int32_t* st = st_buf.data();
  uint8_t* hit = hit_buf.data();
  const int32_t* trans = arena.transitions();
  const size_t width = arena.width();
  const uint8_t* cls = arena.byte_class();
  const uint8_t* complete = arena.complete_flags();
  size_t valid = 0;  // st[0..valid] hold the states of the previous token's prefix
  st[0] = start;
  hit[0] = 0;
  for (size_t i = begin; i < end;) {
    const std::string_view b = vocab.sorted_bytes(i);
    size_t d = std::min<size_t>(i > begin ? lcp[i] : 0, valid);
    if (st_buf.size() < b.size() + 1) {
      st_buf.resize(b.size() + 1);
      hit_buf.resize(b.size() + 1);
      st = st_buf.data();
      hit = hit_buf.data();
    }
    int result = 1;
    for (; d < b.size(); ++d) {
      const int32_t s = st[d];
      if (track_base) hit[d + 1] = hit[d] | complete[s];
      const uint8_t c = static_cast<uint8_t>(b[d]);
      int32_t next = trans[static_cast<size_t>(s) * width + cls[c]];
      if (next == StackArena::kUnknown) {
        next = arena.step_slow(s, c);
        trans = arena.transitions();
        complete = arena.complete_flags();
      }
      if (next == StackArena::kDead) {
        result = track_base && hit[d + 1] ? 2 : 0;
        break;
      }
      st[d + 1] = next;
    }
    if (result == 1) {
      valid = b.size();
      on_tokens(i, i + 1, 1);
      ++i;
      continue;
    }
    // Every following token sharing the dead prefix b[0..d] has the same
    // fate: jump over the subtree (everything between j and skip[j] has an
    // lcp of at least lcp[j]).
    valid = d;
    size_t j = i + 1;
    while (j < end && lcp[j] >= d + 1) j = static_cast<size_t>(skip[j]);
    j = std::min(j, end);
    if (result == 2) on_tokens(i, j, 2);
    i = j;
  }
}

}  // namespace qs::grammar
