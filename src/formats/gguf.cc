#include "formats/gguf.h"

#include <cstring>
#include <fstream>
#include <limits>

namespace qs {

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::kF32:
      return "F32";
    case GgmlType::kF16:
      return "F16";
    case GgmlType::kQ4_0:
      return "Q4_0";
    case GgmlType::kQ4_1:
      return "Q4_1";
    case GgmlType::kQ5_0:
      return "Q5_0";
    case GgmlType::kQ5_1:
      return "Q5_1";
    case GgmlType::kQ8_0:
      return "Q8_0";
    case GgmlType::kQ2_K:
      return "Q2_K";
    case GgmlType::kQ3_K:
      return "Q3_K";
    case GgmlType::kQ4_K:
      return "Q4_K";
    case GgmlType::kQ5_K:
      return "Q5_K";
    case GgmlType::kQ6_K:
      return "Q6_K";
    case GgmlType::kIQ4_NL:
      return "IQ4_NL";
    case GgmlType::kBF16:
      return "BF16";
  }
  return "?";
}

bool ggml_type_block(GgmlType t, size_t* be, size_t* bb) {
  switch (t) {
    case GgmlType::kF32:
      *be = 1;
      *bb = 4;
      return true;
    case GgmlType::kF16:
      *be = 1;
      *bb = 2;
      return true;
    case GgmlType::kBF16:
      *be = 1;
      *bb = 2;
      return true;
    case GgmlType::kQ4_0:
      *be = 32;
      *bb = 18;
      return true;
    case GgmlType::kQ4_1:
      *be = 32;
      *bb = 20;
      return true;
    case GgmlType::kQ5_0:
      *be = 32;
      *bb = 22;
      return true;
    case GgmlType::kQ5_1:
      *be = 32;
      *bb = 24;
      return true;
    case GgmlType::kQ8_0:
      *be = 32;
      *bb = 34;
      return true;
    case GgmlType::kIQ4_NL:
      *be = 32;
      *bb = 18;
      return true;
    case GgmlType::kQ2_K:
      *be = 256;
      *bb = 84;
      return true;
    case GgmlType::kQ3_K:
      *be = 256;
      *bb = 110;
      return true;
    case GgmlType::kQ5_K:
      *be = 256;
      *bb = 176;
      return true;
    case GgmlType::kQ4_K:
      *be = 256;
      *bb = 144;
      return true;
    case GgmlType::kQ6_K:
      *be = 256;
      *bb = 210;
      return true;
  }
  return false;
}

uint64_t GgufTensor::numel() const {
  uint64_t n = 1;
  for (uint64_t d : ne) n *= d;
  return n;
}

namespace {

// " (IQ2_XXS)" for the ggml types llama.cpp writes that we do not read, so
// the error says which quantization the file uses; "" for unknown ids.
std::string unsupported_type_label(uint32_t id) {
  static const char* const kNames[] = {
      nullptr, nullptr,      nullptr,      nullptr,      "Q4_2",     "Q4_3",     nullptr,
      nullptr, nullptr,      "Q8_1",       nullptr,      nullptr,    nullptr,    nullptr,
      nullptr, "Q8_K",       "IQ2_XXS",    "IQ2_XS",     "IQ3_XXS",  "IQ1_S",    nullptr,
      "IQ3_S", "IQ2_S",      "IQ4_XS",     "I8",         "I16",      "I32",      "I64",
      "F64",   "IQ1_M",      nullptr,      "Q4_0_4_4",   "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",
      "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4",    "NVFP4",    "Q1_0",
      "Q2_0"};
  if (id >= sizeof(kNames) / sizeof(kNames[0]) || kNames[id] == nullptr) return "";
  return std::string(" (") + kNames[id] + ")";
}

// Bounds-checked little-endian cursor over the file.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n, const std::string& name) : p_(p), n_(n), name_(name) {}
  size_t pos() const { return pos_; }
  Status err(const std::string& what) const {
    return Status::Error(name_ + ": " + what + " (at byte " + std::to_string(pos_) + ")");
  }
  template <typename T>
  Status read(T* v) {
    if (n_ - pos_ < sizeof(T)) return err("truncated file");
    std::memcpy(v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }
  Status read_string(std::string* s) {
    uint64_t len = 0;
    QS_RETURN_IF_ERROR(read(&len));
    if (len > n_ - pos_) return err("string length " + std::to_string(len) + " past end of file");
    s->assign(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return Status::Ok();
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& name_;
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool:
      return 1;
    case GgufType::kU16:
    case GgufType::kI16:
      return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32:
      return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64:
      return 8;
    default:
      return 0;
  }
}

// Reads one scalar of type t into (i, u, f).
Status read_scalar(Reader& r, GgufType t, int64_t* i, uint64_t* u, double* f) {
  switch (t) {
#define QS_CASE(E, T)               \
  case GgufType::E: {               \
    T v{};                          \
    QS_RETURN_IF_ERROR(r.read(&v)); \
    *i = static_cast<int64_t>(v);   \
    *u = static_cast<uint64_t>(v);  \
    *f = static_cast<double>(v);    \
    return Status::Ok();            \
  }
    QS_CASE(kU8, uint8_t)
    QS_CASE(kI8, int8_t)
    QS_CASE(kU16, uint16_t)
    QS_CASE(kI16, int16_t)
    QS_CASE(kU32, uint32_t)
    QS_CASE(kI32, int32_t)
    QS_CASE(kU64, uint64_t)
    QS_CASE(kI64, int64_t)
#undef QS_CASE
    case GgufType::kF32: {
      float v = 0;
      QS_RETURN_IF_ERROR(r.read(&v));
      *f = v;
      return Status::Ok();
    }
    case GgufType::kF64: {
      double v = 0;
      QS_RETURN_IF_ERROR(r.read(&v));
      *f = v;
      return Status::Ok();
    }
    case GgufType::kBool: {
      uint8_t v = 0;
      QS_RETURN_IF_ERROR(r.read(&v));
      if (v > 1) return r.err("bool value " + std::to_string(v));
      *i = v;
      *u = v;
      *f = v;
      return Status::Ok();
    }
    default:
      return r.err("unknown metadata value type " + std::to_string(static_cast<uint32_t>(t)));
  }
}

Status read_value(Reader& r, size_t remaining, GgufValue* v) {
  uint32_t type = 0;
  QS_RETURN_IF_ERROR(r.read(&type));
  v->type = static_cast<GgufType>(type);
  if (v->type == GgufType::kString) return r.read_string(&v->str);
  if (v->type != GgufType::kArray) return read_scalar(r, v->type, &v->i, &v->u, &v->f);
  uint32_t elem = 0;
  uint64_t count = 0;
  QS_RETURN_IF_ERROR(r.read(&elem));
  QS_RETURN_IF_ERROR(r.read(&count));
  v->elem = static_cast<GgufType>(elem);
  if (v->elem == GgufType::kArray) return r.err("nested metadata arrays are not supported");
  // Every element takes at least one byte (strings 8): a count beyond the file is a lie.
  const size_t min_size = v->elem == GgufType::kString ? 8 : scalar_size(v->elem);
  if (min_size == 0) return r.err("unknown array element type " + std::to_string(elem));
  if (count > remaining / min_size)
    return r.err("array of " + std::to_string(count) + " elements past end of file");
  if (v->elem == GgufType::kString) {
    v->strs.resize(count);
    for (auto& s : v->strs) QS_RETURN_IF_ERROR(r.read_string(&s));
  } else {
    v->nums.resize(count);
    int64_t i;
    uint64_t u;
    for (auto& d : v->nums) QS_RETURN_IF_ERROR(read_scalar(r, v->elem, &i, &u, &d));
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  std::unique_ptr<GgufFile> g(new GgufFile());
  g->path_ = path;
  QS_ASSIGN_OR_RETURN(g->file_, MappedFile::Open(path));
  QS_RETURN_IF_ERROR(g->Parse(g->file_->data(), g->file_->size()));
  return g;
}

Result<std::unique_ptr<GgufFile>> GgufFile::FromMemory(const uint8_t* data, size_t size,
                                                       const std::string& name) {
  std::unique_ptr<GgufFile> g(new GgufFile());
  g->path_ = name;
  QS_RETURN_IF_ERROR(g->Parse(data, size));
  return g;
}

Status GgufFile::Parse(const uint8_t* base, size_t size) {
  Reader r(base, size, path_);
  uint32_t magic = 0;
  QS_RETURN_IF_ERROR(r.read(&magic));
  if (magic != 0x46554747u) return Status::Error(path_ + ": not a GGUF file (bad magic)");
  QS_RETURN_IF_ERROR(r.read(&version_));
  if (version_ != 2 && version_ != 3)
    return Status::Error(path_ + ": unsupported GGUF version " + std::to_string(version_));
  uint64_t n_tensors = 0, n_kv = 0;
  QS_RETURN_IF_ERROR(r.read(&n_tensors));
  QS_RETURN_IF_ERROR(r.read(&n_kv));
  // A kv takes >= 13 bytes, a tensor info >= 28: bound the counts by the file size.
  if (n_kv > size / 13 || n_tensors > size / 28)
    return Status::Error(path_ + ": tensor/metadata counts exceed the file size");
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key;
    QS_RETURN_IF_ERROR(r.read_string(&key));
    GgufValue v;
    QS_RETURN_IF_ERROR(read_value(r, size - r.pos(), &v));
    if (!kv_.emplace(key, std::move(v)).second)
      return Status::Error(path_ + ": duplicate metadata key '" + key + "'");
  }
  if (const GgufValue* a = get("general.alignment")) {
    if (a->type != GgufType::kU32 || a->u == 0 || (a->u & (a->u - 1)) != 0)
      return Status::Error(path_ + ": general.alignment must be a power of two u32");
    alignment_ = static_cast<size_t>(a->u);
  }
  tensors_.resize(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor& t = tensors_[i];
    QS_RETURN_IF_ERROR(r.read_string(&t.name));
    uint32_t n_dims = 0, type = 0;
    QS_RETURN_IF_ERROR(r.read(&n_dims));
    if (n_dims == 0 || n_dims > 4)
      return Status::Error(path_ + ": tensor '" + t.name + "' has " + std::to_string(n_dims) +
                           " dimensions");
    t.ne.resize(n_dims);
    for (auto& d : t.ne) QS_RETURN_IF_ERROR(r.read(&d));
    QS_RETURN_IF_ERROR(r.read(&type));
    QS_RETURN_IF_ERROR(r.read(&t.offset));
    t.type = static_cast<GgmlType>(type);
    if (!index_.emplace(t.name, i).second)
      return Status::Error(path_ + ": duplicate tensor '" + t.name + "'");
  }
  const size_t data_start = (r.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (data_start > size) return Status::Error(path_ + ": truncated before the data section");
  const uint64_t data_size = size - data_start;
  for (GgufTensor& t : tensors_) {
    size_t be = 0, bb = 0;
    const std::string where = path_ + ": tensor '" + t.name + "'";
    if (!ggml_type_block(t.type, &be, &bb))
      return Status::Error(where + " has unsupported ggml type " +
                           std::to_string(static_cast<uint32_t>(t.type)) +
                           unsupported_type_label(static_cast<uint32_t>(t.type)));
    uint64_t rows = 1;
    for (size_t d = 0; d < t.ne.size(); ++d) {
      if (t.ne[d] == 0 || t.ne[d] > (uint64_t{1} << 40))
        return Status::Error(where + " has dimension " + std::to_string(t.ne[d]));
      if (d > 0) {
        if (rows > std::numeric_limits<uint64_t>::max() / t.ne[d])
          return Status::Error(where + ": size overflows");
        rows *= t.ne[d];
      }
    }
    if (t.ne[0] % be != 0)
      return Status::Error(where + ": row length " + std::to_string(t.ne[0]) +
                           " is not a multiple of the " + ggml_type_name(t.type) + " block size " +
                           std::to_string(be));
    const uint64_t row_bytes = t.ne[0] / be * bb;
    if (rows > data_size / row_bytes + 1 || row_bytes * rows > data_size)
      return Status::Error(where + " is larger than the data section");
    t.nbytes = static_cast<size_t>(row_bytes * rows);
    if (t.offset % alignment_ != 0)
      return Status::Error(where + ": offset " + std::to_string(t.offset) + " is not aligned to " +
                           std::to_string(alignment_));
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      return Status::Error(where + " extends past the end of the file");
    t.data = base + data_start + t.offset;
  }
  return Status::Ok();
}

const GgufTensor* GgufFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const GgufValue* GgufFile::get(std::string_view key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = get(key);
  if (!v || v->type == GgufType::kString || v->type == GgufType::kArray ||
      v->type == GgufType::kF32 || v->type == GgufType::kF64)
    return std::nullopt;
  return v->i;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = get(key);
  if (!v || v->type == GgufType::kString || v->type == GgufType::kArray) return std::nullopt;
  return v->f;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = get(key);
  if (!v || v->type != GgufType::kString) return std::nullopt;
  return v->str;
}

// ---- writer ----

namespace {
template <typename T>
void put(std::vector<uint8_t>* b, T v) {
  const size_t n = b->size();
  b->resize(n + sizeof(T));
  std::memcpy(b->data() + n, &v, sizeof(T));
}
void put_str(std::vector<uint8_t>* b, const std::string& s) {
  put<uint64_t>(b, s.size());
  b->insert(b->end(), s.begin(), s.end());
}
}  // namespace

void GgufWriter::add_u32(const std::string& key, uint32_t v) {
  put_str(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, static_cast<uint32_t>(GgufType::kU32));
  put(&kv_bytes_, v);
  ++kv_count_;
}
void GgufWriter::add_i32(const std::string& key, int32_t v) {
  put_str(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, static_cast<uint32_t>(GgufType::kI32));
  put(&kv_bytes_, v);
  ++kv_count_;
}
void GgufWriter::add_f32(const std::string& key, float v) {
  put_str(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, static_cast<uint32_t>(GgufType::kF32));
  put(&kv_bytes_, v);
  ++kv_count_;
}
void GgufWriter::add_bool(const std::string& key, bool v) {
  put_str(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, static_cast<uint32_t>(GgufType::kBool));
  put<uint8_t>(&kv_bytes_, v ? 1 : 0);
  ++kv_count_;
}
void GgufWriter::add_string(const std::string& key, const std::string& v) {
  put_str(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, static_cast<uint32_t>(GgufType::kString));
  put_str(&kv_bytes_, v);
  ++kv_count_;
}
void GgufWriter::add_strings(const std::string& key, const std::vector<std::string>& v) {
  put_str(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, static_cast<uint32_t>(GgufType::kArray));
  put<uint32_t>(&kv_bytes_, static_cast<uint32_t>(GgufType::kString));
  put<uint64_t>(&kv_bytes_, v.size());
  for (const auto& s : v) put_str(&kv_bytes_, s);
  ++kv_count_;
}
void GgufWriter::add_i32s(const std::string& key, const std::vector<int32_t>& v) {
  put_str(&kv_bytes_, key);
  put<uint32_t>(&kv_bytes_, static_cast<uint32_t>(GgufType::kArray));
  put<uint32_t>(&kv_bytes_, static_cast<uint32_t>(GgufType::kI32));
  put<uint64_t>(&kv_bytes_, v.size());
  for (int32_t x : v) put(&kv_bytes_, x);
  ++kv_count_;
}

Status GgufWriter::add_tensor(const std::string& name, const std::vector<uint64_t>& ne,
                              GgmlType type, std::vector<uint8_t> bytes) {
  size_t be = 0, bb = 0;
  if (!ggml_type_block(type, &be, &bb)) return Status::Error("gguf writer: unsupported type");
  if (ne.empty() || ne.size() > 4 || ne[0] % be != 0)
    return Status::Error("gguf writer: bad shape for '" + name + "'");
  uint64_t rows = 1;
  for (size_t d = 1; d < ne.size(); ++d) rows *= ne[d];
  if (bytes.size() != ne[0] / be * bb * rows)
    return Status::Error("gguf writer: '" + name + "' has " + std::to_string(bytes.size()) +
                         " bytes, its shape needs " + std::to_string(ne[0] / be * bb * rows));
  tensors_.push_back(T{name, ne, type, std::move(bytes)});
  return Status::Ok();
}

std::vector<uint8_t> GgufWriter::serialize() const {
  constexpr size_t kAlign = 32;
  std::vector<uint8_t> out;
  put<uint32_t>(&out, 0x46554747u);
  put<uint32_t>(&out, 3);
  put<uint64_t>(&out, tensors_.size());
  put<uint64_t>(&out, kv_count_);
  out.insert(out.end(), kv_bytes_.begin(), kv_bytes_.end());
  uint64_t off = 0;
  for (const T& t : tensors_) {
    put_str(&out, t.name);
    put<uint32_t>(&out, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) put(&out, d);
    put<uint32_t>(&out, static_cast<uint32_t>(t.type));
    put<uint64_t>(&out, off);
    off += (t.bytes.size() + kAlign - 1) / kAlign * kAlign;
  }
  out.resize((out.size() + kAlign - 1) / kAlign * kAlign, 0);
  for (const T& t : tensors_) {
    out.insert(out.end(), t.bytes.begin(), t.bytes.end());
    out.resize((out.size() + kAlign - 1) / kAlign * kAlign, 0);
  }
  return out;
}

Status GgufWriter::write(const std::string& path) const {
  std::vector<uint8_t> bytes = serialize();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Status::Error(path + ": cannot open for writing");
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) return Status::Error(path + ": write failed");
  return Status::Ok();
}

}  // namespace qs
