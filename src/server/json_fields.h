// Typed, validated reads of request JSON fields, shared by the request parsers.
// A FieldReader keeps the FIRST error it meets (with the full param path) so a
// parser can read many fields and check once: `if (!r.ok()) return r.error();`.
// Absent and explicit null are the same: OpenAI clients send `"stop": null`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/openai_errors.h"

namespace qs::server {

// Strict UTF-8: no overlong forms, no surrogates (U+D800..DFFF), nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s);

// Body -> JSON object, checking in order: size <= max_bytes (413), UTF-8 (400),
// nesting depth <= max_depth (400, so hostile input cannot blow the stack),
// JSON syntax (400), top level is an object (400).
ApiResult<nlohmann::json> parse_json_object(std::string_view body, std::size_t max_bytes,
                                            int max_depth);

// Formats a number for messages: 2 -> "2", 0.5 -> "0.5".
std::string format_number(double v);

class FieldReader {
 public:
  // `obj` must be a JSON object; `prefix` is prepended to param names, e.g. "messages[2].".
  FieldReader(const nlohmann::json& obj, std::string prefix)
      : obj_(obj), prefix_(std::move(prefix)) {}

  bool ok() const { return !error_.has_value(); }
  const ApiError& error() const { return *error_; }
  std::string param(std::string_view key) const { return prefix_ + std::string(key); }

  // True when `key` is present and not null.
  bool has(std::string_view key) const;
  // The raw value (nullptr when absent or null).
  const nlohmann::json* raw(std::string_view key) const;

  // A number in [lo, hi] (ends open when *_open). Integers and floats both count.
  std::optional<double> number(std::string_view key, double lo, double hi, bool lo_open = false,
                               bool hi_open = false);
  // An integer in [lo, hi]; a float with no fractional part (16.0) is accepted.
  std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi);
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::string> string(std::string_view key);
  // Object / array: nullptr when absent or null (or on a type error, recorded).
  const nlohmann::json* object(std::string_view key);
  const nlohmann::json* array(std::string_view key);

  // Records an error for `key` (param = prefix + key) unless one is already kept.
  void fail(std::string message, std::string_view key);
  // Records an already-built error unless one is already kept.
  void fail(ApiError e);

 private:
  const nlohmann::json& obj_;
  std::string prefix_;
  std::optional<ApiError> error_;
};

// Reads a JSON number as an int64 if it is integral and in range.
std::optional<int64_t> json_to_int64(const nlohmann::json& v);

// Human name of a JSON value's type for messages ("string", "number", ...).
const char* json_type_name(const nlohmann::json& v);

}  // namespace qs::server
