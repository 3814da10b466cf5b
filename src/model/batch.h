// The one input of Model::forward: a flat, ragged batch of tokens from any
// number of sequences. Prefill, decode and chunked prefill are all this shape:
// a sequence contributes the tokens it has not computed yet (its positions are
// consecutive), and its block table covers positions 0 .. its last position.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace qs {

struct Batch {
  // Per token row t in [0, T):
  std::vector<int32_t> tokens;     // [T] token ids
  std::vector<int32_t> positions;  // [T] position of the token in its sequence
  std::vector<int32_t> seq;        // [T] index into block_tables
  // Per sequence: KV block ids; position p lives in block_tables[s][p / block_size].
  std::vector<std::vector<int32_t>> block_tables;
  // Rows whose logits are wanted, in output order (e.g. each sequence's last row).
  std::vector<int32_t> logits_rows;

  size_t num_tokens() const { return tokens.size(); }
  void clear() {
    tokens.clear();
    positions.clear();
    seq.clear();
    block_tables.clear();
    logits_rows.clear();
  }
  // Appends tokens [first, first + n) of a sequence starting at position `pos0`,
  // wanting logits of its last row if `want_logits`. Returns the sequence index.
  int32_t add_sequence(const int32_t* ids, int32_t n, int32_t pos0,
                       std::vector<int32_t> block_table, bool want_logits) {
    int32_t s = static_cast<int32_t>(block_tables.size());
    block_tables.push_back(std::move(block_table));
    for (int32_t i = 0; i < n; ++i) {
      tokens.push_back(ids[i]);
      positions.push_back(pos0 + i);
      seq.push_back(s);
    }
    if (want_logits && n > 0) logits_rows.push_back(static_cast<int32_t>(tokens.size()) - 1);
    return s;
  }
};

}  // namespace qs
