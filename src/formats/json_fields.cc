#include "formats/json_fields.h"

#include <cmath>

namespace qs::json_fields {

using json = nlohmann::json;

Result<json> parse_object(const std::string& text, const std::string& file) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Error(file + ": not valid JSON");
  if (!j.is_object()) return Status::Error(file + ": top level is not a JSON object");
  return j;
}

Status field_error(const std::string& file, const std::string& key, const std::string& problem) {
  return Status::Error(file + ": field '" + key + "': " + problem);
}

bool has(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

namespace {

Status read_int(const json& v, const char* key, const std::string& file, int64_t* out) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    *out = v.get<int64_t>();
    return Status::Ok();
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
    *out = static_cast<int64_t>(v.get<uint64_t>());
    return Status::Ok();
  }
  return field_error(file, key, v.dump() + " is not an integer");
}

Status read_double(const json& v, const char* key, const std::string& file, double* out) {
  if (!v.is_number()) return field_error(file, key, v.dump() + " is not a number");
  double d = v.get<double>();
  if (!std::isfinite(d)) return field_error(file, key, "is not finite");
  *out = d;
  return Status::Ok();
}

}  // namespace

Status get_int(const json& obj, const char* key, const std::string& file, int64_t* out) {
  if (!has(obj, key)) return Status::Ok();
  return read_int(obj.at(key), key, file, out);
}

Status get_int(const json& obj, const char* key, const std::string& file,
               std::optional<int64_t>* out) {
  if (!has(obj, key)) return Status::Ok();
  int64_t v = 0;
  QS_RETURN_IF_ERROR(read_int(obj.at(key), key, file, &v));
  *out = v;
  return Status::Ok();
}

Status get_double(const json& obj, const char* key, const std::string& file, double* out) {
  if (!has(obj, key)) return Status::Ok();
  return read_double(obj.at(key), key, file, out);
}

Status get_double(const json& obj, const char* key, const std::string& file,
                  std::optional<double>* out) {
  if (!has(obj, key)) return Status::Ok();
  double v = 0;
  QS_RETURN_IF_ERROR(read_double(obj.at(key), key, file, &v));
  *out = v;
  return Status::Ok();
}

Status get_bool(const json& obj, const char* key, const std::string& file, bool* out) {
  if (!has(obj, key)) return Status::Ok();
  const json& v = obj.at(key);
  if (!v.is_boolean()) return field_error(file, key, v.dump() + " is not true or false");
  *out = v.get<bool>();
  return Status::Ok();
}

Status get_bool(const json& obj, const char* key, const std::string& file,
                std::optional<bool>* out) {
  if (!has(obj, key)) return Status::Ok();
  bool b = false;
  QS_RETURN_IF_ERROR(get_bool(obj, key, file, &b));
  *out = b;
  return Status::Ok();
}

Status get_string(const json& obj, const char* key, const std::string& file, std::string* out) {
  if (!has(obj, key)) return Status::Ok();
  const json& v = obj.at(key);
  if (!v.is_string()) return field_error(file, key, v.dump() + " is not a string");
  *out = v.get<std::string>();
  return Status::Ok();
}

Status get_string_list(const json& obj, const char* key, const std::string& file,
                       std::vector<std::string>* out) {
  if (!has(obj, key)) return Status::Ok();
  const json& v = obj.at(key);
  if (!v.is_array()) return field_error(file, key, "is not a list of strings");
  out->clear();
  for (const json& e : v) {
    if (!e.is_string()) return field_error(file, key, "element " + e.dump() + " is not a string");
    out->push_back(e.get<std::string>());
  }
  return Status::Ok();
}

Status get_int_or_list(const json& obj, const char* key, const std::string& file,
                       std::vector<int64_t>* out) {
  if (!has(obj, key)) return Status::Ok();
  const json& v = obj.at(key);
  out->clear();
  if (!v.is_array()) {
    int64_t x = 0;
    QS_RETURN_IF_ERROR(read_int(v, key, file, &x));
    out->push_back(x);
    return Status::Ok();
  }
  for (const json& e : v) {
    int64_t x = 0;
    QS_RETURN_IF_ERROR(read_int(e, key, file, &x));
    out->push_back(x);
  }
  return Status::Ok();
}

}  // namespace qs::json_fields
