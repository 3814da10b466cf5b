#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <unordered_map>

#include "tokenizer/merge_table.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace qs::tokenizer {
namespace {

std::atomic<uint64_t> g_next_serial{1};

// Per-thread cache of pre-token bytes -> ids. Owned by one Tokenizer instance
// at a time (by serial number, so a freed and reallocated tokenizer never sees
// stale entries).
struct StrHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct BpeCache {
  static constexpr size_t kMaxEntries = 1 << 16;
  static constexpr size_t kMaxPieceBytes = 128;  // longer pieces are rarely repeated
  uint64_t owner = 0;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, StrHash, std::equal_to<>> map;
  std::vector<int32_t> pool;  // ids of all entries, [offset, offset + count)
  void reset(uint64_t serial) {
    owner = serial;
    map.clear();
    pool.clear();
  }
};
thread_local BpeCache t_cache;

struct Sym {
  int32_t id;
  int32_t prev;  // index of the previous live symbol, -1 at the start
  int32_t next;  // index of the next live symbol, -1 at the end
};
struct Candidate {
  int32_t rank;
  int32_t pos;  // index of the left symbol
  int32_t left;
  int32_t right;
  int32_t result;
};
// std heap functions build a max-heap; invert so the lowest (rank, pos) is on top.
struct CandidateAfter {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

}  // namespace

Tokenizer::Tokenizer() : serial_(g_next_serial.fetch_add(1)) {}
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  encode_append(text, allow_special, &out);
  return out;
}

void Tokenizer::encode_append(std::string_view text, bool allow_special,
                              std::vector<int32_t>* out) const {
  if (!allow_special || added_.empty()) {
    encode_plain(text, out);
    return;
  }
  // Leftmost-longest match of added tokens (added_ is sorted longest first).
  size_t seg = 0;
  size_t i = 0;
  while (i < text.size()) {
    const AddedToken* hit = nullptr;
    for (const AddedToken& t : added_) {
      if (t.content.size() <= text.size() - i &&
          std::memcmp(text.data() + i, t.content.data(), t.content.size()) == 0 &&
          !t.content.empty()) {
        hit = &t;
        break;
      }
    }
    if (hit == nullptr) {
      // Skip ahead to the next byte that can start an added token.
      ++i;
      while (i < text.size() && !added_first_byte_[static_cast<uint8_t>(text[i])]) ++i;
      continue;
    }
    encode_plain(text.substr(seg, i - seg), out);
    out->push_back(hit->id);
    i += hit->content.size();
    seg = i;
  }
  encode_plain(text.substr(seg), out);
}

Result<std::vector<int32_t>> Tokenizer::encode_segments(
    const std::vector<TextSegment>& segments) const {
  std::vector<int32_t> out;
  std::string pending;  // consecutive text segments, encoded together
  for (const TextSegment& s : segments) {
    if (!s.special) {
      pending += s.text;
      continue;
    }
    auto id = token_id(s.text);
    if (!id || !is_added(*id)) return Status::Error("'" + s.text + "' is not an added token");
    encode_plain(pending, &out);
    pending.clear();
    out.push_back(*id);
  }
  encode_plain(pending, &out);
  return out;
}

void Tokenizer::encode_plain(std::string_view text, std::vector<int32_t>* out) const {
  if (text.empty()) return;
  std::string normalized;
  if (nfc_normalize(text, &normalized)) text = normalized;
  PreTokenizer pre(text);
  std::string_view piece;
  while (pre.next(&piece)) bpe(piece, out);
}

void Tokenizer::bpe(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    out->push_back(byte_to_id_[static_cast<uint8_t>(piece[0])]);
    return;
  }
  if (piece.size() > BpeCache::kMaxPieceBytes) {
    bpe_uncached(piece, out);
    return;
  }
  BpeCache& cache = t_cache;
  if (cache.owner != serial_) cache.reset(serial_);
  auto it = cache.map.find(piece);
  if (it != cache.map.end()) {
    const int32_t* p = cache.pool.data() + it->second.first;
    out->insert(out->end(), p, p + it->second.second);
    return;
  }
  size_t before = out->size();
  bpe_uncached(piece, out);
  if (cache.map.size() >= BpeCache::kMaxEntries) cache.reset(serial_);
  uint32_t offset = static_cast<uint32_t>(cache.pool.size());
  cache.pool.insert(cache.pool.end(), out->begin() + static_cast<ptrdiff_t>(before), out->end());
  cache.map.emplace(std::string(piece),
                    std::make_pair(offset, static_cast<uint32_t>(out->size() - before)));
}

// BPE as HF tokenizers' Word::merge_all: repeatedly apply the lowest-rank merge
// among adjacent pairs, the leftmost one on ties. Heap of candidates; a popped
// candidate is stale if either symbol changed since it was pushed.
void Tokenizer::bpe_uncached(std::string_view piece, std::vector<int32_t>* out) const {
  const int32_t n = static_cast<int32_t>(piece.size());
  thread_local std::vector<Sym> syms;
  thread_local std::vector<Candidate> heap;
  syms.resize(static_cast<size_t>(n));
  heap.clear();
  for (int32_t i = 0; i < n; ++i) {
    syms[i] = {byte_to_id_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  auto push = [&](int32_t pos) {
    int32_t nx = syms[pos].next;
    if (nx < 0) return;
    const MergeTable::Slot* m = merges_->find(syms[pos].id, syms[nx].id);
    if (m == nullptr) return;
    heap.push_back({m->rank, pos, syms[pos].id, syms[nx].id, m->result});
    std::push_heap(heap.begin(), heap.end(), CandidateAfter{});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), CandidateAfter{});
    Candidate c = heap.back();
    heap.pop_back();
    Sym& left = syms[c.pos];
    if (left.id != c.left || left.next < 0) continue;
    Sym& right = syms[left.next];
    if (right.id != c.right) continue;
    // Merge right into left.
    left.id = c.result;
    int32_t after = right.next;
    right.id = -1;
    left.next = after;
    if (after >= 0) syms[after].prev = c.pos;
    if (left.prev >= 0) push(left.prev);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = syms[i].next) out->push_back(syms[i].id);
}

std::string Tokenizer::decode_bytes(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    if (skip_special && added_flag_[id] == 2) continue;
    out += bytes_[id];
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string raw = decode_bytes(ids, skip_special);
  if (is_valid_utf8(raw)) return raw;
  return repair_utf8(raw);
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return bytes_[id];
}

std::string Tokenizer::token_piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return pieces_[id];
}

std::optional<int32_t> Tokenizer::token_id(std::string_view piece) const {
  if (index_slots_.empty()) return std::nullopt;
  const size_t h = std::hash<std::string_view>{}(piece);
  const size_t mask = index_slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    int32_t id = index_slots_[i];
    if (id < 0) return std::nullopt;
    if (index_hash_[i] == static_cast<uint32_t>(h) && pieces_[id] == piece) return id;
  }
}

void Tokenizer::index_insert(int32_t id) {
  const std::string_view piece = pieces_[id];
  const size_t h = std::hash<std::string_view>{}(piece);
  const size_t mask = index_slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    int32_t cur = index_slots_[i];
    if (cur < 0 || (index_hash_[i] == static_cast<uint32_t>(h) && pieces_[cur] == piece)) {
      index_slots_[i] = id;
      index_hash_[i] = static_cast<uint32_t>(h);
      return;
    }
  }
}

std::vector<int32_t> Tokenizer::stop_ids() const {
  std::vector<int32_t> out;
  for (const char* s : {"<|im_end|>", "<|endoftext|>"}) {
    if (auto id = token_id(s)) out.push_back(*id);
  }
  return out;
}

bool Tokenizer::is_added(int32_t id) const {
  return id >= 0 && id < vocab_size() && added_flag_[id] != 0;
}
bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && added_flag_[id] == 2;
}

int32_t byte_to_unicode(uint8_t b) {
  // Printable bytes map to themselves; the others to 256, 257, ... in order.
  auto printable = [](int c) {
    return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
  };
  if (printable(b)) return b;
  int32_t n = 0;
  for (int c = 0; c < b; ++c) n += printable(c) ? 0 : 1;
  return 256 + n;
}

}  // namespace qs::tokenizer
