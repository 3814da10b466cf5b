#include "formats/safetensors.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

namespace qs {

using json = nlohmann::json;

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // cannot overflow: checked when the file was opened
  return n;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

namespace {

// Reads a non-negative JSON integer (rejects floats, negatives, bools).
bool as_u64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

// One header entry -> TensorView (data pointer filled in later). `where` is
// "<file>: tensor '<name>'".
Status parse_entry(const std::string& where, const json& e, TensorView* t, uint64_t* begin,
                   uint64_t* end) {
  if (!e.is_object()) return Status::Error(where + ": entry is not a JSON object");
  auto dt = e.find("dtype");
  if (dt == e.end()) return Status::Error(where + ": missing 'dtype'");
  if (!dt->is_string()) return Status::Error(where + ": 'dtype' is not a string");
  if (!parse_dtype(dt->get_ref<const std::string&>(), &t->dtype))
    return Status::Error(where + ": unknown dtype '" + dt->get<std::string>() + "'");

  auto sh = e.find("shape");
  if (sh == e.end()) return Status::Error(where + ": missing 'shape'");
  if (!sh->is_array()) return Status::Error(where + ": 'shape' is not an array");
  uint64_t numel = 1;
  bool overflow = false, has_zero = false;
  for (const json& d : *sh) {
    uint64_t v = 0;
    if (!as_u64(d, &v))
      return Status::Error(where + ": shape dimension " + d.dump() +
                           " is not a non-negative integer");
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return Status::Error(where + ": shape dimension " + d.dump() + " is too large");
    t->shape.push_back(static_cast<int64_t>(v));
    if (v == 0) has_zero = true;
    if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / v) overflow = true;
    numel *= v;
  }
  // A zero dim makes any product fine; otherwise an overflow anywhere is fatal.
  if (has_zero) numel = 0;
  if (!has_zero && overflow)
    return Status::Error(where + ": shape " + shape_to_string(t->shape) +
                         " element count overflows");
  const uint64_t esize = dtype_size(t->dtype);
  if (numel > std::numeric_limits<uint64_t>::max() / esize)
    return Status::Error(where + ": shape " + shape_to_string(t->shape) + " byte size overflows");
  const uint64_t want = numel * esize;

  auto off = e.find("data_offsets");
  if (off == e.end()) return Status::Error(where + ": missing 'data_offsets'");
  if (!off->is_array() || off->size() != 2 || !as_u64((*off)[0], begin) || !as_u64((*off)[1], end))
    return Status::Error(where + ": 'data_offsets' " + off->dump() +
                         " is not two non-negative integers");
  const std::string range = "[" + std::to_string(*begin) + ", " + std::to_string(*end) + "]";
  if (*end < *begin) return Status::Error(where + ": data_offsets " + range + " end < begin");
  if (*end - *begin != want)
    return Status::Error(where + ": data_offsets " + range + " span " +
                         std::to_string(*end - *begin) + " bytes but " +
                         std::string(dtype_name(t->dtype)) + " " + shape_to_string(t->shape) +
                         " needs " + std::to_string(want));
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  QS_ASSIGN_OR_RETURN(f->file_, MappedFile::Open(path));
  QS_RETURN_IF_ERROR(f->Parse(f->file_->data(), f->file_->size()));
  return f;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::FromMemory(const uint8_t* data,
                                                                     size_t size,
                                                                     const std::string& name) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = name;
  QS_RETURN_IF_ERROR(f->Parse(data, size));
  return f;
}

Status SafetensorsFile::Parse(const uint8_t* base, uint64_t size) {
  if (size < 8)
    return Status::Error(path_ + ": file is " + std::to_string(size) +
                         " bytes, too short for the 8-byte header length (truncated?)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
  if (n > kMaxHeaderBytes)
    return Status::Error(path_ + ": header length " + std::to_string(n) + " exceeds the " +
                         std::to_string(kMaxHeaderBytes) + "-byte limit (not a safetensors file?)");
  if (n > size - 8)
    return Status::Error(path_ + ": header length " + std::to_string(n) +
                         " exceeds the file size (" + std::to_string(size) + " bytes; truncated?)");
  const char* hbeg = reinterpret_cast<const char*>(base + 8);
  if (n == 0 || hbeg[0] != '{')
    return Status::Error(path_ + ": header is not a JSON object (does not start with '{')");

  // Duplicate keys are invisible after parsing (the last one wins), so catch
  // them during the parse. Depth 1 keys are tensor names.
  std::vector<std::string> top_keys;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::key && depth == 1)
      top_keys.push_back(parsed.get_ref<const std::string&>());
    return true;
  };
  json header = json::parse(hbeg, hbeg + n, cb, /*allow_exceptions=*/false);
  if (header.is_discarded())
    return Status::Error(path_ + ": header is not valid JSON (or not UTF-8)");
  if (!header.is_object()) return Status::Error(path_ + ": header is not a JSON object");
  std::sort(top_keys.begin(), top_keys.end());
  for (size_t i = 1; i < top_keys.size(); ++i)
    if (top_keys[i] == top_keys[i - 1])
      return Status::Error(path_ + ": tensor '" + top_keys[i] + "': duplicate name in header");

  const uint64_t data_size = size - 8 - n;
  const uint8_t* data = base + 8 + n;
  struct Span {
    uint64_t begin, end;
    size_t idx;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return Status::Error(path_ + ": '__metadata__' is not a JSON object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          return Status::Error(path_ + ": '__metadata__' value for '" + m.key() +
                               "' is not a string");
        metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const std::string where = path_ + ": tensor '" + it.key() + "'";
    TensorView t;
    t.name = it.key();
    uint64_t b = 0, e = 0;
    QS_RETURN_IF_ERROR(parse_entry(where, *it, &t, &b, &e));
    if (e > data_size)
      return Status::Error(where + ": data_offsets [" + std::to_string(b) + ", " +
                           std::to_string(e) + "] out of range (data section is " +
                           std::to_string(data_size) + " bytes)");
    t.data = data + b;
    t.nbytes = static_cast<size_t>(e - b);
    spans.push_back({b, e, tensors_.size()});
    tensors_.push_back(std::move(t));
  }

  // The tensors must tile [0, data_size) exactly.
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) {
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  });
  uint64_t pos = 0;
  const Span* prev = nullptr;
  for (const Span& s : spans) {
    const std::string& name = tensors_[s.idx].name;
    const std::string range = "[" + std::to_string(s.begin) + ", " + std::to_string(s.end) + "]";
    if (s.begin < pos)
      return Status::Error(path_ + ": tensor '" + name + "': data_offsets " + range +
                           " overlap tensor '" + tensors_[prev->idx].name + "' [" +
                           std::to_string(prev->begin) + ", " + std::to_string(prev->end) + "]");
    if (s.begin > pos)
      return Status::Error(path_ + ": tensor '" + name + "': data_offsets " + range +
                           " leave a hole: bytes [" + std::to_string(pos) + ", " +
                           std::to_string(s.begin) + ") of the data section belong to no tensor");
    pos = s.end;
    prev = &s;
  }
  if (pos != data_size)
    return Status::Error(path_ + ": data section is " + std::to_string(data_size) +
                         " bytes but the tensors cover only " + std::to_string(pos) +
                         " (trailing bytes or wrong offsets)");

  std::sort(tensors_.begin(), tensors_.end(),
            [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
  for (size_t i = 0; i < tensors_.size(); ++i) {
    tensors_[i].file = &path_;
    index_.emplace(tensors_[i].name, i);
  }
  return Status::Ok();
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace qs
