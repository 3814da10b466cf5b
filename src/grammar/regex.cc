#include "grammar/regex.h"

#include <vector>

namespace qs::grammar {

namespace {

constexpr int kMaxRepeat = 1000;

// A set of characters: ASCII bits plus explicit non-ASCII characters, or the
// complement of an ASCII set (all non-ASCII characters included).
struct CharClass {
  bool ascii[128] = {};
  std::vector<std::string> extra;  // UTF-8 characters (positive classes only)
  bool negated = false;
};

class Parser {
 public:
  Parser(JsonRules& j, const std::string& p) : j_(j), b_(j.builder()), p_(p) {}

  Result<uint32_t> run() {
    bool start = !p_.empty() && p_[0] == '^';
    if (start) ++i_;
    QS_ASSIGN_OR_RETURN(Seq body, alternation(0));
    bool end = false;
    if (i_ < p_.size() && p_[i_] == '$') {
      end = true;
      ++i_;
    }
    if (i_ != p_.size()) return err("unexpected '" + std::string(1, p_[i_]) + "'");
    Seq all;
    uint32_t any = 0;
    if (!start || !end) {
      CharClass dot;
      dot.negated = true;
      any = b_.repeat(class_seq(dot, true), 0, -1, "re-any");
    }
    if (!start) all.push_back(GrammarBuilder::ref(any));
    all.insert(all.end(), body.begin(), body.end());
    if (!end) all.push_back(GrammarBuilder::ref(any));
    return b_.rule_of("pattern", {all});
  }

 private:
  Status err(const std::string& what) const {
    return Status::Error("pattern '" + p_ + "': " + what + " at offset " + std::to_string(i_));
  }

  Result<Seq> alternation(int depth) {
    if (depth > 50) return err("nesting too deep");
    std::vector<Seq> alts;
    QS_ASSIGN_OR_RETURN(Seq first, concat(depth));
    alts.push_back(first);
    while (i_ < p_.size() && p_[i_] == '|') {
      ++i_;
      QS_ASSIGN_OR_RETURN(Seq next, concat(depth));
      alts.push_back(next);
    }
    if (alts.size() == 1) return alts[0];
    return Seq{GrammarBuilder::ref(b_.rule_of("re-alt", alts))};
  }

  Result<Seq> concat(int depth) {
    Seq out;
    while (i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      if (p_[i_] == '$' && i_ + 1 == p_.size()) break;
      QS_ASSIGN_OR_RETURN(Seq atom, parse_atom(depth));
      QS_ASSIGN_OR_RETURN(Seq q, quantified(atom));
      out.insert(out.end(), q.begin(), q.end());
    }
    return out;
  }

  Result<Seq> quantified(Seq atom) {
    while (i_ < p_.size()) {
      int lo, hi;
      char c = p_[i_];
      if (c == '*') {
        lo = 0, hi = -1, ++i_;
      } else if (c == '+') {
        lo = 1, hi = -1, ++i_;
      } else if (c == '?') {
        lo = 0, hi = 1, ++i_;
      } else if (c == '{') {
        size_t j = i_ + 1;
        auto num = [&](int* v) {
          size_t s = j;
          long n = 0;
          while (j < p_.size() && isdigit(static_cast<unsigned char>(p_[j])) && n <= kMaxRepeat)
            n = n * 10 + (p_[j++] - '0');
          *v = static_cast<int>(n);
          return j > s;
        };
        if (!num(&lo)) return atom_literal_brace(atom);
        hi = lo;
        if (j < p_.size() && p_[j] == ',') {
          ++j;
          if (!num(&hi)) hi = -1;
        }
        if (j >= p_.size() || p_[j] != '}') return err("bad {n,m} quantifier");
        i_ = j + 1;
        if (lo > kMaxRepeat || hi > kMaxRepeat) return err("repetition count above 1000");
        if (hi >= 0 && hi < lo) return err("{n,m} with m < n");
      } else {
        break;
      }
      if (i_ < p_.size() && p_[i_] == '?') ++i_;  // lazy: same language
      if (i_ < p_.size() && p_[i_] == '+') return err("possessive quantifiers are unsupported");
      atom = {GrammarBuilder::ref(b_.repeat(atom, lo, hi, "re-rep"))};
    }
    return atom;
  }

  Result<Seq> atom_literal_brace(const Seq& atom) {
    return err("'{' that is not a quantifier (escape it)");
  }

  // JSON text of one decoded character, as alternatives (escapes included).
  void char_alts(uint32_t cp, std::vector<Seq>* out) {
    switch (cp) {
      case '"':
        out->push_back(b_.literal("\\\""));
        return;
      case '\\':
        out->push_back(b_.literal("\\\\"));
        return;
      case '\n':
        out->push_back(b_.literal("\\n"));
        return;
      case '\t':
        out->push_back(b_.literal("\\t"));
        return;
      case '\r':
        out->push_back(b_.literal("\\r"));
        return;
      case '\f':
        out->push_back(b_.literal("\\f"));
        return;
      case '\b':
        out->push_back(b_.literal("\\b"));
        return;
      case '/':
        out->push_back(b_.literal("/"));
        out->push_back(b_.literal("\\/"));
        return;
      default:
        break;
    }
    if (cp < 0x20) return;  // other control characters: never produced (a subset)
    std::string s;
    if (cp < 0x80) {
      s = static_cast<char>(cp);
    }
    out->push_back(b_.literal(s));
  }

  // Alternatives for a class, one Seq each; `any_escape` adds \" \\ etc. for
  // negated classes that do not exclude them.
  Seq class_seq(const CharClass& c, bool dot = false) {
    std::vector<Seq> alts;
    ByteSet plain;
    for (int ch = 0; ch < 128; ++ch) {
      bool in = c.ascii[ch] != c.negated;
      if (dot && ch == '\n') in = false;
      if (!in) continue;
      if (ch >= 0x20 && ch != '"' && ch != '\\')
        plain.add(static_cast<uint8_t>(ch));
      else
        char_alts(static_cast<uint32_t>(ch), &alts);
    }
    if (!plain.empty()) alts.push_back({b_.bytes(plain)});
    if (c.negated) {
      std::vector<Seq> all = j_.char_alts(false);
      alts.insert(alts.end(), all.begin() + 1, all.end());  // the non-ASCII alternatives
    }
    for (const std::string& e : c.extra) alts.push_back(b_.literal(e));
    if (alts.size() == 1) return alts[0];
    return {GrammarBuilder::ref(b_.rule_of("re-class", alts))};
  }

  // Reads one UTF-8 character at i_ (the pattern is valid UTF-8: nlohmann checked it).
  std::string utf8_char() {
    unsigned char c = static_cast<unsigned char>(p_[i_]);
    size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    std::string s = p_.substr(i_, len);
    i_ += len;
    return s;
  }

  // An escape after '\' (i_ at the letter): adds to a class. false = not a class escape.
  Result<bool> class_escape(CharClass* cc) {
    char e = p_[i_];
    auto set = [&](int lo, int hi) {
      for (int ch = lo; ch <= hi; ++ch) cc->ascii[ch] = true;
    };
    CharClass tmp;
    switch (e) {
      case 'd':
        set('0', '9');
        break;
      case 'w':
        set('0', '9'), set('a', 'z'), set('A', 'Z'), set('_', '_');
        break;
      case 's':
        set(' ', ' '), set('\t', '\r');
        break;
      default:
        return false;
    }
    ++i_;
    return true;
  }

  Result<Seq> parse_atom(int depth) {
    char c = p_[i_];
    if (c == '(') {
      ++i_;
      if (p_.compare(i_, 2, "?:") == 0) {
        i_ += 2;
      } else if (p_.compare(i_, 3, "?P<") == 0 || p_.compare(i_, 2, "?<") == 0) {
        if (p_.compare(i_, 3, "?<=") == 0 || p_.compare(i_, 3, "?<!") == 0)
          return err("lookbehind is unsupported");
        size_t close = p_.find('>', i_);
        if (close == std::string::npos) return err("bad group name");
        i_ = close + 1;
      } else if (i_ < p_.size() && p_[i_] == '?') {
        return err("group '(?" + p_.substr(i_ + 1, 1) + "' (lookaround/flags) is unsupported");
      }
      QS_ASSIGN_OR_RETURN(Seq inner, alternation(depth + 1));
      if (i_ >= p_.size() || p_[i_] != ')') return err("missing ')'");
      ++i_;
      return Seq{GrammarBuilder::ref(b_.rule_of("re-group", {inner}))};
    }
    if (c == '[') return parse_class();
    if (c == '.') {
      ++i_;
      CharClass dot;
      dot.negated = true;
      return class_seq(dot, true);
    }
    if (c == '^' || c == '$') return err("anchor inside the pattern is unsupported");
    if (c == '*' || c == '+' || c == '?' || c == '{') return err("nothing to repeat");
    if (c == '\\') {
      ++i_;
      if (i_ >= p_.size()) return err("trailing backslash");
      char e = p_[i_];
      CharClass cc;
      QS_ASSIGN_OR_RETURN(bool is_class, class_escape(&cc));
      if (is_class) return class_seq(cc);
      if (e == 'D' || e == 'W' || e == 'S') {
        p_[i_] = static_cast<char>(tolower(e));
        QS_ASSIGN_OR_RETURN(bool ok, class_escape(&cc));
        (void)ok;
        cc.negated = true;
        return class_seq(cc);
      }
      ++i_;
      return escaped_literal(e);
    }
    std::string ch = utf8_char();
    std::vector<Seq> alts;
    if (ch.size() == 1) {
      char_alts(static_cast<unsigned char>(ch[0]), &alts);
    } else {
      alts.push_back(b_.literal(ch));
    }
    if (alts.size() == 1) return alts[0];
    return Seq{GrammarBuilder::ref(b_.rule_of("re-char", alts))};
  }

  Result<Seq> escaped_literal(char e) {
    uint32_t cp;
    switch (e) {
      case 'n':
        cp = '\n';
        break;
      case 't':
        cp = '\t';
        break;
      case 'r':
        cp = '\r';
        break;
      case 'f':
        cp = '\f';
        break;
      default:
        if (isalnum(static_cast<unsigned char>(e)))
          return err("escape '\\" + std::string(1, e) + "' is unsupported");
        cp = static_cast<unsigned char>(e);
    }
    std::vector<Seq> alts;
    char_alts(cp, &alts);
    if (alts.size() == 1) return alts[0];
    return Seq{GrammarBuilder::ref(b_.rule_of("re-char", alts))};
  }

  Result<Seq> parse_class() {
    ++i_;  // '['
    CharClass cc;
    if (i_ < p_.size() && p_[i_] == '^') {
      cc.negated = true;
      ++i_;
    }
    bool first = true;
    while (i_ < p_.size() && (p_[i_] != ']' || first)) {
      first = false;
      int lo;
      if (p_[i_] == '\\') {
        ++i_;
        if (i_ >= p_.size()) return err("trailing backslash");
        QS_ASSIGN_OR_RETURN(bool is_class, class_escape(&cc));
        if (is_class) continue;
        char e = p_[i_++];
        if (isalnum(static_cast<unsigned char>(e)) && e != 'n' && e != 't' && e != 'r' && e != 'f')
          return err("escape '\\" + std::string(1, e) + "' in a class is unsupported");
        lo = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'f' ? '\f' : e;
      } else {
        std::string ch = utf8_char();
        if (ch.size() > 1) {
          if (cc.negated) return err("non-ASCII characters in a negated class are unsupported");
          if (i_ < p_.size() && p_[i_] == '-' && i_ + 1 < p_.size() && p_[i_ + 1] != ']')
            return err("non-ASCII class ranges are unsupported");
          cc.extra.push_back(ch);
          continue;
        }
        lo = static_cast<unsigned char>(ch[0]);
      }
      int hi = lo;
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
        ++i_;
        if (p_[i_] == '\\') {
          ++i_;
          if (i_ >= p_.size()) return err("trailing backslash");
        }
        unsigned char h = static_cast<unsigned char>(p_[i_++]);
        if (h >= 0x80) return err("non-ASCII class ranges are unsupported");
        hi = h;
        if (hi < lo) return err("class range out of order");
      }
      for (int ch = lo; ch <= hi; ++ch) cc.ascii[ch] = true;
    }
    if (i_ >= p_.size()) return err("missing ']'");
    ++i_;
    return class_seq(cc);
  }

  JsonRules& j_;
  GrammarBuilder& b_;
  std::string p_;
  size_t i_ = 0;
};

}  // namespace

Result<uint32_t> compile_pattern(JsonRules& json, const std::string& pattern) {
  Parser p(json, pattern);
  return p.run();
}

}  // namespace qs::grammar
