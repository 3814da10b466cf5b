#include "grammar/matcher.h"

#include <algorithm>
#include <cstring>

namespace qs::grammar {

namespace {
constexpr size_t kMaxCachedMasks = 128;  // per request: 128 x 19 KB

void set_bit(std::vector<uint64_t>& w, int32_t t) { w[t >> 6] |= uint64_t{1} << (t & 63); }
void clear_bit(std::vector<uint64_t>& w, int32_t t) { w[t >> 6] &= ~(uint64_t{1} << (t & 63)); }
}  // namespace

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> grammar)
    : g_(std::move(grammar)), arena_(g_->flat()) {
  state_ = arena_.initial();
  free_ = g_->free_text_prefix;
}

const std::vector<uint64_t>& Matcher::mask_of(int32_t state) {
  auto it = cache_.find(state);
  if (it != cache_.end()) return it->second;
  if (cache_.size() >= kMaxCachedMasks) cache_.clear();
  const Vocabulary& v = g_->vocab();
  std::vector<uint64_t> bits(g_->words(), 0);
  std::vector<int32_t> tops;
  for (int32_t s : arena_.stacks(state)) {
    if (s < 0) {
      for (int32_t e : v.eos_ids()) set_bit(bits, e);
    } else {
      tops.push_back(static_cast<int32_t>(arena_.top(s)));
    }
  }
  std::sort(tops.begin(), tops.end());
  tops.erase(std::unique(tops.begin(), tops.end()), tops.end());
  if (!tops.empty()) {
    std::shared_ptr<const PositionMask> pm = g_->top_mask(tops);
    if (!pm->accepted.empty())
      for (size_t i = 0; i < bits.size(); ++i) bits[i] |= pm->accepted[i];
    for (int32_t t : pm->accepted_ids) set_bit(bits, t);
    // Uncertain tokens pop below a top rule: check them on the real state.
    for (auto [first, last] : pm->uncertain)
      walk_tokens(arena_, v, state, static_cast<size_t>(first), static_cast<size_t>(last), false,
                  [&](size_t i, size_t, int result) {
                    if (result == 1) set_bit(bits, v.sorted()[i]);
                  });
  }
  if (!g_->allow_tool_tokens) {
    if (v.tool_call_open() >= 0) clear_bit(bits, v.tool_call_open());
    if (v.tool_call_close() >= 0) clear_bit(bits, v.tool_call_close());
  }
  return cache_.emplace(state, std::move(bits)).first->second;
}

int32_t Matcher::min_completion_bytes() const {
  if (free_) return 0;
  return arena_.min_completion(state_);
}

const std::vector<uint64_t>* Matcher::budget_mask(int32_t remaining_tokens) {
  if (remaining_tokens < 0 || free_) return nullptr;
  const int32_t need = arena_.min_completion(state_);
  if (need + kBudgetSlack < remaining_tokens) return nullptr;
  const Vocabulary& v = g_->vocab();
  tight_.assign(g_->words(), 0);
  if (need == 0) {
    for (int32_t e : v.eos_ids()) set_bit(tight_, e);
    return &tight_;
  }
  // Follow the stack with the shortest completion; allow its prefixes.
  int32_t best = -1;
  for (int32_t s : arena_.stacks(state_))
    if (best < 0 || arena_.min_completion_of_stack(s) < arena_.min_completion_of_stack(best))
      best = s;
  std::string path = arena_.shortest_completion(best);
  for (size_t k = 1; k <= path.size() && k <= 64; ++k) {
    int32_t t = v.find(std::string_view(path).substr(0, k));
    if (t >= 0) set_bit(tight_, t);
  }
  return &tight_;
}

void Matcher::fill_bitmask(uint64_t* words, int32_t remaining_tokens) {
  const size_t n = g_->words();
  if (terminated_) {
    std::memset(words, 0, n * sizeof(uint64_t));
    return;
  }
  if (free_) {
    std::memset(words, 0xff, n * sizeof(uint64_t));
    int32_t size = g_->vocab().size();
    if (size & 63) words[n - 1] = (uint64_t{1} << (size & 63)) - 1;
    return;
  }
  const std::vector<uint64_t>* tight = budget_mask(remaining_tokens);
  const std::vector<uint64_t>& bits = tight ? *tight : mask_of(state_);
  std::memcpy(words, bits.data(), n * sizeof(uint64_t));
}

void Matcher::fill_mask(uint8_t* allowed, int32_t remaining_tokens) {
  const int32_t size = g_->vocab().size();
  if (terminated_) {
    std::memset(allowed, 0, size);
    return;
  }
  if (free_) {
    std::memset(allowed, 1, size);
    return;
  }
  // Byte b of the bitset -> 8 mask bytes via a table (little endian).
  static const auto kSpread = [] {
    std::array<uint64_t, 256> t{};
    for (int b = 0; b < 256; ++b)
      for (int k = 0; k < 8; ++k)
        if (b >> k & 1) t[b] |= uint64_t{1} << (8 * k);
    return t;
  }();
  const std::vector<uint64_t>* tight = budget_mask(remaining_tokens);
  const std::vector<uint64_t>& bits = tight ? *tight : mask_of(state_);
  const int32_t full = size / 64;
  for (int32_t w = 0; w < full; ++w) {
    uint64_t x = bits[w];
    uint8_t* out = allowed + static_cast<size_t>(w) * 64;
    if (x == 0) {
      std::memset(out, 0, 64);
      continue;
    }
    for (int k = 0; k < 8; ++k) {
      uint64_t v = kSpread[(x >> (8 * k)) & 0xff];
      std::memcpy(out + 8 * k, &v, 8);
    }
  }
  for (int32_t t = full * 64; t < size; ++t) allowed[t] = (bits[t >> 6] >> (t & 63)) & 1;
}

bool Matcher::accept_bytes(std::string_view bytes) {
  int32_t s = state_;
  for (char c : bytes) {
    s = arena_.step(s, static_cast<uint8_t>(c));
    if (s == StackArena::kDead) return false;
  }
  state_ = s;
  return true;
}

bool Matcher::can_accept_bytes(std::string_view bytes) {
  int32_t s = state_;
  for (char c : bytes) {
    s = arena_.step(s, static_cast<uint8_t>(c));
    if (s == StackArena::kDead) return false;
  }
  return true;
}

bool Matcher::accept(int32_t token) {
  const Vocabulary& v = g_->vocab();
  if (terminated_ || token < 0 || token >= v.size()) return false;
  if (free_) {
    if (token == v.tool_call_open() && g_->allow_tool_tokens) {
      if (!accept_bytes(v.bytes(token))) return false;
      free_ = false;
    } else if (v.is_eos(token)) {
      terminated_ = true;
    }
    return true;
  }
  if (v.is_eos(token)) {
    if (!arena_.complete(state_)) return false;
    terminated_ = true;
    return true;
  }
  if (!g_->allow_tool_tokens && (token == v.tool_call_open() || token == v.tool_call_close()))
    return false;
  // Tokens outside the grammar's vocabulary (added/special) have no place in it.
  const std::string& b = v.bytes(token);
  if (b.empty() || !v.usable(token)) return false;
  return accept_bytes(b);
}

bool Matcher::is_complete() const { return !terminated_ && !free_ && arena_.complete(state_); }

bool Matcher::must_end() const { return is_complete() && arena_.stacks(state_).size() == 1; }

}  // namespace qs::grammar
