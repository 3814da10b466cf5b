// GGUF (llama.cpp's model file, versions 2 and 3): a zero-copy reader that
// treats the file as hostile, and a writer.
//
// Layout (little-endian): "GGUF" u32 version, u64 tensor_count, u64 kv_count;
// kv_count x {string key, u32 type, value}; tensor_count x {string name,
// u32 n_dims, u64 ne[n_dims] (innermost first: a weight [n][k] has ne = {k, n}),
// u32 ggml_type, u64 offset}; padding to `general.alignment` (default 32); the
// data section, each tensor at data_start + offset (a multiple of the alignment).
// string = u64 length + bytes (no NUL). Arrays: u32 element type, u64 count, elements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"

namespace qs {

enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// ggml tensor types this project reads or writes (values are ggml's).
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kIQ4_NL = 20,
  kBF16 = 30,
};
const char* ggml_type_name(GgmlType t);  // "Q8_0", ...; "?" if unknown
// Elements per block and bytes per block; false for types not listed above.
bool ggml_type_block(GgmlType t, size_t* block_elems, size_t* block_bytes);

// One metadata value. Scalars: integers in i (and u for unsigned), floats in
// f, bool in i, string in str. Arrays: elem = element type; strings in strs,
// numbers in nums (as double) — arrays of arrays are rejected.
struct GgufValue {
  GgufType type = GgufType::kU8;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string str;
  GgufType elem = GgufType::kU8;
  std::vector<std::string> strs;
  std::vector<double> nums;
};

struct GgufTensor {
  std::string name;
  std::vector<uint64_t> ne;  // innermost first
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;  // within the data section
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  uint64_t numel() const;
};

class GgufFile {
 public:
  static Result<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses bytes in memory (tests); `data` must outlive the result.
  static Result<std::unique_ptr<GgufFile>> FromMemory(const uint8_t* data, size_t size,
                                                      const std::string& name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find(std::string_view name) const;
  const std::map<std::string, GgufValue, std::less<>>& metadata() const { return kv_; }
  const GgufValue* get(std::string_view key) const;
  // Typed lookups: nullopt if absent or of another kind (any integer type for
  // get_int, any number for get_float).
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  // See MappedFile::drop_resident_pages (no-op for FromMemory).
  void drop_resident_pages() const {
    if (file_) file_->drop_resident_pages();
  }

 private:
  GgufFile() = default;
  Status Parse(const uint8_t* base, size_t size);

  std::string path_;
  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, GgufValue, std::less<>> kv_;
};

// Builds a GGUF file in memory, then writes it (version 3, alignment 32).
class GgufWriter {
 public:
  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_f32(const std::string& key, float v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, const std::string& v);
  void add_strings(const std::string& key, const std::vector<std::string>& v);
  void add_i32s(const std::string& key, const std::vector<int32_t>& v);
  // ne innermost first; `bytes` must be the exact size for (ne, type).
  Status add_tensor(const std::string& name, const std::vector<uint64_t>& ne, GgmlType type,
                    std::vector<uint8_t> bytes);
  Status write(const std::string& path) const;
  std::vector<uint8_t> serialize() const;

 private:
  std::vector<uint8_t> kv_bytes_;
  uint64_t kv_count_ = 0;
  struct T {
    std::string name;
    std::vector<uint64_t> ne;
    GgmlType type;
    std::vector<uint8_t> bytes;
  };
  std::vector<T> tensors_;
};

}  // namespace qs
