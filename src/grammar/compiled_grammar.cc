#include "grammar/compiled_grammar.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <map>
#include <queue>

namespace qs::grammar {

int32_t StackArena::node(uint32_t pos, int32_t parent) {
  uint64_t key = (uint64_t{pos} << 32) | static_cast<uint32_t>(parent + 1);
  auto it = node_index_.find(key);
  if (it != node_index_.end()) return it->second;
  int32_t id = static_cast<int32_t>(nodes_.size());
  nodes_.emplace_back(pos, parent);
  node_min_.push_back(g_.rest_min[pos] + (parent < 0 ? 0 : node_min_[parent]));
  node_index_.emplace(key, id);
  return id;
}

int32_t StackArena::norm(uint32_t pos, int32_t parent) {
  // A finished alternative returns to its parent, whose top already points
  // past the rule reference.
  return g_.elems[pos].kind == FlatElem::kEnd ? parent : node(pos, parent);
}

void StackArena::expand(int32_t stack, std::vector<int32_t>* out) {
  if (stack < 0) {
    out->push_back(-1);
    return;
  }
  auto [pos, parent] = nodes_[stack];
  const FlatElem& e = g_.elems[pos];
  if (e.kind == FlatElem::kBytes) {
    out->push_back(stack);
    return;
  }
  // kRule: push each alternative over the continuation after the reference
  // (a reference in tail position does not grow the stack).
  int32_t cont = norm(pos + 1, parent);
  for (uint32_t a : g_.alts[e.id]) {
    if (out->size() > kMaxStacks) return;
    expand(norm(a, cont), out);
  }
}

int32_t StackArena::intern(std::vector<int32_t>* stacks) {
  if (stacks->empty() || stacks->size() > kMaxStacks) return kDead;
  std::sort(stacks->begin(), stacks->end());
  stacks->erase(std::unique(stacks->begin(), stacks->end()), stacks->end());
  auto it = state_index_.find(*stacks);
  if (it != state_index_.end()) return it->second;
  int32_t id = static_cast<int32_t>(states_.size());
  states_.push_back(*stacks);
  complete_.push_back((*stacks)[0] == -1);
  state_index_.emplace(*stacks, id);
  trans_.resize(states_.size() * width_, kUnknown);
  return id;
}

int32_t StackArena::state_at(uint32_t pos, int32_t parent) {
  std::vector<int32_t> out;
  expand(norm(pos, parent), &out);
  return intern(&out);
}

int32_t StackArena::state_of_positions(const std::vector<int32_t>& positions) {
  std::vector<int32_t> out;
  for (int32_t p : positions) out.push_back(node(static_cast<uint32_t>(p), -1));
  return intern(&out);
}

int32_t StackArena::initial() {
  std::vector<int32_t> out;
  for (uint32_t a : g_.alts[g_.root]) expand(norm(a, -1), &out);
  return intern(&out);
}

int32_t StackArena::step_slow(int32_t state, uint8_t byte) {
  scratch_.clear();
  std::vector<int32_t> out;
  for (int32_t s : states_[state]) {
    if (s < 0) continue;  // complete: nothing more may follow
    auto [pos, parent] = nodes_[s];
    if (!g_.sets[g_.elems[pos].id].has(byte)) continue;
    expand(norm(pos + 1, parent), &out);
  }
  int32_t next = intern(&out);
  trans_[static_cast<size_t>(state) * width_ + g_.byte_class[byte]] = next;
  return next;
}

int32_t StackArena::min_completion(int32_t state) const {
  int32_t best = INT32_MAX;
  for (int32_t s : states_[state]) best = std::min(best, min_completion_of_stack(s));
  return best;
}

static void emit_shortest(const FlatGrammar& g, uint32_t pos, std::string* out) {
  for (; g.elems[pos].kind != FlatElem::kEnd; ++pos) {
    const FlatElem& e = g.elems[pos];
    if (e.kind == FlatElem::kBytes) {
      const ByteSet& set = g.sets[e.id];
      int b = 0;
      while (!set.has(static_cast<uint8_t>(b))) ++b;
      out->push_back(static_cast<char>(b));
    } else {
      emit_shortest(g, g.min_alt[e.id], out);
    }
  }
}

std::string StackArena::shortest_completion(int32_t stack) const {
  std::string out;
  for (int32_t s = stack; s >= 0; s = nodes_[s].second) emit_shortest(g_, nodes_[s].first, &out);
  return out;
}

// Shortest derivations in the order of Knuth's generalisation of Dijkstra:
// a rule's length is fixed only from rules fixed before it, so following
// min_alt never loops.
static void shortest_derivations(FlatGrammar* g) {
  const size_t n = g->alts.size();
  constexpr int32_t kInf = INT32_MAX / 4;
  g->min_len.assign(n, kInf);
  g->min_alt.assign(n, 0);
  // Alternatives: owner rule, start, bytes so far, rule references not fixed yet.
  struct Alt {
    uint32_t rule, start;
    int64_t len = 0;
    int32_t pending = 0;
  };
  std::vector<Alt> alts;
  std::vector<std::vector<uint32_t>> uses(n);  // [rule] alternatives referencing it
  using Item = std::pair<int64_t, uint32_t>;   // (length, alternative)
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  for (uint32_t r = 0; r < n; ++r)
    for (uint32_t start : g->alts[r]) {
      Alt a{r, start};
      uint32_t id = static_cast<uint32_t>(alts.size());
      for (uint32_t p = start; g->elems[p].kind != FlatElem::kEnd; ++p) {
        if (g->elems[p].kind == FlatElem::kBytes) {
          ++a.len;
        } else {
          ++a.pending;
          uses[g->elems[p].id].push_back(id);
        }
      }
      alts.push_back(a);
      if (a.pending == 0) heap.emplace(a.len, id);
    }
  std::vector<char> fixed(n, 0);
  while (!heap.empty()) {
    auto [len, id] = heap.top();
    heap.pop();
    const Alt& a = alts[id];
    if (fixed[a.rule]) continue;
    fixed[a.rule] = 1;
    g->min_len[a.rule] = static_cast<int32_t>(std::min<int64_t>(len, kInf));
    g->min_alt[a.rule] = a.start;
    for (uint32_t j : uses[a.rule]) {
      alts[j].len += len;
      if (--alts[j].pending == 0) heap.emplace(alts[j].len, j);
    }
  }
  g->rest_min.assign(g->elems.size(), 0);
  for (size_t p = g->elems.size(); p-- > 0;) {
    const FlatElem& e = g->elems[p];
    if (e.kind == FlatElem::kEnd) continue;
    int32_t after = g->elems[p + 1].kind == FlatElem::kEnd ? 0 : g->rest_min[p + 1];
    int32_t self = e.kind == FlatElem::kBytes ? 1 : std::min(g->min_len[e.id], kInf);
    g->rest_min[p] = std::min(after + self, kInf);
  }
}

CompiledGrammar::CompiledGrammar(std::shared_ptr<const Vocabulary> vocab, Grammar grammar)
    : vocab_(std::move(vocab)), grammar_(std::move(grammar)) {
  flat_.sets = grammar_.sets;
  flat_.root = grammar_.root;
  flat_.alts.resize(grammar_.rules.size());
  for (size_t r = 0; r < grammar_.rules.size(); ++r)
    for (const Seq& alt : grammar_.rules[r]) {
      flat_.alts[r].push_back(static_cast<uint32_t>(flat_.elems.size()));
      for (const Elem& e : alt)
        flat_.elems.push_back(
            FlatElem{e.kind == Elem::kBytes ? FlatElem::kBytes : FlatElem::kRule, e.id});
      flat_.elems.push_back(FlatElem{FlatElem::kEnd, 0});
    }
  shortest_derivations(&flat_);
  // Byte classes: bytes with the same membership in every set.
  std::map<std::vector<bool>, uint8_t> classes;
  for (int b = 0; b < 256; ++b) {
    std::vector<bool> sig(flat_.sets.size());
    for (size_t k = 0; k < flat_.sets.size(); ++k)
      sig[k] = flat_.sets[k].has(static_cast<uint8_t>(b));
    auto [it, added] =
        classes.emplace(std::move(sig), static_cast<uint8_t>(flat_.class_bytes.size()));
    if (added) flat_.class_bytes.emplace_back();
    flat_.byte_class[b] = it->second;
    flat_.class_bytes[it->second].push_back(static_cast<uint8_t>(b));
  }
}

size_t CompiledGrammar::masks_computed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return computed_;
}

std::shared_ptr<const PositionMask> CompiledGrammar::top_mask(
    const std::vector<int32_t>& tops) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = masks_.find(tops);
  if (it != masks_.end()) return it->second;
  if (mask_bytes_ > kMaxMaskBytes) {  // requests holding a mask keep it alive
    masks_.clear();
    mask_bytes_ = 0;
  }
  std::string key = canonical_key(tops);
  std::shared_ptr<const PositionMask> m = key.empty() ? nullptr : vocab_->shared_mask(key);
  if (!m) {
    m = compute_mask(tops);
    ++computed_;
    if (!key.empty()) vocab_->put_shared_mask(key, m, m->bytes());
  }
  mask_bytes_ += m->bytes() + tops.size() * 4;
  masks_.emplace(tops, m);
  return m;
}

std::string CompiledGrammar::canonical_key(const std::vector<int32_t>& tops) const {
  std::string out;
  std::unordered_map<uint32_t, uint32_t> rule_no, set_no;
  std::vector<uint32_t> queue;
  auto put32 = [&](uint32_t x) { out.append(reinterpret_cast<const char*>(&x), 4); };
  auto seq = [&](uint32_t p) {
    for (;; ++p) {
      const FlatElem& e = flat_.elems[p];
      if (e.kind == FlatElem::kEnd) {
        out += 'E';
        return;
      }
      if (e.kind == FlatElem::kBytes) {
        auto [it, added] = set_no.emplace(e.id, static_cast<uint32_t>(set_no.size()));
        if (added) {
          out += 'S';  // first use: the set's bytes
          out.append(reinterpret_cast<const char*>(flat_.sets[e.id].w.data()), 32);
        } else {
          out += 'B';
          put32(it->second);
        }
      } else {
        auto [it, added] = rule_no.emplace(e.id, static_cast<uint32_t>(rule_no.size()));
        if (added) queue.push_back(e.id);
        out += 'R';
        put32(it->second);
      }
    }
  };
  for (int32_t p : tops) {
    out += 'T';
    seq(static_cast<uint32_t>(p));
  }
  for (size_t q = 0; q < queue.size(); ++q) {
    out += 'U';
    for (uint32_t a : flat_.alts[queue[q]]) seq(a);
    if (out.size() > kMaxKeyBytes) return std::string();
  }
  return out;
}

// Under mu_.
std::shared_ptr<const PositionMask> CompiledGrammar::compute_mask(
    const std::vector<int32_t>& tops) const {
  if (!arena_) arena_ = std::make_unique<StackArena>(flat_);
  auto m = std::make_shared<PositionMask>();
  const Vocabulary& v = *vocab_;
  const std::vector<int32_t>& ids = v.sorted();
  std::vector<uint64_t> acc(words(), 0);
  size_t count = 0;
  int32_t start = arena_->state_of_positions(tops);
  walk_tokens(*arena_, v, start, 0, ids.size(), true, [&](size_t i, size_t j, int result) {
    if (result == 1) {
      acc[ids[i] >> 6] |= uint64_t{1} << (ids[i] & 63);
      ++count;
    } else if (!m->uncertain.empty() && m->uncertain.back().second == static_cast<int32_t>(i)) {
      m->uncertain.back().second = static_cast<int32_t>(j);  // adjacent: one range
    } else {
      m->uncertain.emplace_back(static_cast<int32_t>(i), static_cast<int32_t>(j));
    }
  });
  // Sparse ids cost less to store and to OR in below half a bitset's size.
  if (count < words() * 2) {
    m->accepted_ids.reserve(count);
    for (size_t w = 0; w < acc.size(); ++w)
      for (uint64_t x = acc[w]; x; x &= x - 1)
        m->accepted_ids.push_back(static_cast<int32_t>(w * 64 + std::countr_zero(x)));
  } else {
    m->accepted = std::move(acc);
  }
  return m;
}

}  // namespace qs::grammar
