// A context-free grammar over bytes, the target of the schema compiler:
// rules are lists of alternatives, an alternative is a sequence of elements,
// an element is a byte class or a reference to a rule. Built with
// GrammarBuilder, then checked (left recursion, productivity) and flattened
// for the matcher (see matcher.h).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace qs::grammar {

// 256-bit set of bytes.
struct ByteSet {
  std::array<uint64_t, 4> w{};
  bool has(uint8_t b) const { return (w[b >> 6] >> (b & 63)) & 1; }
  void add(uint8_t b) { w[b >> 6] |= uint64_t{1} << (b & 63); }
  void add_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) add(static_cast<uint8_t>(b));
  }
  bool empty() const { return (w[0] | w[1] | w[2] | w[3]) == 0; }
  bool operator<(const ByteSet& o) const { return w < o.w; }
  static ByteSet Of(uint8_t b) {
    ByteSet s;
    s.add(b);
    return s;
  }
  static ByteSet Range(uint8_t lo, uint8_t hi) {
    ByteSet s;
    s.add_range(lo, hi);
    return s;
  }
};

struct Elem {
  enum Kind : uint8_t { kBytes, kRule };
  Kind kind = kBytes;
  uint32_t id = 0;  // byte set index or rule index
};
using Seq = std::vector<Elem>;

struct Grammar {
  std::vector<ByteSet> sets;            // [num sets]
  std::vector<std::vector<Seq>> rules;  // [rule][alternative] -> sequence
  std::vector<std::string> names;       // [rule] for messages and dumps
  uint32_t root = 0;
  std::string dump() const;  // GBNF-like text, for tests and debugging
};

class GrammarBuilder {
 public:
  uint32_t new_rule(std::string name);
  void add_alt(uint32_t rule, Seq seq) { g_.rules[rule].push_back(std::move(seq)); }
  // A rule with the given alternatives (a fresh rule each call).
  uint32_t rule_of(std::string name, std::vector<Seq> alts);
  Elem bytes(const ByteSet& s);
  Elem byte(uint8_t b) { return bytes(ByteSet::Of(b)); }
  const ByteSet& set_of(const Elem& e) const { return g_.sets[e.id]; }
  static Elem ref(uint32_t rule) { return Elem{Elem::kRule, rule}; }
  Seq literal(std::string_view s);
  // elem{min,max}; max < 0 = unbounded. Returns a rule.
  uint32_t repeat(const Seq& item, int min, int max, const std::string& name);
  // item (sep item){min-1,max-1}, optionally empty when min == 0. max < 0 = unbounded.
  uint32_t separated(const Seq& item, const Seq& sep, int min, int max, const std::string& name);
  // Memoised named rules shared within one grammar (e.g. "string", "ws").
  bool has_named(const std::string& key) const { return named_.count(key) > 0; }
  uint32_t named(const std::string& key) const { return named_.at(key); }
  void set_named(const std::string& key, uint32_t rule) { named_[key] = rule; }
  size_t num_rules() const { return g_.rules.size(); }

  // Removes alternatives that can never finish, checks for left recursion
  // (which the matcher cannot run) and that the root derives some string.
  Result<Grammar> finish(uint32_t root);

 private:
  Grammar g_;
  std::map<ByteSet, uint32_t> set_index_;
  std::map<std::string, uint32_t> named_;
};

}  // namespace qs::grammar
