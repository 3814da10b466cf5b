#include "server/json_fields.h"

#include <cmath>
#include <limits>

namespace qs::server {

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // stray continuation byte, C0/C1 overlong lead, or F5..FF
    }
    if (i + static_cast<std::size_t>(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      const unsigned char cc = p[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
    i += static_cast<std::size_t>(len);
  }
  return true;
}

namespace {
// Deepest [ / { nesting outside string literals.
int json_depth(std::string_view body) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) max_depth = depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}
}  // namespace

ApiResult<nlohmann::json> parse_json_object(std::string_view body, std::size_t max_bytes,
                                            int max_depth) {
  if (body.size() > max_bytes) {
    return ApiError::TooLarge("request body is " + std::to_string(body.size()) +
                              " bytes, the limit is " + std::to_string(max_bytes));
  }
  if (!is_valid_utf8(body)) return ApiError::BadJson("request body is not valid UTF-8");
  if (json_depth(body) > max_depth) {
    return ApiError::BadJson("request JSON is nested deeper than " + std::to_string(max_depth) +
                             " levels");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body.begin(), body.end());
  } catch (const nlohmann::json::exception& e) {
    return ApiError::BadJson(std::string("request body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return ApiError::BadJson("request body must be a JSON object");
  return j;
}

std::string format_number(double v) { return nlohmann::json(v).dump(); }

const char* json_type_name(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "binary";
}

std::optional<int64_t> json_to_int64(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is exactly representable; anything >= it does not fit.
    if (!std::isfinite(d) || d != std::floor(d) || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0) {
      return std::nullopt;
    }
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

bool FieldReader::has(std::string_view key) const { return raw(key) != nullptr; }

const nlohmann::json* FieldReader::raw(std::string_view key) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) return nullptr;
  return &*it;
}

void FieldReader::fail(std::string message, std::string_view key) {
  if (!error_) error_ = ApiError::InvalidRequest(std::move(message), param(key));
}

void FieldReader::fail(ApiError e) {
  if (!error_) error_ = std::move(e);
}

std::optional<double> FieldReader::number(std::string_view key, double lo, double hi, bool lo_open,
                                          bool hi_open) {
  const nlohmann::json* v = raw(key);
  if (!v) return std::nullopt;
  const std::string name = param(key);
  if (!v->is_number()) {
    fail(name + " must be a number, got " + json_type_name(*v), key);
    return std::nullopt;
  }
  const double d = v->get<double>();
  const bool below = lo_open ? !(d > lo) : !(d >= lo);
  const bool above = hi_open ? !(d < hi) : !(d <= hi);
  if (!std::isfinite(d) || below || above) {
    std::string range = (lo_open ? "(" : "[") + format_number(lo) + ", ";
    range += std::isinf(hi) ? std::string("inf)") : format_number(hi) + (hi_open ? ")" : "]");
    fail(name + " must be in " + range + ", got " + v->dump(), key);
    return std::nullopt;
  }
  return d;
}

std::optional<int64_t> FieldReader::integer(std::string_view key, int64_t lo, int64_t hi) {
  const nlohmann::json* v = raw(key);
  if (!v) return std::nullopt;
  const std::string name = param(key);
  if (!v->is_number()) {
    fail(name + " must be an integer, got " + json_type_name(*v), key);
    return std::nullopt;
  }
  const std::optional<int64_t> i = json_to_int64(*v);
  if (!i) {
    fail(name + " must be an integer, got " + v->dump(), key);
    return std::nullopt;
  }
  if (*i < lo || *i > hi) {
    fail(name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
             std::to_string(*i),
         key);
    return std::nullopt;
  }
  return i;
}

std::optional<bool> FieldReader::boolean(std::string_view key) {
  const nlohmann::json* v = raw(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) {
    fail(param(key) + " must be a boolean, got " + json_type_name(*v), key);
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<std::string> FieldReader::string(std::string_view key) {
  const nlohmann::json* v = raw(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    fail(param(key) + " must be a string, got " + json_type_name(*v), key);
    return std::nullopt;
  }
  std::string s = v->get<std::string>();
  if (!is_valid_utf8(s)) {
    fail(param(key) + " is not valid UTF-8", key);
    return std::nullopt;
  }
  return s;
}

const nlohmann::json* FieldReader::object(std::string_view key) {
  const nlohmann::json* v = raw(key);
  if (!v) return nullptr;
  if (!v->is_object()) {
    fail(param(key) + " must be an object, got " + json_type_name(*v), key);
    return nullptr;
  }
  return v;
}

const nlohmann::json* FieldReader::array(std::string_view key) {
  const nlohmann::json* v = raw(key);
  if (!v) return nullptr;
  if (!v->is_array()) {
    fail(param(key) + " must be an array, got " + json_type_name(*v), key);
    return nullptr;
  }
  return v;
}

}  // namespace qs::server
