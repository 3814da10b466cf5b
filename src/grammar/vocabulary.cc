#include "grammar/vocabulary.h"

#include <algorithm>

namespace qs::grammar {

std::vector<int32_t> next_smaller_lcp(const std::vector<uint16_t>& lcp) {
  const int32_t n = static_cast<int32_t>(lcp.size());
  std::vector<int32_t> next(lcp.size(), n);
  std::vector<int32_t> open;  // indices still waiting for a smaller lcp, lcp non-decreasing
  for (int32_t j = 0; j < n; ++j) {
    while (!open.empty() && lcp[open.back()] > lcp[j]) {
      next[open.back()] = j;
      open.pop_back();
    }
    open.push_back(j);
  }
  return next;
}

std::shared_ptr<const PositionMask> Vocabulary::shared_mask(const std::string& key) const {
  std::lock_guard<std::mutex> lock(shared_mu_);
  auto it = shared_.find(key);
  return it == shared_.end() ? nullptr : it->second;
}

void Vocabulary::put_shared_mask(const std::string& key, std::shared_ptr<const PositionMask> mask,
                                 size_t bytes) const {
  std::lock_guard<std::mutex> lock(shared_mu_);
  if (shared_bytes_ + bytes + key.size() > kMaxSharedBytes) {  // holders keep theirs alive
    shared_.clear();
    shared_bytes_ = 0;
  }
  if (shared_.emplace(key, std::move(mask)).second) shared_bytes_ += bytes + key.size();
}

bool Vocabulary::is_eos(int32_t id) const {
  return std::find(eos_.begin(), eos_.end(), id) != eos_.end();
}

int32_t Vocabulary::find(std::string_view bytes) const {
  auto it = by_bytes_.find(bytes);
  return it == by_bytes_.end() ? -1 : it->second;
}

void Vocabulary::index() {
  by_bytes_.clear();
  for (int32_t i = 0; i < size(); ++i)
    if (usable_[i] && !bytes_[i].empty()) by_bytes_.emplace(bytes_[i], i);
  sorted_.clear();
  for (int32_t i = 0; i < size(); ++i)
    if (usable_[i] && !bytes_[i].empty()) sorted_.push_back(i);
  std::sort(sorted_.begin(), sorted_.end(), [&](int32_t a, int32_t b) {
    return bytes_[a] != bytes_[b] ? bytes_[a] < bytes_[b] : a < b;
  });
  lcp_.assign(sorted_.size(), 0);
  for (size_t i = 1; i < sorted_.size(); ++i) {
    const std::string& a = bytes_[sorted_[i - 1]];
    const std::string& b = bytes_[sorted_[i]];
    size_t n = 0, m = std::min(a.size(), b.size());
    while (n < m && a[n] == b[n]) ++n;
    lcp_[i] = static_cast<uint16_t>(std::min<size_t>(n, 65535));
  }
  skip_ = next_smaller_lcp(lcp_);
  sorted_data_.clear();
  sorted_off_.assign(1, 0);
  for (int32_t id : sorted_) {
    sorted_data_ += bytes_[id];
    sorted_off_.push_back(static_cast<uint32_t>(sorted_data_.size()));
  }
}

Result<std::shared_ptr<const Vocabulary>> Vocabulary::FromTokenizer(const tokenizer::Tokenizer& tok,
                                                                    int32_t size) {
  if (size <= 0) size = tok.vocab_size();
  if (size < tok.vocab_size())
    return Status::Error("grammar vocabulary: size " + std::to_string(size) +
                         " is below the tokenizer's " + std::to_string(tok.vocab_size()));
  std::shared_ptr<Vocabulary> v(new Vocabulary());
  v->bytes_.resize(size);
  v->usable_.assign(size, 0);
  for (int32_t i = 0; i < tok.vocab_size(); ++i) {
    v->bytes_[i] = std::string(tok.token_bytes(i));
    v->usable_[i] = !tok.is_added(i);
    for (const char* s : {"<tool_call>", "</tool_call>"})
      if (tok.is_added(i) && v->bytes_[i] == s) {
        v->usable_[i] = 1;
        (v->bytes_[i] == "<tool_call>" ? v->tool_open_ : v->tool_close_) = i;
      }
  }
  v->eos_ = tok.stop_ids();
  if (v->eos_.empty()) return Status::Error("grammar vocabulary: the tokenizer has no stop ids");
  v->index();
  return std::shared_ptr<const Vocabulary>(std::move(v));
}

Result<std::shared_ptr<const Vocabulary>> Vocabulary::FromTokens(std::vector<std::string> tokens,
                                                                 std::vector<int32_t> eos_ids) {
  std::shared_ptr<Vocabulary> v(new Vocabulary());
  v->bytes_ = std::move(tokens);
  v->usable_.assign(v->bytes_.size(), 1);
  for (int32_t e : eos_ids) {
    if (e < 0 || e >= v->size()) return Status::Error("grammar vocabulary: eos id out of range");
    v->usable_[e] = 0;
  }
  for (int32_t i = 0; i < v->size(); ++i) {
    if (v->bytes_[i] == "<tool_call>") v->tool_open_ = i;
    if (v->bytes_[i] == "</tool_call>") v->tool_close_ = i;
  }
  v->eos_ = std::move(eos_ids);
  v->index();
  return std::shared_ptr<const Vocabulary>(std::move(v));
}

}  // namespace qs::grammar
