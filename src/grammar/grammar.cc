#include "grammar/grammar.h"

#include <functional>

namespace qs::grammar {

uint32_t GrammarBuilder::new_rule(std::string name) {
  g_.rules.emplace_back();
  g_.names.push_back(std::move(name));
  return static_cast<uint32_t>(g_.rules.size() - 1);
}

uint32_t GrammarBuilder::rule_of(std::string name, std::vector<Seq> alts) {
  uint32_t r = new_rule(std::move(name));
  g_.rules[r] = std::move(alts);
  return r;
}

Elem GrammarBuilder::bytes(const ByteSet& s) {
  auto it = set_index_.find(s);
  if (it != set_index_.end()) return Elem{Elem::kBytes, it->second};
  uint32_t id = static_cast<uint32_t>(g_.sets.size());
  g_.sets.push_back(s);
  set_index_.emplace(s, id);
  return Elem{Elem::kBytes, id};
}

Seq GrammarBuilder::literal(std::string_view s) {
  Seq out;
  for (char c : s) out.push_back(byte(static_cast<uint8_t>(c)));
  return out;
}

uint32_t GrammarBuilder::repeat(const Seq& item, int min, int max, const std::string& name) {
  // Optional tail: opt_k ::= "" | item opt_{k-1}, or star ::= "" | item star.
  uint32_t tail;
  if (max < 0) {
    tail = new_rule(name + "-star");
    Seq s = item;
    s.push_back(ref(tail));
    add_alt(tail, {});
    add_alt(tail, s);
  } else {
    tail = new_rule(name + "-opt0");
    add_alt(tail, {});
    for (int k = 1; k <= max - min; ++k) {
      uint32_t r = new_rule(name + "-opt" + std::to_string(k));
      Seq s = item;
      s.push_back(ref(tail));
      add_alt(r, {});
      add_alt(r, s);
      tail = r;
    }
  }
  Seq all;
  for (int i = 0; i < min; ++i) all.insert(all.end(), item.begin(), item.end());
  all.push_back(ref(tail));
  return rule_of(name, {all});
}

uint32_t GrammarBuilder::separated(const Seq& item, const Seq& sep, int min, int max,
                                   const std::string& name) {
  Seq more = sep;
  more.insert(more.end(), item.begin(), item.end());
  int lo = min > 0 ? min - 1 : 0;
  int hi = max < 0 ? -1 : (max > 0 ? max - 1 : 0);
  uint32_t rest = repeat(more, lo, hi, name + "-rest");
  Seq one = item;
  one.push_back(ref(rest));
  std::vector<Seq> alts;
  if (max != 0) alts.push_back(one);
  if (min == 0) alts.push_back({});
  return rule_of(name, alts);
}

Result<Grammar> GrammarBuilder::finish(uint32_t root) {
  const size_t n = g_.rules.size();
  // Productive rules: derive at least one finite byte string (fixpoint).
  std::vector<char> productive(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (productive[r]) continue;
      for (const Seq& alt : g_.rules[r]) {
        bool ok = true;
        for (const Elem& e : alt)
          if (e.kind == Elem::kRule && !productive[e.id]) ok = false;
        if (ok) {
          productive[r] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  if (!productive[root])
    return Status::Error(
        "schema admits no finite value (impossible constraints or required "
        "infinite recursion)");
  for (auto& alts : g_.rules) {
    std::vector<Seq> kept;
    for (Seq& alt : alts) {
      bool ok = true;
      for (const Elem& e : alt)
        if (e.kind == Elem::kRule && !productive[e.id]) ok = false;
      if (ok) kept.push_back(std::move(alt));
    }
    alts = std::move(kept);
  }
  // Nullable rules, then left corners: r -> s if some alternative of r starts
  // with s after nullable elements. A cycle would make the matcher expand forever.
  std::vector<char> nullable(n, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      if (nullable[r]) continue;
      for (const Seq& alt : g_.rules[r]) {
        bool all = true;
        for (const Elem& e : alt)
          if (e.kind == Elem::kBytes || !nullable[e.id]) all = false;
        if (all) {
          nullable[r] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  std::vector<std::vector<uint32_t>> left(n);
  for (size_t r = 0; r < n; ++r)
    for (const Seq& alt : g_.rules[r])
      for (const Elem& e : alt) {
        if (e.kind == Elem::kBytes) break;
        left[r].push_back(e.id);
        if (!nullable[e.id]) break;
      }
  std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the DFS stack, 2 done
  std::string cycle_at;
  std::function<bool(uint32_t)> dfs = [&](uint32_t r) {
    color[r] = 1;
    for (uint32_t s : left[r]) {
      if (color[s] == 1) {
        cycle_at = g_.names[s];
        return true;
      }
      if (color[s] == 0 && dfs(s)) return true;
    }
    color[r] = 2;
    return false;
  };
  for (uint32_t r = 0; r < n; ++r)
    if (color[r] == 0 && dfs(r))
      return Status::Error("grammar is left-recursive at '" + cycle_at +
                           "' (e.g. a pattern repeating something that may be empty)");
  g_.root = root;
  return std::move(g_);
}

static std::string set_text(const ByteSet& s) {
  std::string out = "[";
  auto put = [&](int b) {
    if (b >= 0x21 && b < 0x7f && b != ']' && b != '\\' && b != '-') {
      out += static_cast<char>(b);
    } else {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", b);
      out += buf;
    }
  };
  for (int b = 0; b < 256;) {
    if (!s.has(static_cast<uint8_t>(b))) {
      ++b;
      continue;
    }
    int e = b;
    while (e + 1 < 256 && s.has(static_cast<uint8_t>(e + 1))) ++e;
    put(b);
    if (e > b) {
      out += '-';
      put(e);
    }
    b = e + 1;
  }
  return out + "]";
}

std::string Grammar::dump() const {
  std::string out;
  for (size_t r = 0; r < rules.size(); ++r) {
    out += names[r] + (r == root ? " (root)" : "") + " ::=";
    for (size_t a = 0; a < rules[r].size(); ++a) {
      if (a) out += " |";
      if (rules[r][a].empty()) out += " \"\"";
      for (const Elem& e : rules[r][a])
        out += " " + (e.kind == Elem::kBytes ? set_text(sets[e.id]) : names[e.id]);
    }
    out += "\n";
  }
  return out;
}

}  // namespace qs::grammar
