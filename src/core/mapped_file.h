// A read-only memory-mapped file. Weights are used in place (zero copy);
// pages come from the page cache on first touch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace qs {

class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Drops this process's resident pages of the mapping (madvise DONTNEED):
  // for weights that were all copied or repacked at load, so they stop
  // counting in RSS. The data stays readable (pages fault back in from the
  // page cache).
  void drop_resident_pages() const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole (small) file into a string, e.g. config.json.
Result<std::string> read_text_file(const std::string& path);

}  // namespace qs
