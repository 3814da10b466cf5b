// JSON text exactly as Python's json.dumps(obj, ensure_ascii=False) writes it
// (the `tojson` filter of Hugging Face's chat templates): ", " and ": "
// separators, key order kept, non-ASCII written raw, control characters as
// \u00XX, floats as Python's repr (1.0, 1e-05, 1e+16, NaN, Infinity).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace qs::tokenizer {

std::string py_json_dumps(const nlohmann::ordered_json& value);
void py_json_dumps(const nlohmann::ordered_json& value, std::string* out);

// Python's repr() of a float.
std::string py_float_repr(double v);

}  // namespace qs::tokenizer
