#include "grammar/compiled_grammar.h"

#include <algorithm>

namespace qs::grammar {

int32_t StackArena::node(uint32_t pos, int32_t parent) {
  uint64_t key = (uint64_t{pos} << 32) | static_cast<uint32_t>(parent + 1);
  auto it = node_index_.find(key);
  if (it != node_index_.end()) return it->second;
  int32_t id = static_cast<int32_t>(nodes_.size());
  nodes_.emplace_back(pos, parent);
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
  uint64_t key = (static_cast<uint64_t>(state) << 8) | byte;
  auto it = trans_.find(key);
  if (it != trans_.end()) return it->second;
  scratch_.clear();
  std::vector<int32_t> out;
  for (int32_t s : states_[state]) {
    if (s < 0) continue;  // complete: nothing more may follow
    auto [pos, parent] = nodes_[s];
    if (!g_.sets[g_.elems[pos].id].has(byte)) continue;
    expand(norm(pos + 1, parent), &out);
  }
  int32_t next = intern(&out);
  trans_.emplace(key, next);
  return next;
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
