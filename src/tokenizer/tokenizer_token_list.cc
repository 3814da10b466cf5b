// The tokenizer in llama.cpp's vocabulary form (the tokenizer.ggml.* arrays of
// a GGUF file), both ways. Reading treats the lists as hostile: every index,
// type and merge is checked, and errors name the file, the key and the index.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/merge_table.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_build.h"

namespace qs::tokenizer {
namespace {

constexpr const char* kTokens = "tokenizer.ggml.tokens";
constexpr const char* kTypes = "tokenizer.ggml.token_type";
constexpr const char* kMerges = "tokenizer.ggml.merges";
constexpr const char* kEos = "tokenizer.ggml.eos_token_id";
constexpr size_t kMaxTokens = size_t{1} << 24;

std::string pad_name(size_t id) { return "[PAD" + std::to_string(id) + "]"; }

// Keeps error messages one line and short when a hostile token is huge or binary.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 40; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  return out + (s.size() > 40 ? "...'" : "'");
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromTokenList(TokenList list,
                                                            const std::string& source) {
  auto fail = [&](const std::string& what) { return Status::Error(source + ": " + what); };
  const size_t n = list.tokens.size();
  if (n == 0) return fail(std::string(kTokens) + " is empty");
  if (n > kMaxTokens) return fail(std::string(kTokens) + " has too many entries");
  if (list.types.size() != n) {
    return fail(std::string(kTypes) + " has " + std::to_string(list.types.size()) +
                " entries for " + std::to_string(n) + " tokens");
  }
  std::vector<std::pair<std::string, int64_t>> vocab;
  vocab.reserve(n);
  std::vector<AddedToken> added;
  std::vector<uint8_t> present(n, 0);
  for (size_t id = 0; id < n; ++id) {
    std::string& tok = list.tokens[id];
    const std::string at = "[" + std::to_string(id) + "]";
    switch (static_cast<TokenType>(list.types[id])) {
      case TokenType::kNormal:
        vocab.emplace_back(std::move(tok), static_cast<int64_t>(id));
        present[id] = 1;
        break;
      case TokenType::kControl:
      case TokenType::kUserDefined:
        // Older writers (ours included) typed the "[PAD<id>]" holes as user-defined.
        if (tok == pad_name(id)) break;
        if (tok.empty()) return fail(std::string(kTokens) + at + ": empty added token");
        added.push_back({std::move(tok), static_cast<int32_t>(id),
                         static_cast<TokenType>(list.types[id]) == TokenType::kControl});
        present[id] = 1;
        break;
      case TokenType::kUnused:
        break;
      default:
        return fail(std::string(kTypes) + at + " = " + std::to_string(list.types[id]) +
                    " is not a type of a byte-level BPE vocabulary (1, 3, 4 or 5)");
    }
  }
  std::string eos;
  if (list.eos_id) {
    const int64_t e = *list.eos_id;
    if (e < 0 || static_cast<size_t>(e) >= n || !present[static_cast<size_t>(e)]) {
      return fail(std::string(kEos) + " = " + std::to_string(e) +
                  " is not a token of the vocabulary");
    }
    const auto it =
        std::find_if(added.begin(), added.end(), [&](const AddedToken& a) { return a.id == e; });
    if (it == added.end()) {
      // A normal token as eos: its vocabulary string names it.
      for (const auto& [piece, id] : vocab)
        if (id == e) eos = piece;
    } else {
      eos = it->content;
    }
  }
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(list.merges.size());
  for (size_t r = 0; r < list.merges.size(); ++r) {
    const std::string& m = list.merges[r];
    const size_t sp = m.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 >= m.size() ||
        m.find(' ', sp + 1) != std::string::npos) {
      return fail(std::string(kMerges) + "[" + std::to_string(r) + "] = " + quoted(m) +
                  " is not 'A B'");
    }
    merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  auto t = detail::build_tokenizer(std::move(vocab), merges, std::move(added), std::move(eos),
                                   std::move(list.chat_template));
  if (!t.ok()) {
    // The builder names merges by 1-based line ("merge 12 (...)"); the rest are vocabulary.
    const std::string& msg = t.status().message();
    return fail(std::string(msg.rfind("merge ", 0) == 0 ? kMerges : kTokens) + ": " + msg);
  }
  return t;
}

TokenList Tokenizer::to_token_list(int32_t vocab_size) const {
  TokenList out;
  const size_t n = std::max(pieces_.size(), static_cast<size_t>(std::max(vocab_size, 0)));
  out.tokens.resize(n);
  out.types.resize(n);
  for (size_t id = 0; id < n; ++id) {
    const bool hole = id >= pieces_.size() || pieces_[id].empty();
    out.tokens[id] = hole ? pad_name(id) : pieces_[id];
    TokenType type = TokenType::kNormal;
    if (hole)
      type = TokenType::kUnused;
    else if (added_flag_[id] == 2)
      type = TokenType::kControl;
    else if (added_flag_[id] == 1)
      type = TokenType::kUserDefined;
    out.types[id] = static_cast<int32_t>(type);
  }
  // The merge table is keyed by pair; its ranks give back the merges.txt order.
  std::vector<const MergeTable::Slot*> slots;
  slots.reserve(merges_->slots.size() / 2);
  for (const MergeTable::Slot& s : merges_->slots)
    if (s.key != MergeTable::kEmpty) slots.push_back(&s);
  std::sort(slots.begin(), slots.end(),
            [](const MergeTable::Slot* a, const MergeTable::Slot* b) { return a->rank < b->rank; });
  out.merges.reserve(slots.size());
  for (const MergeTable::Slot* s : slots) {
    const auto left = static_cast<int32_t>(s->key >> 32);
    const auto right = static_cast<int32_t>(s->key & 0xffffffffu);
    out.merges.push_back(pieces_[left] + " " + pieces_[right]);
  }
  if (eos_id_ >= 0) out.eos_id = eos_id_;
  out.chat_template = chat_template_;
  return out;
}

}  // namespace qs::tokenizer
