// Zero-copy safetensors reader. The file is mmapped and treated as hostile:
// every header field is checked, and the tensors must tile the data section
// exactly (sorted by offset: no overlap, no hole, no trailing bytes), as the
// reference Rust implementation requires.
//
// Layout: [u64 LE header length N][N bytes JSON header][data section]
// header: {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}, ...,
//          "__metadata__": {str: str}}; offsets are relative to the data section.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "core/status.h"

namespace qs {

// A tensor inside a mapped file. `data` points into the mapping and lives as
// long as the SafetensorsFile/TensorStore; it is NOT necessarily aligned to the
// element size (the header length is only padded to 8 by convention).
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;      // [nbytes]
  size_t nbytes = 0;                  // == numel() * dtype_size(dtype), checked on open
  const std::string* file = nullptr;  // path of the file it came from, for messages
  int64_t numel() const;
};

// "[896, 64]"
std::string shape_to_string(const std::vector<int64_t>& shape);

class SafetensorsFile {
 public:
  // Largest accepted JSON header (the Rust library's limit).
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  static Result<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  // Parses bytes already in memory (tests, fuzzing); `data` must outlive the
  // result. `name` stands for the path in messages.
  static Result<std::unique_ptr<SafetensorsFile>> FromMemory(const uint8_t* data, size_t size,
                                                             const std::string& name);

  const std::string& path() const { return path_; }
  // Sorted by name.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // See MappedFile::drop_resident_pages (no-op for FromMemory).
  void drop_resident_pages() const {
    if (file_) file_->drop_resident_pages();
  }

 private:
  SafetensorsFile() = default;
  Status Parse(const uint8_t* base, uint64_t size);

  std::string path_;
  std::unique_ptr<MappedFile> file_;  // null for FromMemory
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// All tensors of a model directory: either one "model.safetensors", or
// "model.safetensors.index.json" ({"weight_map": {tensor: shard file}}) and its
// shards. The index must agree with the shards exactly: every listed tensor is
// in its shard, every shard tensor is listed, no tensor is in two shards, and a
// shard name is a plain file name inside the directory.
class TensorStore {
 public:
  static Result<std::unique_ptr<TensorStore>> OpenDir(const std::string& dir);

  const TensorView* find(std::string_view name) const;
  std::vector<std::string> names() const;  // sorted
  const std::vector<std::unique_ptr<SafetensorsFile>>& shards() const { return shards_; }
  void drop_resident_pages() const {
    for (const auto& s : shards_) s->drop_resident_pages();
  }

 private:
  TensorStore() = default;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, const TensorView*, std::less<>> by_name_;
};

}  // namespace qs
