// JSON Schema -> grammar. Errors name the keyword and where it is, e.g.
// "schema at /properties/a: unsupported keyword 'multipleOf'".
#pragma once

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "grammar/grammar.h"
#include "grammar/json_rules.h"

namespace qs::grammar {

// Adds the rules of a value matching `schema` (the whole document, for $ref)
// to `b`; returns its rule.
Result<uint32_t> schema_rule(const nlohmann::json& schema, JsonRules& json);

}  // namespace qs::grammar
