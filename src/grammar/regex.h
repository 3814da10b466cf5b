// JSON Schema "pattern" (and the string formats) as grammar rules over the
// JSON-escaped string content. Supported subset (see docs/STRUCTURED_OUTPUT.md):
//   literals (UTF-8), escapes \. \\ \/ \- etc., \d \w \s \D \W \S (ASCII
//   meanings), \t \n \r \f, '.', classes [a-z0-9_] and [^...] (ASCII ranges,
//   single non-ASCII characters in positive classes), groups ( ) (?: ) (?P<n> ),
//   alternation |, quantifiers * + ? {n} {n,} {n,m} (lazy forms accepted,
//   same language), ^ at the start and $ at the end. Without ^ / $ the match
//   may be surrounded by any text (re.search semantics).
// Not supported (error naming it): backreferences, lookaround, \b \B, \p{..},
// anchors elsewhere, non-ASCII class ranges.
#pragma once

#include <string>

#include "core/status.h"
#include "grammar/json_rules.h"

namespace qs::grammar {

// A rule deriving the JSON string bodies (no quotes) whose decoded text
// matches `pattern`.
Result<uint32_t> compile_pattern(JsonRules& json, const std::string& pattern);

}  // namespace qs::grammar
