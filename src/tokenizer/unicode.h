// UTF-8 and Unicode helpers for the tokenizer: decoding code points (with a
// defined answer for invalid bytes), the character classes the Qwen2
// pre-tokenizer regex uses, NFC normalization and U+FFFD repair. All Unicode
// data comes from utf8proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qs::tokenizer {

// Decodes one UTF-8 character at s[i]. Returns its code point and sets *len to
// its byte length. Invalid or truncated sequences (overlongs, surrogates,
// > U+10FFFF, stray continuation bytes) give kInvalidCodepoint with *len = 1,
// so every byte of any input is consumed exactly once.
inline constexpr int32_t kInvalidCodepoint = -1;
int32_t decode_utf8(std::string_view s, size_t i, size_t* len);

// Appends the UTF-8 encoding of a valid code point.
void append_utf8(std::string* out, int32_t cp);

// True if s is entirely valid UTF-8 (same rules as decode_utf8).
bool is_valid_utf8(std::string_view s);

// The classes of the pre-tokenizer regex (Oniguruma / HF tokenizers semantics):
// Letter = \p{L} (Lu Ll Lt Lm Lo), Number = \p{N} (Nd Nl No), Space = \s
// (Unicode White_Space: Zs Zl Zp and U+0009..U+000D, U+0085), Other = the rest.
// Invalid bytes (kInvalidCodepoint) are Other.
enum class CharClass : uint8_t { Other = 0, Letter = 1, Number = 2, Space = 3 };
CharClass char_class(int32_t cp);

// NFC of valid UTF-8 text; invalid bytes are kept as they are and the valid
// runs between them are normalized separately. Returns false (and leaves *out
// untouched) when the text is already NFC by a cheap check, so callers can use
// the input in place.
bool nfc_normalize(std::string_view s, std::string* out);

// True if NFC leaves this code point unchanged whatever surrounds it (no
// decomposition, combining class 0, never the second half of a composition).
// Used for the fast path; a test checks the ranges against utf8proc.
bool nfc_inert(int32_t cp);

// Replaces each maximal invalid subpart with U+FFFD (Python's
// bytes.decode("utf-8", errors="replace") policy).
std::string repair_utf8(std::string_view s);

// Length of the invalid subpart starting at s[i] that repair_utf8 replaces with
// one U+FFFD, or 0 if a valid character starts there. If the bytes from i to the
// end are a valid but incomplete prefix of a character, *incomplete is set.
size_t invalid_subpart(std::string_view s, size_t i, bool* incomplete);

}  // namespace qs::tokenizer
