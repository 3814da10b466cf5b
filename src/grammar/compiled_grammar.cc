#include "grammar/compiled_grammar.h"

#include <algorithm>
#include <climits>
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
  state_index_.emplace(*stacks, id);
  trans_.resize(states_.size() * 256, kUnknown);
  return id;
}

int32_t StackArena::state_at(uint32_t pos, int32_t parent) {
  std::vector<int32_t> out;
  expand(norm(pos, parent), &out);
  return intern(&out);
}

int32_t StackArena::initial() {
  std::vector<int32_t> out;
  for (uint32_t a : g_.alts[g_.root]) expand(norm(a, -1), &out);
  return intern(&out);
}

int32_t StackArena::step(int32_t state, uint8_t byte) {
  const size_t key = static_cast<size_t>(state) * 256 + byte;
  if (trans_[key] != kUnknown) return trans_[key];
  scratch_.clear();
  std::vector<int32_t> out;
  for (int32_t s : states_[state]) {
    if (s < 0) continue;  // complete: nothing more may follow
    auto [pos, parent] = nodes_[s];
    if (!g_.sets[g_.elems[pos].id].has(byte)) continue;
    expand(norm(pos + 1, parent), &out);
  }
  int32_t next = intern(&out);
  trans_[key] = next;
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
  masks_.resize(flat_.elems.size());
  shortest_derivations(&flat_);
}

const PositionMask& CompiledGrammar::position_mask(uint32_t pos) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (masks_[pos]) return *masks_[pos];
  if (!arena_) arena_ = std::make_unique<StackArena>(flat_);
  auto m = std::make_unique<PositionMask>();
  m->accepted.assign(words(), 0);
  const Vocabulary& v = *vocab_;
  const std::vector<int32_t>& ids = v.sorted();
  int32_t start = arena_->state_at(pos, -1);
  walk_tokens(*arena_, v, start, ids.data(), v.lcp().data(), ids.size(), true,
              [&](size_t i, int result) {
                int32_t t = ids[i];
                if (result == 1) m->accepted[t >> 6] |= uint64_t{1} << (t & 63);
                if (result == 2) m->uncertain.push_back(t);
              });
  m->uncertain_lcp.assign(m->uncertain.size(), 0);
  for (size_t i = 1; i < m->uncertain.size(); ++i) {
    const std::string& a = v.bytes(m->uncertain[i - 1]);
    const std::string& b = v.bytes(m->uncertain[i]);
    size_t n = 0, k = std::min(a.size(), b.size());
    while (n < k && a[n] == b[n]) ++n;
    m->uncertain_lcp[i] = static_cast<uint16_t>(std::min<size_t>(n, 65535));
  }
  masks_[pos] = std::move(m);
  return *masks_[pos];
}

}  // namespace qs::grammar
