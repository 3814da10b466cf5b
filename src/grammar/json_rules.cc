#include "grammar/json_rules.h"

#include <map>
#include <nlohmann/json.hpp>

namespace qs::grammar {

std::string json_quote(const std::string& s) { return nlohmann::json(s).dump(); }

uint32_t JsonRules::ws() {
  if (b_.has_named("ws")) return b_.named("ws");
  ByteSet ind;
  ind.add(' ');
  ind.add('\t');
  uint32_t indent = b_.repeat({b_.bytes(ind)}, 0, kMaxIndent, "indent");
  uint32_t r = b_.rule_of("ws", {{}, {b_.byte(' ')}, {b_.byte('\n'), GrammarBuilder::ref(indent)}});
  b_.set_named("ws", r);
  return r;
}

std::vector<Seq> JsonRules::char_alts(bool escapes) {
  auto B = [&](uint8_t lo, uint8_t hi) { return b_.bytes(ByteSet::Range(lo, hi)); };
  ByteSet ascii = ByteSet::Range(0x20, 0x7f);
  ascii.w[0x22 >> 6] &= ~(uint64_t{1} << (0x22 & 63));  // '"'
  ascii.w[0x5c >> 6] &= ~(uint64_t{1} << (0x5c & 63));  // '\'
  Elem cont = B(0x80, 0xbf);
  ByteSet e1 = ByteSet::Range(0xe1, 0xec);
  e1.add(0xee);
  e1.add(0xef);
  std::vector<Seq> alts = {
      {b_.bytes(ascii)},
      {B(0xc2, 0xdf), cont},
      {b_.byte(0xe0), B(0xa0, 0xbf), cont},
      {b_.bytes(e1), cont, cont},
      {b_.byte(0xed), B(0x80, 0x9f), cont},
      {b_.byte(0xf0), B(0x90, 0xbf), cont, cont},
      {B(0xf1, 0xf3), cont, cont, cont},
      {b_.byte(0xf4), B(0x80, 0x8f), cont, cont},
  };
  if (escapes) {
    ByteSet simple;
    for (char c : std::string("\"\\/bfnrt")) simple.add(static_cast<uint8_t>(c));
    ByteSet hex = ByteSet::Range('0', '9');
    hex.add_range('a', 'f');
    hex.add_range('A', 'F');
    ByteSet first = ByteSet::Range('0', '9');  // no surrogates (d800-dfff)
    first.add_range('a', 'c');
    first.add_range('A', 'C');
    first.add_range('e', 'f');
    first.add_range('E', 'F');
    ByteSet d;
    d.add('d');
    d.add('D');
    Elem bs = b_.byte('\\'), u = b_.byte('u'), h = b_.bytes(hex);
    alts.push_back({bs, b_.bytes(simple)});
    alts.push_back({bs, u, b_.bytes(first), h, h, h});
    alts.push_back({bs, u, b_.bytes(d), B('0', '7'), h, h});
  }
  return alts;
}

uint32_t JsonRules::string(int min_len, int max_len) {
  std::string key = "string{" + std::to_string(min_len) + "," + std::to_string(max_len) + "}";
  if (b_.has_named(key)) return b_.named(key);
  std::vector<Seq> chars = char_alts();
  // link_k: k characters written so far; tail calls keep one frame.
  int links = max_len < 0 ? min_len : max_len;
  std::vector<uint32_t> link(links + 1);
  for (int k = 0; k <= links; ++k) link[k] = b_.new_rule(key + "-" + std::to_string(k));
  for (int k = 0; k <= links; ++k) {
    if (k >= min_len) b_.add_alt(link[k], {b_.byte('"')});
    uint32_t next = k < links ? link[k + 1] : (max_len < 0 ? link[k] : UINT32_MAX);
    if (next == UINT32_MAX) continue;
    for (const Seq& c : chars) {
      Seq s = c;
      s.push_back(GrammarBuilder::ref(next));
      b_.add_alt(link[k], s);
    }
  }
  uint32_t r = b_.rule_of(key, {{b_.byte('"'), GrammarBuilder::ref(link[0])}});
  b_.set_named(key, r);
  return r;
}

uint32_t JsonRules::quoted(uint32_t body, const std::string& name) {
  return b_.rule_of(name, {{b_.byte('"'), GrammarBuilder::ref(body), b_.byte('"')}});
}

uint32_t JsonRules::string_except(const std::vector<std::string>& excluded) {
  // A byte trie of the excluded contents (JSON-escaped); at each node either
  // follow a child, or, at a character boundary, leave the trie with another
  // raw character or end the string when the node is not an excluded word.
  // Extra keys use no escapes, so no other spelling of a name can slip by.
  struct Node {
    std::map<uint8_t, int> next;
    bool word = false;
    bool boundary = true;
  };
  std::vector<Node> t(1);
  for (const std::string& s : excluded) {
    std::string q = json_quote(s);
    std::string body = q.substr(1, q.size() - 2);
    int at = 0;
    size_t char_end = 0;  // end of the character the byte at i belongs to
    for (size_t i = 0; i < body.size(); ++i) {
      uint8_t ch = static_cast<uint8_t>(body[i]);
      if (i == char_end) {
        size_t len = ch == '\\'  ? (i + 1 < body.size() && body[i + 1] == 'u' ? 6 : 2)
                     : ch < 0x80 ? 1
                     : ch < 0xe0 ? 2
                     : ch < 0xf0 ? 3
                                 : 4;
        char_end = i + len;
      }
      auto it = t[at].next.find(ch);
      if (it == t[at].next.end()) {
        t.emplace_back();
        t[at].next[ch] = static_cast<int>(t.size()) - 1;
        at = static_cast<int>(t.size()) - 1;
      } else {
        at = it->second;
      }
      if (i + 1 != char_end) t[at].boundary = false;
    }
    t[at].word = true;
  }
  std::vector<Seq> chars = char_alts(false);
  uint32_t rest;  // rest ::= '"' | char rest
  if (b_.has_named("key-rest")) {
    rest = b_.named("key-rest");
  } else {
    rest = b_.new_rule("key-rest");
    b_.add_alt(rest, {b_.byte('"')});
    for (const Seq& c : chars) {
      Seq s = c;
      s.push_back(GrammarBuilder::ref(rest));
      b_.add_alt(rest, s);
    }
    b_.set_named("key-rest", rest);
  }
  std::vector<uint32_t> rule(t.size());
  for (size_t i = 0; i < t.size(); ++i) rule[i] = b_.new_rule("key-trie" + std::to_string(i));
  for (size_t i = 0; i < t.size(); ++i) {
    for (auto [ch, child] : t[i].next)
      b_.add_alt(rule[i], {b_.byte(ch), GrammarBuilder::ref(rule[child])});
    if (!t[i].boundary) continue;
    if (!t[i].word) b_.add_alt(rule[i], {b_.byte('"')});
    for (const Seq& c : chars) {
      ByteSet first = b_.set_of(c[0]);
      for (const auto& kv : t[i].next) first.w[kv.first >> 6] &= ~(uint64_t{1} << (kv.first & 63));
      if (first.empty()) continue;
      Seq s = c;
      s[0] = b_.bytes(first);
      s.push_back(GrammarBuilder::ref(rest));
      b_.add_alt(rule[i], s);
    }
  }
  return b_.rule_of("key-except", {{b_.byte('"'), GrammarBuilder::ref(rule[0])}});
}

uint32_t JsonRules::same_len(const std::string& a, const std::string& b) {
  std::string key = "digits[" + a + "," + b + "]";
  if (b_.has_named(key)) return b_.named(key);
  uint32_t r;
  if (a.empty()) {
    r = b_.rule_of(key, {{}});
  } else {
    std::string ra = a.substr(1), rb = b.substr(1);
    bool low = ra.find_first_not_of('0') == std::string::npos;
    bool high = rb.find_first_not_of('9') == std::string::npos;
    auto D = [&](char lo, char hi) {
      return b_.bytes(ByteSet::Range(static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)));
    };
    std::string nines(ra.size(), '9'), zeros(ra.size(), '0');
    std::vector<Seq> alts;
    if (a[0] == b[0]) {
      alts.push_back({D(a[0], a[0]), GrammarBuilder::ref(same_len(ra, rb))});
    } else if (low && high) {
      alts.push_back({D(a[0], b[0]), GrammarBuilder::ref(same_len(zeros, nines))});
    } else {
      alts.push_back({D(a[0], a[0]), GrammarBuilder::ref(same_len(ra, nines))});
      if (a[0] + 1 <= b[0] - 1)
        alts.push_back({D(a[0] + 1, b[0] - 1), GrammarBuilder::ref(same_len(zeros, nines))});
      alts.push_back({D(b[0], b[0]), GrammarBuilder::ref(same_len(zeros, rb))});
    }
    r = b_.rule_of(key, alts);
  }
  b_.set_named(key, r);
  return r;
}

static uint64_t pow10(int n) {
  uint64_t p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

uint32_t JsonRules::uint_range(uint64_t lo, std::optional<uint64_t> hi) {
  const uint64_t cap = pow10(kMaxIntDigits) - 1;
  uint64_t h = hi ? std::min(*hi, cap) : cap;
  std::vector<Seq> alts;
  for (int len = 1; len <= kMaxIntDigits; ++len) {
    uint64_t a = std::max<uint64_t>(lo, len == 1 ? 0 : pow10(len - 1));
    uint64_t b = std::min<uint64_t>(h, pow10(len) - 1);
    if (a > b) continue;
    alts.push_back({GrammarBuilder::ref(same_len(std::to_string(a), std::to_string(b)))});
  }
  return b_.rule_of("uint", alts);
}

uint32_t JsonRules::fraction() {
  if (b_.has_named("frac")) return b_.named("frac");
  uint32_t digits = b_.repeat({b_.bytes(ByteSet::Range('0', '9'))}, 1, kMaxFracDigits, "fdigits");
  uint32_t r = b_.rule_of("frac", {{}, {b_.byte('.'), GrammarBuilder::ref(digits)}});
  b_.set_named("frac", r);
  return r;
}

uint32_t JsonRules::zero_fraction() {
  if (b_.has_named("zfrac")) return b_.named("zfrac");
  uint32_t digits = b_.repeat({b_.byte('0')}, 1, kMaxFracDigits, "zdigits");
  uint32_t r = b_.rule_of("zfrac", {{}, {b_.byte('.'), GrammarBuilder::ref(digits)}});
  b_.set_named("zfrac", r);
  return r;
}

uint32_t JsonRules::magnitude(uint64_t c, std::optional<uint64_t> d) {
  std::vector<Seq> alts;
  if (!d) {
    alts.push_back(
        {GrammarBuilder::ref(uint_range(c, std::nullopt)), GrammarBuilder::ref(fraction())});
  } else {
    if (*d >= c + 1)
      alts.push_back({GrammarBuilder::ref(uint_range(c, *d - 1)), GrammarBuilder::ref(fraction())});
    alts.push_back({GrammarBuilder::ref(uint_range(*d, *d)), GrammarBuilder::ref(zero_fraction())});
  }
  return b_.rule_of("magnitude", alts);
}

Result<uint32_t> JsonRules::integer(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  if (lo && hi && *lo > *hi) return Status::Error("minimum > maximum: no integer fits");
  std::vector<Seq> alts;
  if (!hi || *hi >= 0) {
    uint64_t c = lo ? static_cast<uint64_t>(std::max<int64_t>(*lo, 0)) : 0;
    std::optional<uint64_t> d;
    if (hi) d = static_cast<uint64_t>(*hi);
    alts.push_back({GrammarBuilder::ref(uint_range(c, d))});
  }
  if (!lo || *lo < 0) {
    uint64_t c = hi ? static_cast<uint64_t>(std::max<int64_t>(-*hi, 1)) : 1;
    std::optional<uint64_t> d;
    if (lo) d = static_cast<uint64_t>(-*lo);
    alts.push_back({b_.byte('-'), GrammarBuilder::ref(uint_range(c, d))});
  }
  return b_.rule_of("integer", alts);
}

Result<uint32_t> JsonRules::number(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  if (!lo && !hi) {
    if (b_.has_named("number")) return b_.named("number");
    uint32_t mag = magnitude(0, std::nullopt);
    ByteSet e;
    e.add('e');
    e.add('E');
    ByteSet sign;
    sign.add('+');
    sign.add('-');
    uint32_t sgn = b_.rule_of("exp-sign", {{}, {b_.bytes(sign)}});
    uint32_t ed = b_.repeat({b_.bytes(ByteSet::Range('0', '9'))}, 1, 2, "exp-digits");
    uint32_t exp =
        b_.rule_of("exp", {{}, {b_.bytes(e), GrammarBuilder::ref(sgn), GrammarBuilder::ref(ed)}});
    uint32_t neg = b_.rule_of("minus", {{}, {b_.byte('-')}});
    uint32_t r = b_.rule_of(
        "number", {{GrammarBuilder::ref(neg), GrammarBuilder::ref(mag), GrammarBuilder::ref(exp)}});
    b_.set_named("number", r);
    return r;
  }
  if (lo && hi && *lo > *hi)
    return Status::Error("minimum > maximum: no number fits (bounds are rounded to integers)");
  std::vector<Seq> alts;
  if (!hi || *hi >= 0) {
    uint64_t c = lo ? static_cast<uint64_t>(std::max<int64_t>(*lo, 0)) : 0;
    std::optional<uint64_t> d;
    if (hi) d = static_cast<uint64_t>(*hi);
    alts.push_back({GrammarBuilder::ref(magnitude(c, d))});
  }
  if (!lo || *lo < 0) {
    uint64_t c = hi ? static_cast<uint64_t>(std::max<int64_t>(-*hi, 0)) : 0;
    std::optional<uint64_t> d;
    if (lo) d = static_cast<uint64_t>(-*lo);
    alts.push_back({b_.byte('-'), GrammarBuilder::ref(magnitude(c, d))});
  }
  return b_.rule_of("number", alts);
}

uint32_t JsonRules::literal(const std::string& text) {
  return b_.rule_of("literal", {b_.literal(text)});
}

uint32_t JsonRules::any_value() {
  if (b_.has_named("value")) return b_.named("value");
  uint32_t value = b_.new_rule("value");
  b_.set_named("value", value);
  uint32_t w = ws();
  auto R = GrammarBuilder::ref;
  uint32_t str = string(0, -1);
  Seq kv = {R(w), R(str), R(w), b_.byte(':'), R(w), R(value), R(w)};
  uint32_t members = b_.separated(kv, {b_.byte(',')}, 0, -1, "members");
  uint32_t obj = b_.rule_of("object", {{b_.byte('{'), R(members), R(w), b_.byte('}')}});
  Seq item = {R(w), R(value), R(w)};
  uint32_t items = b_.separated(item, {b_.byte(',')}, 0, -1, "elements");
  uint32_t arr = b_.rule_of("array", {{b_.byte('['), R(items), R(w), b_.byte(']')}});
  b_.set_named("object", obj);
  uint32_t num = number(std::nullopt, std::nullopt).value();
  b_.add_alt(value, {R(obj)});
  b_.add_alt(value, {R(arr)});
  b_.add_alt(value, {R(str)});
  b_.add_alt(value, {R(num)});
  for (const char* lit : {"true", "false", "null"}) b_.add_alt(value, b_.literal(lit));
  return value;
}

uint32_t JsonRules::any_object() {
  any_value();
  return b_.named("object");
}

}  // namespace qs::grammar
