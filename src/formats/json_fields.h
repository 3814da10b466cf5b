// Typed, checked reads of JSON object fields for the config parsers. Each
// error names the file and the field: "config.json: field 'hidden_size': ...".
// Absent and null fields leave the output untouched (the caller's default).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace qs::json_fields {

// Parses `text` and checks the top level is an object.
Result<nlohmann::json> parse_object(const std::string& text, const std::string& file);

Status field_error(const std::string& file, const std::string& key, const std::string& problem);

// Present and not null?
bool has(const nlohmann::json& obj, const char* key);

// Integers reject floats (even 2.0), booleans and strings.
Status get_int(const nlohmann::json& obj, const char* key, const std::string& file, int64_t* out);
Status get_int(const nlohmann::json& obj, const char* key, const std::string& file,
               std::optional<int64_t>* out);
// Numbers accept integers and floats but not booleans; must be finite.
Status get_double(const nlohmann::json& obj, const char* key, const std::string& file, double* out);
Status get_double(const nlohmann::json& obj, const char* key, const std::string& file,
                  std::optional<double>* out);
Status get_bool(const nlohmann::json& obj, const char* key, const std::string& file, bool* out);
Status get_bool(const nlohmann::json& obj, const char* key, const std::string& file,
                std::optional<bool>* out);
Status get_string(const nlohmann::json& obj, const char* key, const std::string& file,
                  std::string* out);
Status get_string_list(const nlohmann::json& obj, const char* key, const std::string& file,
                       std::vector<std::string>* out);
// An int or a list of ints (as eos_token_id is in HF configs).
Status get_int_or_list(const nlohmann::json& obj, const char* key, const std::string& file,
                       std::vector<int64_t>* out);

}  // namespace qs::json_fields
