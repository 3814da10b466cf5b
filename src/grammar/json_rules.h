// Grammar pieces for JSON text: bounded whitespace, strings (UTF-8 checked,
// escapes, length bounds), integers and numbers with bounds, literals,
// object keys other than a given set, and any JSON value. Loops are tail
// recursive with the character alternatives inline, so a string's body is one
// rule frame (this keeps the per-position token masks context-independent).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "grammar/grammar.h"

namespace qs::grammar {

constexpr int kMaxIndent = 16;      // "\n" then at most this many spaces/tabs
constexpr int kMaxIntDigits = 16;   // integer part digits
constexpr int kMaxFracDigits = 15;  // fraction digits

class JsonRules {
 public:
  explicit JsonRules(GrammarBuilder& b) : b_(b) {}
  GrammarBuilder& builder() { return b_; }

  uint32_t ws();  // "" | " " | "\n" [ \t]{0,16}
  // One JSON string character (raw UTF-8 or an escape), as alternatives.
  std::vector<Seq> char_alts(bool escapes = true);
  // A whole JSON string (quotes included) of min..max characters (max < 0: unbounded).
  uint32_t string(int min_len, int max_len);
  // "..." whose content matches `body` (a rule producing JSON-escaped characters).
  uint32_t quoted(uint32_t body, const std::string& name);
  // A string that is none of `excluded` (object keys beside declared properties).
  uint32_t string_except(const std::vector<std::string>& excluded);
  // Integers in [lo, hi] (unset = unbounded, capped at 16 digits).
  Result<uint32_t> integer(std::optional<int64_t> lo, std::optional<int64_t> hi);
  // Numbers in [lo, hi] with integer bounds (fractions allowed inside); no
  // bounds: full JSON numbers with at most 2 exponent digits.
  Result<uint32_t> number(std::optional<int64_t> lo, std::optional<int64_t> hi);
  uint32_t literal(const std::string& text);  // exact bytes
  uint32_t any_value();                       // any JSON value (recursive)
  uint32_t any_object();                      // any JSON object

 private:
  uint32_t same_len(const std::string& a, const std::string& b);
  uint32_t uint_range(uint64_t lo, std::optional<uint64_t> hi);
  uint32_t magnitude(uint64_t c, std::optional<uint64_t> d);  // [c, d] with fractions
  uint32_t fraction();                                        // ("." [0-9]{1,15})?
  uint32_t zero_fraction();                                   // ("." "0"{1,15})?
  GrammarBuilder& b_;
};

// JSON text of a string literal as Python's json.dumps(ensure_ascii=False) and
// nlohmann write it (quotes included).
std::string json_quote(const std::string& s);

}  // namespace qs::grammar
