#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <array>
#include <cstdlib>

namespace qs::tokenizer {
namespace {

// Number of continuation bytes after a lead byte, or -1 if it cannot start a
// character (continuation bytes, C0, C1, F5..FF).
int trail_count(uint8_t b) {
  if (b < 0x80) return 0;
  if (b < 0xC2) return -1;
  if (b < 0xE0) return 1;
  if (b < 0xF0) return 2;
  if (b < 0xF5) return 3;
  return -1;
}

// Allowed range of the first continuation byte (excludes overlongs, surrogates
// and code points above U+10FFFF); later continuation bytes are 80..BF.
void second_range(uint8_t lead, uint8_t* lo, uint8_t* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (lead == 0xE0) *lo = 0xA0;
  if (lead == 0xED) *hi = 0x9F;
  if (lead == 0xF0) *lo = 0x90;
  if (lead == 0xF4) *hi = 0x8F;
}

struct AsciiClasses {
  std::array<CharClass, 128> c{};
  AsciiClasses() {
    for (int i = 0; i < 128; ++i) {
      if ((i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z'))
        c[i] = CharClass::Letter;
      else if (i >= '0' && i <= '9')
        c[i] = CharClass::Number;
      else if (i == ' ' || (i >= 0x09 && i <= 0x0D))
        c[i] = CharClass::Space;
      else
        c[i] = CharClass::Other;
    }
  }
};
const AsciiClasses kAscii;

}  // namespace

int32_t decode_utf8(std::string_view s, size_t i, size_t* len) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  uint8_t b = p[i];
  *len = 1;
  if (b < 0x80) return b;
  int n = trail_count(b);
  // Needs n more bytes: i + n must be a valid index.
  if (n < 0 || i + static_cast<size_t>(n) >= s.size()) return kInvalidCodepoint;
  uint8_t lo, hi;
  second_range(b, &lo, &hi);
  uint8_t c1 = p[i + 1];
  if (c1 < lo || c1 > hi) return kInvalidCodepoint;
  int32_t cp = b & (0x3F >> n);
  cp = (cp << 6) | (c1 & 0x3F);
  for (int k = 2; k <= n; ++k) {
    uint8_t c = p[i + k];
    if ((c & 0xC0) != 0x80) return kInvalidCodepoint;
    cp = (cp << 6) | (c & 0x3F);
  }
  *len = static_cast<size_t>(n) + 1;
  return cp;
}

void append_utf8(std::string* out, int32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    if (decode_utf8(s, i, &len) == kInvalidCodepoint) return false;
    i += len;
  }
  return true;
}

CharClass char_class(int32_t cp) {
  if (cp < 0) return CharClass::Other;
  if (cp < 128) return kAscii.c[cp];
  if (cp == 0x85) return CharClass::Space;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::Letter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::Number;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return CharClass::Space;
    default:
      return CharClass::Other;
  }
}

bool nfc_inert(int32_t cp) {
  if (cp < 0x300) return cp >= 0;
  return (cp >= 0x400 && cp < 0x483) || (cp >= 0x2010 && cp < 0x2028) ||
         (cp >= 0x3000 && cp < 0x302A) || (cp >= 0x3041 && cp < 0x3097) ||
         (cp >= 0x30A0 && cp < 0x3100) || (cp >= 0x4E00 && cp < 0xA000) ||
         (cp >= 0xAC00 && cp < 0xD7A4) || (cp >= 0xFF01 && cp < 0xFF5F) ||
         (cp >= 0x1F300 && cp < 0x1FB00);
}

bool nfc_normalize(std::string_view s, std::string* out) {
  // Fast check: ASCII and the inert ranges cannot change under NFC.
  size_t i = 0;
  bool needed = false;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    int32_t cp = decode_utf8(s, i, &len);
    i += len;
    if (cp != kInvalidCodepoint && !nfc_inert(cp)) {
      needed = true;
      break;
    }
  }
  if (!needed) return false;

  std::string result;
  result.reserve(s.size() + 8);
  auto flush_run = [&](size_t begin, size_t end) {
    if (begin == end) return;
    utf8proc_uint8_t* dst = nullptr;
    utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + begin),
                     static_cast<utf8proc_ssize_t>(end - begin), &dst,
                     static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n < 0 || dst == nullptr) {
      result.append(s.substr(begin, end - begin));  // cannot happen for valid runs
    } else {
      result.append(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
    }
    std::free(dst);
  };
  size_t run = 0;
  i = 0;
  while (i < s.size()) {
    size_t len;
    if (decode_utf8(s, i, &len) == kInvalidCodepoint) {
      flush_run(run, i);
      result.push_back(s[i]);
      run = i + 1;
    }
    i += len;
  }
  flush_run(run, s.size());
  *out = std::move(result);
  return true;
}

size_t invalid_subpart(std::string_view s, size_t i, bool* incomplete) {
  *incomplete = false;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  int n = trail_count(p[i]);
  if (n == 0) return 0;
  if (n < 0) return 1;
  uint8_t lo, hi;
  second_range(p[i], &lo, &hi);
  size_t k = 1;
  for (; k <= static_cast<size_t>(n); ++k) {
    if (i + k >= s.size()) {
      *incomplete = true;
      return k;
    }
    uint8_t c = p[i + k];
    bool ok = (k == 1) ? (c >= lo && c <= hi) : ((c & 0xC0) == 0x80);
    if (!ok) return k;
  }
  return 0;  // a complete, valid character
}

std::string repair_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      out.push_back(s[i++]);
      continue;
    }
    bool incomplete;
    size_t bad = invalid_subpart(s, i, &incomplete);
    if (bad == 0) {
      size_t len;
      decode_utf8(s, i, &len);
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      i += bad;
    }
  }
  return out;
}

}  // namespace qs::tokenizer
