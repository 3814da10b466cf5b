#include "tokenizer/pretokenizer.h"

#include "tokenizer/unicode.h"

namespace qs::tokenizer {
namespace {

struct Char {
  int32_t cp = 0;
  size_t len = 0;  // 0 means "past the end"
  CharClass cls = CharClass::Other;
};

inline Char char_at(std::string_view s, size_t i) {
  Char c;
  if (i >= s.size()) return c;
  uint8_t b = static_cast<uint8_t>(s[i]);
  if (b < 0x80) {
    c.cp = b;
    c.len = 1;
  } else {
    c.cp = decode_utf8(s, i, &c.len);
  }
  c.cls = char_class(c.cp);
  return c;
}

inline bool is_newline(int32_t cp) { return cp == '\r' || cp == '\n'; }

// Simple case folding for the contraction letters; U+017F (long s) folds to 's'.
inline int32_t fold(int32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp == 0x17F) return 's';
  return cp;
}

// Length in bytes of a contraction ('s 't 're 've 'm 'll 'd) at i, or 0.
size_t contraction(std::string_view s, size_t i) {
  Char a = char_at(s, i + 1);
  if (a.len == 0) return 0;
  int32_t fa = fold(a.cp);
  if (fa == 's' || fa == 't' || fa == 'm' || fa == 'd') return 1 + a.len;
  if (fa != 'r' && fa != 'v' && fa != 'l') return 0;
  Char b = char_at(s, i + 1 + a.len);
  if (b.len == 0) return 0;
  int32_t fb = fold(b.cp);
  if ((fa == 'r' && fb == 'e') || (fa == 'v' && fb == 'e') || (fa == 'l' && fb == 'l'))
    return 1 + a.len + b.len;
  return 0;
}

// End of the run of characters of class `cls` starting at i.
size_t run_end(std::string_view s, size_t i, CharClass cls) {
  while (true) {
    Char c = char_at(s, i);
    if (c.len == 0 || c.cls != cls) return i;
    i += c.len;
  }
}

size_t newline_run_end(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == '\r' || s[i] == '\n')) ++i;
  return i;
}

}  // namespace

bool PreTokenizer::next(std::string_view* piece) {
  const size_t i = pos_;
  if (i >= s_.size()) return false;
  Char c = char_at(s_, i);
  size_t end = 0;

  if (c.cp == '\'') end = i + contraction(s_, i);  // alternative 1
  if (end == i || end == 0) {
    end = 0;
    if (c.cls == CharClass::Letter) {  // alternative 2, no prefix character
      end = run_end(s_, i + c.len, CharClass::Letter);
    } else if (c.cls != CharClass::Number && !is_newline(c.cp)) {
      Char d = char_at(s_, i + c.len);  // alternative 2 with its prefix character
      if (d.len != 0 && d.cls == CharClass::Letter) end = run_end(s_, i + c.len, CharClass::Letter);
    }
  }
  if (end == 0 && c.cls == CharClass::Number) end = i + c.len;  // alternative 3
  if (end == 0) {                                               // alternative 4
    size_t start = i;
    if (c.cp == ' ') {
      Char d = char_at(s_, i + 1);
      if (d.len != 0 && d.cls == CharClass::Other) start = i + 1;
    }
    if (char_at(s_, start).cls == CharClass::Other && start < s_.size()) {
      end = newline_run_end(s_, run_end(s_, start, CharClass::Other));
    }
  }
  if (end == 0) {  // alternatives 5, 6, 7: c is whitespace
    size_t j = i;
    size_t last_newline_end = 0;
    size_t last_char_start = i;
    while (true) {
      Char d = char_at(s_, j);
      if (d.len == 0 || d.cls != CharClass::Space) break;
      if (is_newline(d.cp)) last_newline_end = j + 1;
      last_char_start = j;
      j += d.len;
    }
    if (last_newline_end != 0) {
      end = last_newline_end;  // \s*[\r\n]+
    } else if (j == s_.size() || last_char_start == i) {
      end = j;  // \s+(?!\S) at the end of text, or a single \s (last alternative)
    } else {
      end = last_char_start;  // \s+(?!\S): leave the last space to the next piece
    }
  }
  *piece = s_.substr(i, end - i);
  pos_ = end;
  return true;
}

std::vector<std::string_view> pretokenize(std::string_view text) {
  std::vector<std::string_view> out;
  PreTokenizer p(text);
  std::string_view piece;
  while (p.next(&piece)) out.push_back(piece);
  return out;
}

}  // namespace qs::tokenizer
